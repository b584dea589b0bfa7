import { dmMembers } from "@parley/protocol";
import { Fragment, useEffect, useLayoutEffect, useRef, useState } from "react";
import type { ChatClient } from "../client/chat-client.js";
import type { ChatItem, Delivery, RoomSnapshot } from "../client/room.js";
import { roomLabel } from "./App.js";
import { Composer } from "./Composer.js";
import { timeline } from "./timeline.js";

const DELIVERY_LABEL: Record<Delivery, string> = {
  sending: "Sending…",
  acked: "Sent",
  persisted: "Saved",
  failed: "Not sent",
};

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

export function RoomView({
  client,
  room,
  me,
  onOpenDirect,
}: {
  client: ChatClient;
  room: RoomSnapshot;
  me: string;
  onOpenDirect: (room: string) => void;
}) {
  const label = roomLabel(room.name, me);
  const direct = dmMembers(room.name) !== undefined;
  return (
    <section className="room" aria-labelledby="room-title">
      <header className="room-header">
        <h2 id="room-title">{label}</h2>
        {!room.joined ? <span className="muted small">joining…</span> : null}
        {direct ? (
          <span className="muted small">direct conversation</span>
        ) : room.memberCount !== undefined || room.members.length > 0 ? (
          <details className="members">
            <summary>
              {room.memberCount ?? room.members.length} here<span className="visually-hidden"> — show who</span>
            </summary>
            <ul aria-label="People here">
              {room.members.map((member) => (
                <li key={member}>
                  {member === me ? (
                    <span>{member} (you)</span>
                  ) : (
                    <button
                      type="button"
                      className="link-button"
                      onClick={() => {
                        const result = client.openDirect(member);
                        if ("room" in result) onOpenDirect(result.room);
                      }}
                    >
                      {member}
                    </button>
                  )}
                </li>
              ))}
              {room.members.length === 0 ? <li className="muted">Nobody listed yet.</li> : null}
            </ul>
          </details>
        ) : null}
      </header>
      <MessageList client={client} room={room} />
      <TypingLine users={room.typing} />
      <Composer client={client} room={room.name} label={direct ? `Message ${label}` : `Message ${label}`} />
    </section>
  );
}

