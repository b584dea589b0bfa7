/**
 * What the load generator needs to know about one system's wire protocol: how a client connects, joins its room,
 * sends a stamped message, and how to read what comes back. One implementation per system under test (Parley's v1
 * core, which the bare uWS reference speaks too; Socket.IO's Engine.IO v4 framing; Centrifugo's JSON protocol).
 * Reading runs once per received frame in the load generator, so implementations find fields with `indexOf`
 * rather than `JSON.parse` where they can: the generator's own CPU per frame is part of what the benchmark reports.
 */
export interface Protocol {
  readonly name: string;
  /** The WebSocket URL one client connects to; `target` is the server's base `ws://host:port`. */
  url(target: string, user: string): string;
  /** Frames to send once the socket is open (a handshake, or the room's join). */
  opened(room: string, user: string): readonly string[];
  /**
   * The frame that sends one message: `cid` is unique per send of this client (acks name it), `stamp` the send time
   * in ms since the epoch (fractional), which every receiver reads back to measure delivery latency.
   */
  send(room: string, cid: string, stamp: number): string;
  /** Reads one received frame (some protocols batch several events in one) and reports each event to `events`. */
  read(frame: string, events: ProtocolEvents): void;
}

export interface ProtocolEvents {
  /** The connection's room, for a join that must wait for the server's handshake (Socket.IO's namespace connect). */
  readonly room: string;
  /** The client may send now: it is joined to its room. */
  joined(): void;
  /** A message of the room arrived carrying the sender's `stamp`. */
  message(stamp: number): void;
  /** The server acknowledged the send named `cid`. */
  ack(cid: string): void;
  /** The server answered with an error (counted, never retried). */
  error(detail: string): void;
  /** A frame to send back at once (a pong, a join after a handshake). */
  reply(frame: string): void;
}
