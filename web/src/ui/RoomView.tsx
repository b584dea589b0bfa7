import { dmMembers } from "@parley/protocol";
import { Fragment, useCallback, useEffect, useId, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { ChatClient } from "../client/chat-client.js";
import { excerpt, type RoomSnapshot } from "../client/room.js";
import { roomLabel } from "./App.js";
import { Composer, type ReplyTarget } from "./Composer.js";
import { Message, type MessageControls } from "./Message.js";
import { type MenuFocus, MessageMenu } from "./MessageMenu.js";
import { timeline } from "./timeline.js";

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });

export function RoomView({
  client,
  room,
  me,
  admin,
  onOpenDirect,
  found,
}: {
  client: ChatClient;
  room: RoomSnapshot;
  me: string;
  /** We may delete anyone's messages. */
  admin: boolean;
  onOpenDirect: (room: string) => void;
  /** The message a search led to (`key` changes each time a hit is chosen): scrolled to and marked. */
  found?: FoundMessage | undefined;
}) {
  const label = roomLabel(room.name, me);
  const direct = dmMembers(room.name) !== undefined;
  const [replyTo, setReplyTo] = useState<number | undefined>();
  const answered = replyTo === undefined ? undefined : room.items.find((item) => item.seq === replyTo);
  const reply: ReplyTarget | undefined =
    replyTo === undefined || answered === undefined
      ? undefined
      : {
          seq: replyTo,
          to: answered.own ? "yourself" : answered.from,
          excerpt: answered.deleted ? "deleted message" : excerpt(answered.body),
        };
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
      <MessageList client={client} room={room} me={me} admin={admin} onReply={setReplyTo} found={found} />
      <TypingLine users={room.typing} />
      <Composer
        client={client}
        room={room.name}
        label={`Message ${label}`}
        replyTo={reply}
        onCancelReply={() => setReplyTo(undefined)}
      />
    </section>
  );
}

/** A message to show: `key` tells one choice of it from the next. */
export interface FoundMessage {
  readonly seq: number;
  readonly key: number;
}

/** Most history pages fetched to reach a found message that is not loaded yet. */
const MAX_PAGES_TO_FOUND = 20;

/** The menu that is open: which message, the button it hangs from, where the focus starts. */
interface OpenMenu {
  readonly seq: number;
  readonly anchor: HTMLButtonElement;
  readonly focus: MenuFocus;
}