function MessageList({ client, room }: { client: ChatClient; room: RoomSnapshot }) {
  const list = useRef<HTMLOListElement>(null);
  const stickToBottom = useRef(true);
  /** Newer messages arrived while the reader was scrolled up. */
  const [newBelow, setNewBelow] = useState(false);
  const anchor = useRef<{ key: string; height: number; top: number } | undefined>(undefined);
  const first = room.items[0]?.key;
  const last = room.items.at(-1);

  // Older messages were prepended: keep what the reader was looking at in place.
  useLayoutEffect(() => {
    const element = list.current;
    const saved = anchor.current;
    if (!element || !saved || saved.key === first) return;
    element.scrollTop = saved.top + (element.scrollHeight - saved.height);
    anchor.current = undefined;
  }, [first]);

  // New messages at the bottom: follow them if the reader was at the bottom, or if they are our own; otherwise offer
  // a button down to them. (Delivery updates of the last message are not new messages.)
  const lastKey = last?.key;
  const lastIsOwn = last?.own === true;
  const shownLastKey = useRef<string | undefined>(undefined);
  useLayoutEffect(() => {
    const element = list.current;
    if (!element || lastKey === shownLastKey.current) return;
    shownLastKey.current = lastKey;
    if (stickToBottom.current || lastIsOwn) element.scrollTop = element.scrollHeight;
    else setNewBelow(true);
  }, [lastKey, lastIsOwn]);

  const toNewest = () => {
    const element = list.current;
    if (element) element.scrollTop = element.scrollHeight;
    setNewBelow(false);
  };

  const loadOlder = () => {
    const element = list.current;
    if (!element || !room.hasOlder || room.loadingOlder) return;
    anchor.current = { key: first ?? "", height: element.scrollHeight, top: element.scrollTop };
    void client.loadOlder(room.name);
  };

  // A short room may not scroll at all: fetch until it does or there is nothing older.
  useEffect(() => {
    const element = list.current;
    if (element && room.hasOlder && !room.loadingOlder && element.scrollHeight <= element.clientHeight) loadOlder();
  });

  const onScroll = () => {
    const element = list.current;
    if (!element) return;
    stickToBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < 48;
    if (stickToBottom.current) setNewBelow(false);
    if (element.scrollTop < 120) loadOlder();
  };

  return (
    <div className="log-frame">
      <ol
        className="log"
        ref={list}
        onScroll={onScroll}
        aria-label="Messages"
        aria-live="polite"
        aria-relevant="additions"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: the scrollable log must be reachable by keyboard to scroll it
        tabIndex={0}
      >
        <li className="log-top">
          {room.hasOlder ? (
            <button type="button" className="text-button" onClick={loadOlder} disabled={room.loadingOlder}>
              {room.loadingOlder ? "Loading older messages…" : "Load older messages"}
            </button>
          ) : room.items.length > 0 ? (
            <span className="muted small">Beginning of the conversation</span>
          ) : room.loading ? (
            <span className="muted small">Loading messages…</span>
          ) : (
            <span className="muted small">No messages yet. Say hello!</span>
          )}
          {room.historyError ? (
            <span className="field-error" role="alert">
              {room.historyError}
            </span>
          ) : null}
        </li>
        {timeline(room.items).map(({ item, newDay, grouped, timed }) => (
          <Fragment key={item.key}>
            {newDay ? (
              <li className="day" aria-hidden="true">
                <span>{dayFormat.format(item.ts)}</span>
              </li>
            ) : null}
            <Message item={item} grouped={grouped} timed={timed} onRetry={() => client.retry(room.name, item.cid)} />
          </Fragment>
        ))}
      </ol>
      {newBelow ? (
        <button type="button" className="new-below" onClick={toNewest}>
          New messages <span aria-hidden="true">↓</span>
        </button>
      ) : null}
    </div>
  );
}

/**
 * One message. A grouped one (same sender, same day as the one before) drops the name; it shows its time where the
 * minute changes, and otherwise on hover or focus (a tap focuses it), beside the bubble.
 */
function Message({
  item,
  grouped,
  timed,
  onRetry,
}: {
  item: ChatItem;
  grouped: boolean;
  timed: boolean;
  onRetry: () => void;
}) {
  const time = new Date(item.ts);
  return (
    <li
      className={`message${item.own ? " own" : ""}${grouped ? " grouped" : ""}${timed ? " timed" : ""}`}
      data-seq={item.seq}
      data-cid={item.cid}
      data-delivery={item.delivery}
      tabIndex={-1}
    >
      <div className="meta">
        {grouped ? null : <span className="from">{item.own ? "You" : item.from}</span>}
        <time dateTime={time.toISOString()} title={fullFormat.format(time)}>
          {timeFormat.format(time)}
        </time>
      </div>
      {/* Text only: React escapes it, so a body like <img onerror=…> is shown, never interpreted. */}
      <p className="body">{item.body}</p>
      {item.delivery ? (
        <p className={`delivery delivery-${item.delivery}`}>
          <span className="delivery-label">{DELIVERY_LABEL[item.delivery]}</span>
          {item.error ? <span className="delivery-error"> — {item.error}</span> : null}
          {item.delivery === "failed" ? (
            <button type="button" className="text-button retry-button" onClick={onRetry}>
              Retry
            </button>
          ) : null}
        </p>
      ) : null}
    </li>
  );
}

function TypingLine({ users }: { users: readonly string[] }) {
  let text = "";
  if (users.length === 1) text = `${users[0]} is typing…`;
  else if (users.length === 2) text = `${users[0]} and ${users[1]} are typing…`;
  else if (users.length > 2) text = "Several people are typing…";
  return (
    <p className="typing" aria-live="polite">
      {text}
    </p>
  );
}
