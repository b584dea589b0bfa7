import { dmMembers, type SearchHit } from "@parley/protocol";
import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from "react";
import {
  browserSocket,
  ChatClient,
  type ClientSnapshot,
  type ConnectionState,
  type Credentials,
} from "../client/chat-client.js";
import { credentialsFromUrl, loadSession, roomFromUrl, saveSession, urlWithRoom } from "../client/session.js";
import { xhrUpload } from "../client/xhr-upload.js";
import { RoomView } from "./RoomView.js";
import { Sidebar } from "./Sidebar.js";
import { SignIn } from "./SignIn.js";
import { ThemeToggle } from "./ThemeToggle.js";
import { useTheme } from "./theme.js";

/** How a room is called in the UI: `#name`, or the other person's name for a direct conversation. */
export function roomLabel(room: string, me: string): string {
  const members = dmMembers(room);
  if (!members) return `#${room}`;
  return members[0] === me ? members[1] : members[0];
}

function startingSession(): { credentials?: Credentials; problem?: string } {
  const fromUrl = credentialsFromUrl(window.location.href);
  if (fromUrl.cleanUrl !== undefined) window.history.replaceState(null, "", fromUrl.cleanUrl);
  if (fromUrl.credentials) {
    saveSession(localStorage, fromUrl.credentials);
    return { credentials: fromUrl.credentials };
  }
  const saved = loadSession(localStorage);
  return { ...(saved ? { credentials: saved } : {}), ...(fromUrl.problem ? { problem: fromUrl.problem } : {}) };
}

export function App() {
  const [theme, toggleTheme] = useTheme();
  const [start] = useState(startingSession);
  const [credentials, setCredentials] = useState<Credentials | undefined>(start.credentials);
  const signIn = useCallback((next: Credentials) => {
    saveSession(localStorage, next);
    setCredentials(next);
  }, []);
  const signOut = useCallback(() => {
    saveSession(localStorage, undefined);
    setCredentials(undefined);
  }, []);
  if (!credentials) {
    return <SignIn onSignIn={signIn} problem={start.problem} theme={theme} onToggleTheme={toggleTheme} />;
  }
  return (
    <Chat
      key={`${credentials.kind}:${credentials.user}`}
      credentials={credentials}
      onSignOut={signOut}
      theme={theme}
      onToggleTheme={toggleTheme}
    />
  );
}

function Chat({
  credentials,
  onSignOut,
  theme,
  onToggleTheme,
}: {
  credentials: Credentials;
  onSignOut: () => void;
  theme: string;
  onToggleTheme: () => void;
}) {
  // The room the address names (a reload, or a link) is opened before the first render, so it shows at once.
  const [named] = useState(() => roomFromUrl(window.location.href));
  const client = useMemo(() => {
    const created = new ChatClient({
      credentials,
      origin: window.location.origin,
      openSocket: browserSocket,
      fetch: (url, init) => window.fetch(url, init),
      upload: xhrUpload,
      storage: localStorage,
    });
    if (named !== undefined) created.openRoom(named);
    return created;
  }, [credentials, named]);
  useEffect(() => {
    client.start();
    const online = () => client.reconnectNow();
    window.addEventListener("online", online);
    return () => {
      window.removeEventListener("online", online);
      client.stop();
    };
  }, [client]);
  const snapshot = useSyncExternalStore(client.subscribe, client.getSnapshot);
  const [active, setActive] = useState<string | undefined>(named);
  const [menuOpen, setMenuOpen] = useState(false);
  const room = snapshot.rooms.find((candidate) => candidate.name === active) ?? snapshot.rooms[0];

  // The address names the room on screen, so a reload reopens it.
  const roomName = room?.name;
  useEffect(() => {
    if (roomName !== undefined) window.history.replaceState(null, "", urlWithRoom(window.location.href, roomName));
  }, [roomName]);

  const select = useCallback((name: string) => {
    setActive(name);
    setMenuOpen(false);
  }, []);

  // A search hit: open its room (joining it if needed) and point at the message there.
  const [found, setFound] = useState<{ readonly room: string; readonly seq: number; readonly key: number }>();
  const openHit = useCallback(
    (hit: SearchHit) => {
      if (client.openRoom(hit.room) !== undefined) return;
      setFound((previous) => ({ room: hit.room, seq: hit.seq, key: (previous?.key ?? 0) + 1 }));
      select(hit.room);
    },
    [client, select],
  );

  const totalUnread = snapshot.rooms.reduce((sum, candidate) => sum + candidate.unread, 0);
  useEffect(() => {
    document.title = totalUnread > 0 ? `(${totalUnread}) Parley` : "Parley";
  }, [totalUnread]);

  return (
    <div className={`app${menuOpen ? " menu-open" : ""}`}>
      <header className="topbar">
        <button
          type="button"
          className="icon-button menu-button"
          aria-expanded={menuOpen}
          aria-controls="sidebar"
          onClick={() => setMenuOpen((open) => !open)}
        >
          <span aria-hidden="true">☰</span>
          <span className="visually-hidden">Rooms</span>
          {totalUnread > 0 && !menuOpen ? <span className="dot" aria-hidden="true" /> : null}
        </button>
        <h1 className="brand">Parley</h1>
        <ConnectionBadge connection={snapshot.connection} onRetry={() => client.reconnectNow()} />
        <div className="topbar-actions">
          <span className="me" title="Signed in as">
            {snapshot.me}
          </span>
          <ThemeToggle theme={theme} onToggle={onToggleTheme} />
          <button type="button" className="text-button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <Sidebar client={client} snapshot={snapshot} active={room?.name} onSelect={select} onOpenHit={openHit} />
      <main className="main">
        <Notice snapshot={snapshot} />
        {room ? (
          <RoomView
            key={room.name}
            client={client}
            room={room}
            me={snapshot.me}
            admin={snapshot.admin}
            onOpenDirect={select}
            found={found?.room === room.name ? found : undefined}
          />
        ) : (
          <div className="empty-state">
            <p>Join a room or start a direct conversation from the list.</p>
          </div>
        )}
      </main>
    </div>
  );
}

function Notice({ snapshot }: { snapshot: ClientSnapshot }) {
  if (snapshot.connection.status === "refused") {
    return (
      <p className="banner banner-error" role="alert">
        {snapshot.connection.reason} Sign out and sign in again.
      </p>
    );
  }
  if (!snapshot.notice) return null;
  return (
    <p className="banner" role="status">
      {snapshot.notice}
    </p>
  );
}

function ConnectionBadge({ connection, onRetry }: { connection: ConnectionState; onRetry: () => void }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (connection.status !== "waiting") return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [connection]);
  let label: string;
  switch (connection.status) {
    case "online":
      label = "Online";
      break;
    case "connecting":
      label = connection.attempt === 0 ? "Connecting…" : "Reconnecting…";
      break;
    case "waiting": {
      const seconds = Math.max(0, Math.ceil((connection.retryAt - now) / 1000));
      label = `Offline, retrying in ${seconds} s`;
      break;
    }
    case "refused":
      label = "Not signed in";
      break;
    case "closed":
      label = "Disconnected";
      break;
  }
  return (
    <div className="connection" data-status={connection.status}>
      <span className="connection-dot" aria-hidden="true" />
      <span role="status" aria-live="polite" className="connection-label">
        {label}
      </span>
      {connection.status === "waiting" ? (
        <button type="button" className="text-button" onClick={onRetry}>
          Retry now
        </button>
      ) : null}
    </div>
  );
}
