import { createHmac } from "node:crypto";
import type { Protocol, ProtocolEvents } from "./protocol.js";

/**
 * The channel namespace the load generator's rooms live in: room `r` is channel `chat:r`. `startCentrifugo`
 * configures this namespace (history, recovery, client publish), so every room gets those options.
 */
export const CENTRIFUGO_NAMESPACE = "chat";

/**
 * The HMAC key of the connection tokens, written into the nodes' config by `startCentrifugo`. A fixed value because
 * the nodes listen on loopback only and the benchmark's cluster interface carries no secret; it guards nothing.
 */
export const CENTRIFUGO_TOKEN_SECRET = "parley-loadtest-centrifugo-hs256-not-a-secret";

// Command ids of the handshake. Publish ids are the cids, so they may repeat these: replies are told apart by
// their kind (`connect`, `subscribe`, `publish`), never by id.
const CONNECT_ID = 1;
const SUBSCRIBE_ID = 2;
/** A subscribe sent again after the server unsubscribed the connection; its reply is not a second join. */
const RESUBSCRIBE_ID = 3;
/** Unsubscribe codes from this one up mean "subscribe again" (centrifuge-js does); below it, "stay out". */
const RESUBSCRIBE_CODES = 2500;
const MAX_COMMAND_ID = 0xffff_ffff; // ids are uint32 in Centrifugo's protocol
const JWT_HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

// The lines `read` acts on, as the server's JSON encoder writes them (centrifugal/protocol): a reply's fields in the
// order id, error, push, connect, subscribe, …, publish; a push's channel first; a publication's data first, verbatim
// as the publisher sent it. Lines are told apart by a character or two at fixed places, not by prefixes: V8's
// `startsWith` costs about 5 ns a character, ~100 ns for a push's prefix, a third of reading a whole publication.
const PING = "{}";
/** `{"push":{"channel":"`: the channel starts after it. */
const PUSH_CHANNEL = 20;
/** `,"pub":{"data":{"b":"`, after the channel's closing quote: the stamp starts after it. */
const PUBLICATION_STAMP = 21;
/** `,"unsubscribe":{"code":`, after the channel's closing quote: the code starts after it. */
const UNSUBSCRIBE_CODE = 23;
/** `{"id":`: the id starts after it. */
const REPLY_ID = 6;
const CHAR_P = 0x70;
const CHAR_U = 0x75;
const CHAR_I = 0x69;
const CHAR_E = 0x65;
const CHAR_S = 0x73;
const CHAR_N = 0x6e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** A connection token for `user` (`sub`), HS256 without `exp`: it never expires during a run. */
function connectToken(user: string): string {
  const payload = Buffer.from(JSON.stringify({ sub: user })).toString("base64url");
  const signature = createHmac("sha256", CENTRIFUGO_TOKEN_SECRET)
    .update(`${JWT_HEADER}.${payload}`)
    .digest("base64url");
  return `${JWT_HEADER}.${payload}.${signature}`;
}

function channel(room: string): string {
  return JSON.stringify(`${CENTRIFUGO_NAMESPACE}:${room}`);
}

/**
 * Centrifugo's bidirectional JSON protocol (client protocol v2) over WebSocket, against the nodes that
 * `startCentrifugo` runs.
 *
 * - `opened` sends `connect` (a JWT for the user) and `subscribe` in one frame: a node handles a connection's
 *   commands in order, so the subscribe is read after the connect succeeded, and the room's join costs no extra
 *   round trip, as with Parley's join. The subscribe reply is `joined`, a refused subscribe `error`; a refused token
 *   closes the socket (code 3500) without a reply.
 * - `send` is a `publish` whose command id is the cid, since Centrifugo's publish reply carries nothing but the id:
 *   **cids must be decimal integers from 1 to 4294967295, unique per connection** (a counter from 1 is), and `send`
 *   throws on any other. The publish reply is `ack(cid)`.
 * - A publication push carries the stamp in its data (`{"b":"<stamp>"}`) and is `message`. An unsubscribe push with
 *   a code from 2500 up (e.g. 2500 "insufficient state", when the node saw a gap in the channel's stream) is answered
 *   with a new subscribe, as centrifuge-js does, so the connection goes on publishing. Other pushes (joins and
 *   leaves of the room) are skipped.
 * - The server's ping is an empty object and must be answered with one (`reply("{}")`) within its pong timeout.
 *
 * The server may batch several replies and pushes in one frame, one JSON object per line.
 */
