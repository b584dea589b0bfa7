/**
 * The ceiling of the fan-out benchmark: the thinnest uWebSockets.js + Redis fan-out that speaks Parley's wire
 * protocol v1 core (join, send -> msg to every member and ack to the sender), so that a Parley gateway's CPU per
 * delivery can be read against what the same transport costs with nothing else. No auth (the user is the `user`
 * query parameter), no validation beyond finding the fields, no recovery, no presence, no Kafka, no metrics.
 *
 *   REDIS_URL=redis://127.0.0.1:16379 PORT=0 node loadtest/dist/reference-server.js
 *
 * A send costs one Redis round trip: a Lua script INCRs the room's seq and PUBLISHes the finished `msg` frame on
 * the room's channel; the sender gets its `ack` when the script returns. Each process holds one subscriber
 * connection, SUBSCRIBEd to a room's channel on the room's first join there (and never unsubscribed), and hands
 * each frame from Redis to uWS's own topic fan-out (`app.publish`), so it runs as several processes on one Redis.
 */
import uWS from "uWebSockets.js";
import { Redis } from "ioredis";
import { textAfter } from "./loadgen/fields.js";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
/** Keys and channels are `<key>:<room>:seq` and `<key>:<room>`, so servers of different runs never meet. */
const key = process.env.REDIS_KEY ?? "reference";

/** INCR the room's seq and PUBLISH the frame built around it: ARGV = the frame's text before, between and after. */
const SEQUENCE_AND_PUBLISH = `
local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], ARGV[1] .. seq .. ARGV[2] .. seq .. ARGV[3])
return seq`;

const publisher = new Redis(redisUrl, { enableAutoPipelining: true });
// Loaded once: the reference runs against a Redis that stays up for the benchmark (no NOSCRIPT fallback).
const sha = String(await publisher.script("LOAD", SEQUENCE_AND_PUBLISH));
const subscriber = new Redis(redisUrl);
/** Channels this process is subscribed to; a room's channel name is also its uWS topic. */
const subscribed = new Set<string>();

interface Connection {
  /** The user as a JSON string, quotes included, ready for the `from` field. */
  readonly from: string;
  closed: boolean;
}

function join(ws: uWS.WebSocket<Connection>, room: string): void {
  const channel = `${key}:${room}`;
  ws.subscribe(channel);
  if (!subscribed.has(channel)) {
    subscribed.add(channel);
    subscriber.subscribe(channel).catch((error: unknown) => {
      console.error(JSON.stringify({ msg: "subscribe failed", channel, error: String(error) }));
    });
  }
  ws.send(`{"t":"joined","room":"${room}","seq":0}`, false);
}

function send(ws: uWS.WebSocket<Connection>, room: string, cid: string, body: string): void {
  // A closed uWS socket throws on any call, getUserData included: keep the data to check it later.
  const connection = ws.getUserData();
  const channel = `${key}:${room}`;
  const head = `{"t":"msg","room":"${room}","seq":`;
  const tail = `","cid":"${cid}","from":${connection.from},"body":"${body}","ts":${Date.now()}}`;
  publisher.evalsha(sha, 2, `${channel}:seq`, channel, head, `,"id":"${room}/`, tail).then(
    (seq) => {
      if (connection.closed) return;
      const ack = `{"t":"ack","room":"${room}","cid":"${cid}","seq":${String(seq)},"id":"${room}/${String(seq)}"}`;
      ws.cork(() => ws.send(ack, false));
    },
    (error: unknown) => {
      console.error(JSON.stringify({ msg: "publish failed", error: String(error) }));
      if (connection.closed) return;
      ws.cork(() => ws.send(`{"t":"error","code":"unavailable","cid":"${cid}","message":"redis"}`, false));
    },
  );
}

const app = uWS.App().ws<Connection>("/ws", {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  maxBackpressure: 4 * 1024 * 1024,
  sendPingsAutomatically: true,
  upgrade: (res, req, context) => {
    res.upgrade<Connection>(
      { from: JSON.stringify(req.getQuery("user") ?? "anonymous"), closed: false },
      req.getHeader("sec-websocket-key"),
      req.getHeader("sec-websocket-protocol"),
      req.getHeader("sec-websocket-extensions"),
      context,
    );
  },
  message: (ws, message) => {
    // The ArrayBuffer is valid only during this call: decode it first.
    const frame = Buffer.from(message).toString();
    const type = textAfter(frame, '"t":"');
    const room = textAfter(frame, '"room":"');
    if (room === undefined) return;
    if (type === "join") return join(ws, room);
    const cid = textAfter(frame, '"cid":"');
    const body = textAfter(frame, '"body":"');
    if (type === "send" && cid !== undefined && body !== undefined) send(ws, room, cid, body);
  },
  close: (ws) => {
    ws.getUserData().closed = true;
  },
});

subscriber.on("messageBuffer", (channel: Buffer, frame: Buffer) => {
  app.publish(channel, frame, false);
});

let listenSocket: uWS.us_listen_socket | undefined;
app.listen("127.0.0.1", Number(process.env.PORT ?? 0), (token) => {
  if (!token) {
    console.error(JSON.stringify({ msg: "reference failed to listen" }));
    process.exit(1);
  }
  listenSocket = token;
  console.log(JSON.stringify({ msg: "reference listening", port: uWS.us_socket_local_port(token) }));
});

process.once("SIGTERM", () => {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  app.close();
  publisher.disconnect();
  subscriber.disconnect();
  process.exit(0);
});