function MessageList({
  client,
  room,
  me,
  admin,
  onReply,
  found,
}: {
  client: ChatClient;
  room: RoomSnapshot;
  me: string;
  admin: boolean;
  onReply: (seq: number) => void;
  found: FoundMessage | undefined;
}) {
  const list = useRef<HTMLOListElement>(null);
  const menuId = useId();
  const [menu, setMenu] = useState<OpenMenu | undefined>();
  const [editing, setEditing] = useState<number | undefined>();
  const [confirming, setConfirming] = useState<number | undefined>();
  /** Where the focus goes once the next render is on screen: a message's actions button, or the message itself. */
  const focusNext = useRef<number | undefined>(undefined);

  useLayoutEffect(() => {
    const seq = focusNext.current;
    if (seq === undefined) return;
    focusNext.current = undefined;
    const message = list.current?.querySelector<HTMLElement>(`.message[data-seq="${seq}"]`);
    (message?.querySelector<HTMLElement>(".message-actions") ?? message)?.focus();
  });

  const closeMenu = useCallback((refocus: boolean) => {
    setMenu((open) => {
      if (open && refocus) focusNext.current = open.seq;
      return undefined;
    });
  }, []);

  const controls = useMemo<MessageControls>(() => {
    const back = (seq: number) => {
      focusNext.current = seq;
    };
    return {
      toggleMenu: (seq, anchor, focus) => setMenu((open) => (open?.seq === seq ? undefined : { seq, anchor, focus })),
      showMessage: (seq) => {
        const message = list.current?.querySelector<HTMLElement>(`.message[data-seq="${seq}"]`);
        message?.scrollIntoView({ block: "center" });
        message?.focus({ preventScroll: true });
      },
      toggleReaction: (seq, emoji) => {
        client.toggleReaction(room.name, seq, emoji);
      },
      saveEdit: (seq, body) => {
        const result = client.edit(room.name, seq, body);
        if (!result.ok) return result.reason;
        setEditing(undefined);
        back(seq);
        return undefined;
      },
      endEdit: (seq) => {
        setEditing(undefined);
        back(seq);
      },
      confirmDelete: (seq) => {
        setConfirming(undefined);
        client.deleteMessage(room.name, seq);
        back(seq);
      },
      endDelete: (seq) => {
        setConfirming(undefined);
        back(seq);
      },
      retry: (cid) => client.retry(room.name, cid),
      dismiss: (cid) => client.dismiss(room.name, cid),
      fileUrl: (id) => client.fileUrl(room.name, id),
    };
  }, [client, room.name]);

  const menuItem = menu === undefined ? undefined : room.items.find((item) => item.seq === menu.seq);
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

  // A search hit: scroll to it once it is loaded, paging back through history towards it until it is.
  const reached = useRef<{ key: number; pages: number; shown: boolean } | undefined>(undefined);
  useEffect(() => {
    if (found === undefined) return;
    if (reached.current?.key !== found.key) reached.current = { key: found.key, pages: 0, shown: false };
    const progress = reached.current;
    const message = list.current?.querySelector<HTMLElement>(`.message[data-seq="${found.seq}"]`);
    if (message) {
      if (progress.shown) return;
      progress.shown = true;
      message.scrollIntoView({ block: "center" });
      message.focus({ preventScroll: true });
      return;
    }
    const oldest = room.items.find((item) => item.seq !== undefined)?.seq;
    if (oldest === undefined || oldest <= found.seq || progress.pages >= MAX_PAGES_TO_FOUND) return;
    if (room.hasOlder && !room.loadingOlder) {
      progress.pages++;
      loadOlder();
    }
  });

  // Looking at the newest messages while the page is visible reads the room (here, on our other devices, and for
  // the other person in a DM). Scrolled up to older ones, it is not read yet.
  const roomName = room.name;
  const read = useCallback(() => {
    if (document.visibilityState === "visible" && stickToBottom.current) client.markRead(roomName);
  }, [client, roomName]);
  const newest = last?.seq;
  useEffect(() => {
    if (newest === undefined) return;
    read();
    document.addEventListener("visibilitychange", read);
    return () => document.removeEventListener("visibilitychange", read);
  }, [read, newest]);

  const onScroll = () => {
    const element = list.current;
    if (!element) return;
    stickToBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < 48;
    if (stickToBottom.current) {
      setNewBelow(false);
      read();
    }
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
            <Message
              item={item}
              me={me}
              grouped={grouped}
              timed={timed}
              menuId={menuId}
              menuOpen={menu !== undefined && menu.seq === item.seq}
              editing={editing !== undefined && editing === item.seq}
              confirmingDelete={confirming !== undefined && confirming === item.seq}
              controls={controls}
              found={found !== undefined && found.seq === item.seq}
            />
          </Fragment>
        ))}
      </ol>
      {menu && menuItem && !menuItem.deleted ? (
        <MessageMenu
          key={menu.seq}
          id={menuId}
          item={menuItem}
          mayDelete={menuItem.own || admin}
          anchor={menu.anchor}
          focus={menu.focus}
          onClose={closeMenu}
          onReact={(emoji) => {
            client.toggleReaction(room.name, menu.seq, emoji);
            closeMenu(true);
          }}
          onReply={() => {
            setMenu(undefined);
            onReply(menu.seq);
          }}
          onEdit={() => {
            setMenu(undefined);
            setConfirming(undefined);
            setEditing(menu.seq);
          }}
          onDelete={() => {
            setMenu(undefined);
            setEditing(undefined);
            setConfirming(menu.seq);
          }}
        />
      ) : null}
      {newBelow ? (
        <button type="button" className="new-below" onClick={toNewest}>
          New messages <span aria-hidden="true">↓</span>
        </button>
      ) : null}
    </div>
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
