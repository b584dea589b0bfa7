/**
 * The baseline of the fan-out benchmark: what users would build instead of Parley, a minimal Socket.IO server with
 * @socket.io/redis-adapter, doing the same room fan-out across processes. It does less than a Parley gateway (no
 * sequence numbers, no Kafka append before the ack, no presence, no recovery, no auth), so the comparison favours
 * it. The load generator drives it through `loadgen/socketio.ts`, with the same load shape as Parley and the bare
 * uWS reference.
 *
 *   REDIS_URL=redis://127.0.0.1:16379 PORT=0 node loadtest/dist/socketio-server.js
 *
 * Events: `join` (room, ack) joins the room; `send` ({ room, cid, body }, ack) emits `msg` { room, id, from, body,
 * ts } to the room on every server and acks { cid, id }. The user is the handshake's `user` query parameter.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const publisher = new Redis(redisUrl);
const subscriber = publisher.duplicate();
const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  perMessageDeflate: false,
  adapter: createAdapter(publisher, subscriber, { key: process.env.REDIS_KEY ?? "socket.io" }),
});

interface Send {
  room: string;
  cid: string;
  body: string;
}

io.on("connection", (socket) => {
  const from = String(socket.handshake.query.user ?? "anonymous");
  socket.on("join", (room: string, ack?: () => void) => {
    void socket.join(room);
    ack?.();
  });
  socket.on("send", ({ room, cid, body }: Send, ack?: (reply: { cid: string; id: string }) => void) => {
    const id = randomUUID();
    io.to(room).emit("msg", { room, id, from, body, ts: Date.now() });
    ack?.({ cid, id });
  });
});

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const { port } = http.address() as AddressInfo;
  console.log(JSON.stringify({ msg: "socket.io baseline listening", port }));
});

process.once("SIGTERM", () => {
  io.close(() => {
    publisher.disconnect();
    subscriber.disconnect();
    process.exit(0);
  });
});
