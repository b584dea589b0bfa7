// The Socket.IO baseline under the same load as chat.js (same generator, timeline, rooms and metrics: lib.js),
// speaking Engine.IO v4 / Socket.IO v5 over a plain WebSocket: `0{...}` open, `40` connect, `2`/`3` ping/pong,
// `42<ack id>["event", data]` events and `43<ack id>[reply]` acks.
//
//   k6 run -e TARGETS=ws://127.0.0.1:3000,ws://127.0.0.1:3001 -e CONNECTIONS=300 loadtest/k6/socketio.js
import { WebSocket } from "k6/websockets";
import { config, delivered, field, finishing, lost, member, metrics, schedule, spread } from "./lib.js";

export { options } from "./lib.js";

export default function () {
  spread(open);
}

function open(n) {
  const { user, room, cid: cidOf } = member(n);
  const target = config.targets[n % config.targets.length];
  const ws = new WebSocket(`${target}/socket.io/?EIO=4&transport=websocket&user=${user}`);
  /** Ack id -> when the send went out. */
  const pending = new Map();
  let opened = false;
  let done = false;

  schedule(
    n,
    (counter) => {
      const ackId = counter + 1;
      pending.set(ackId, Date.now());
      ws.send(`42${ackId}${JSON.stringify(["send", { room, cid: cidOf(counter), body: String(Date.now()) }])}`);
      metrics.sent.add(1);
    },
    () => {
      done = true;
      ws.close();
    },
  );

  ws.onmessage = (event) => {
    const packet = event.data;
    if (packet === "2") ws.send("3");
    else if (packet.startsWith('42["msg"')) delivered(field(packet, "body"));
    else if (packet.startsWith("43")) {
      const ackId = Number(/^43(\d+)/.exec(packet)?.[1]);
      const sentAt = pending.get(ackId);
      if (sentAt !== undefined) metrics.ackLatency.add(Date.now() - sentAt);
      pending.delete(ackId);
    } else if (packet.startsWith("40")) {
      // Connected to the namespace: join the room (ack id 0, its reply is ignored).
      ws.send(`420${JSON.stringify(["join", room])}`);
    } else if (packet.startsWith("0")) {
      opened = true;
      metrics.connectSuccess.add(true);
      ws.send("40");
    } else if (packet.startsWith("44")) metrics.errors.add(1, { code: "connect_error" });
  };
  let ended = false;
  const end = (code) => {
    if (ended || done) return;
    ended = true;
    if (!opened) metrics.connectSuccess.add(false);
    else if (!finishing()) lost(user, code);
  };
  ws.onerror = () => end("socket");
  ws.onclose = (event) => end(event.code);
}
