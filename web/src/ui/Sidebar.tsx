import { dmMembers, MAX_UNREAD, type SearchHit } from "@parley/protocol";
import { type FormEvent, useId, useState } from "react";
import type { ChatClient, ClientSnapshot } from "../client/chat-client.js";
import type { RoomSnapshot } from "../client/room.js";
import { roomLabel } from "./App.js";
import { Search } from "./Search.js";

export function Sidebar({
  client,
  snapshot,
  active,
  onSelect,
  onOpenHit,
}: {
  client: ChatClient;
  snapshot: ClientSnapshot;
  active: string | undefined;
  onSelect: (room: string) => void;
  /** A search hit was chosen: show it in its room. */
  onOpenHit: (hit: SearchHit) => void;
}) {
  const rooms = snapshot.rooms.filter((room) => !dmMembers(room.name));
  const directs = snapshot.rooms.filter((room) => dmMembers(room.name));
  return (
    <nav id="sidebar" className="sidebar" aria-label="Conversations">
      <Search client={client} me={snapshot.me} onOpen={onOpenHit} />
      <section aria-labelledby="rooms-heading">
        <h2 id="rooms-heading">Rooms</h2>
        <RoomList rooms={rooms} me={snapshot.me} active={active} client={client} onSelect={onSelect} />
        <OpenForm
          label="Join or create a room"
          placeholder="room name"
          button="Join"
          onOpen={(name) => {
            const problem = client.openRoom(name);
            if (!problem) onSelect(name);
            return problem;
          }}
        />
      </section>
      <section aria-labelledby="dm-heading">
        <h2 id="dm-heading">Direct messages</h2>
        <RoomList rooms={directs} me={snapshot.me} active={active} client={client} onSelect={onSelect} />
        <OpenForm
          label="Message a person"
          placeholder="their name"
          button="Open"
          onOpen={(user) => {
            const result = client.openDirect(user);
            if ("problem" in result) return result.problem;
            onSelect(result.room);
            return undefined;
          }}
        />
      </section>
    </nav>
  );
}

function RoomList({
  rooms,
  me,
  active,
  client,
  onSelect,
}: {
  rooms: readonly RoomSnapshot[];
  me: string;
  active: string | undefined;
  client: ChatClient;
  onSelect: (room: string) => void;
}) {
  if (rooms.length === 0) return <p className="muted small">None yet.</p>;
  return (
    <ul className="room-list">
      {rooms.map((room) => {
        const label = roomLabel(room.name, me);
        const last = dmMembers(room.name) ? lastLine(room, me) : undefined;
        return (
          <li key={room.name} className={room.name === active ? "room-entry active" : "room-entry"}>
            <button
              type="button"
              className="room-button"
              aria-current={room.name === active ? "page" : undefined}
              onClick={() => onSelect(room.name)}
              data-room={room.name}
            >
              <span className="room-text">
                <span className="room-name">{label}</span>
                {last === undefined ? null : (
                  <span className="room-last">
                    <span className="visually-hidden">, last message: </span>
                    {last}
                  </span>
                )}
              </span>
              {room.unread > 0 ? (
                <span className="badge" data-unread={room.unread}>
                  {room.unread >= MAX_UNREAD ? `${MAX_UNREAD}+` : room.unread}
                  <span className="visually-hidden"> unread</span>
                </span>
              ) : null}
            </button>
            <button
              type="button"
              className="leave-button"
              aria-label={`Leave ${label}`}
              title={`Leave ${label}`}
              onClick={() => client.leaveRoom(room.name)}
            >
              <span aria-hidden="true">×</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** The one-line preview of a conversation's newest message, as text: who said it (if we did) and its first line. */
function lastLine({ last }: RoomSnapshot, me: string): string | undefined {
  if (last?.from === undefined) return undefined;
  const text = last.deleted ? "Message deleted" : (last.excerpt ?? "");
  return last.from === me ? `You: ${text}` : text;
}

function OpenForm({
  label,
  placeholder,
  button,
  onOpen,
}: {
  label: string;
  placeholder: string;
  button: string;
  onOpen: (name: string) => string | undefined;
}) {
  const [value, setValue] = useState("");
  const [problem, setProblem] = useState<string | undefined>();
  const id = useId();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const result = onOpen(value.trim());
    setProblem(result);
    if (!result) setValue("");
  };
  return (
    <form className="open-form" onSubmit={submit} noValidate>
      <label htmlFor={`${id}-input`}>{label}</label>
      <div className="inline-field">
        <input
          id={`${id}-input`}
          value={value}
          placeholder={placeholder}
          onChange={(event) => setValue(event.target.value)}
          autoCapitalize="off"
          spellCheck={false}
          maxLength={64}
          aria-invalid={problem !== undefined}
          aria-describedby={problem ? `${id}-error` : undefined}
        />
        <button type="submit" className="secondary-button">
          {button}
        </button>
      </div>
      {problem ? (
        <p id={`${id}-error`} className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
    </form>
  );
}