export const centrifugo: Protocol = {
  name: "centrifugo",

  url(target: string): string {
    return `${target}/connection/websocket`;
  },

  opened(room: string, user: string): readonly string[] {
    const connect = JSON.stringify({ id: CONNECT_ID, connect: { token: connectToken(user) } });
    return [`${connect}\n{"id":${SUBSCRIBE_ID},"subscribe":{"channel":${channel(room)}}}`];
  },

  send(room: string, cid: string, stamp: number): string {
    const id = Number(cid);
    if (!Number.isInteger(id) || id < 1 || id > MAX_COMMAND_ID || String(id) !== cid) {
      throw new Error(`centrifugo: cid ${JSON.stringify(cid)} is not a command id (a decimal from 1 to 4294967295)`);
    }
    return `{"id":${cid},"publish":{"channel":${channel(room)},"data":{"b":"${stamp}"}}}`;
  },

  read(frame: string, events: ProtocolEvents): void {
    let start = 0;
    while (start < frame.length) {
      let end = frame.indexOf("\n", start);
      if (end === -1) end = frame.length;
      readLine(frame, start, end, events);
      start = end + 1;
    }
  },
};

/**
 * Acts on the line `frame[start, end)`: one reply or push. Its second key's first letter says which: `{"push"`,
 * `{"id"` or the ping `{}`; after a push's channel `"pub"` or `"unsubscribe"` (the others are joins and leaves);
 * after a reply's id `"publish"`, `"subscribe"` (the first one is the join) or `"error"` (the one `"connect"` needs
 * nothing, as the subscribe is on its way). The
 * publications are the generator's own, so their data is `{"b":"<stamp>"}`.
 */
function readLine(frame: string, start: number, end: number, events: ProtocolEvents): void {
  const kind = frame.charCodeAt(start + 2);
  if (kind === CHAR_P) {
    // Channel names hold no quotes (room names cannot), so the first quote after the channel's start ends it.
    const channelEnd = frame.indexOf('"', start + PUSH_CHANNEL);
    if (channelEnd === -1 || channelEnd + PUBLICATION_STAMP >= end) return;
    const first = frame.charCodeAt(channelEnd + 3);
    const second = frame.charCodeAt(channelEnd + 4);
    if (first === CHAR_P && second === CHAR_U) {
      const stampStart = channelEnd + 1 + PUBLICATION_STAMP;
      events.message(Number(frame.slice(stampStart, frame.indexOf('"', stampStart))));
    } else if (first === CHAR_U && second === CHAR_N) {
      const codeStart = channelEnd + 1 + UNSUBSCRIBE_CODE;
      if (Number.parseInt(frame.slice(codeStart, codeStart + 6), 10) < RESUBSCRIBE_CODES) return;
      const name = frame.slice(start + PUSH_CHANNEL, channelEnd);
      events.reply(`{"id":${RESUBSCRIBE_ID},"subscribe":{"channel":${JSON.stringify(name)}}}`);
    }
  } else if (kind === CHAR_I) {
    const idStart = start + REPLY_ID;
    let idEnd = idStart;
    for (let c = frame.charCodeAt(idEnd); c >= DIGIT_0 && c <= DIGIT_9; c = frame.charCodeAt(++idEnd));
    const reply = frame.charCodeAt(idEnd + 2);
    if (reply === CHAR_P) events.ack(frame.slice(idStart, idEnd));
    else if (reply === CHAR_S && idEnd - idStart === 1 && frame.charCodeAt(idStart) === DIGIT_0 + SUBSCRIBE_ID) {
      events.joined();
    } else if (reply === CHAR_E) events.error(frame.slice(start, end));
  } else if (end - start === PING.length && frame.startsWith(PING, start)) {
    events.reply(PING);
  }
}
