// Parley load test: many WebSocket connections per VU (k6/websockets) spread over the gateways, each joining a
// room and sending timestamped messages; delivery latency is measured from the timestamp in the body, ack latency
// from the send. Every member checks its view of the room is gap-free by sequence number.
//
//   k6 run -e TARGETS=ws://127.0.0.1:8080/ws,ws://127.0.0.1:8081/ws -e CONNECTIONS=300 loadtest/k6/chat.js
//
// Load shape and thresholds: see lib.js. RECONNECT=1 (the reconnect storm): a connection the server closes or
// loses before the end dials the next gateway, rejoins with `since` = the last seq it saw, and sends its unacked
// messages again with the same cids; the replay must be complete and the view stay gap-free.
import { setTimeout } from "k6/timers";
import { WebSocket } from "k6/websockets";
import { config, delivered, field, finishing, lost, member, metrics, schedule, spread } from "./lib.js";

export { options } from "./lib.js";

const reconnect = __ENV.RECONNECT === "1";

export default function () {
  spread(open);
}

function open(n) {
  const { user, room, cid: cidOf } = member(n);
  /** Sent and not acked yet: cid -> { sentAt, frame }. */
  const pending = new Map();
  /** The highest seq of the room this connection has seen. */
  let lastSeq;
  let attempt = 0;
  /** Whether the current socket has its `joined`. */
  let joined = false;
  let done = false;
  let ws = dial();

  schedule(
    n,
    (counter) => {
      const cid = cidOf(counter);
      const frame = JSON.stringify({ t: "send", room, cid, body: String(Date.now()) });
      pending.set(cid, { sentAt: Date.now(), frame });
      metrics.sent.add(1);
      // Until the room is (re)joined it stays pending and goes out with the `joined`.
      if (joined) ws.send(frame);
    },
    () => {
      done = true;
      ws.close();
    },
  );

  function dial() {
    const socket = new WebSocket(`${config.targets[(n + attempt) % config.targets.length]}?user=${user}`);
    let opened = false;
    let ended = false;
    socket.onopen = () => {
      opened = true;
      if (attempt === 0) metrics.connectSuccess.add(true);
      socket.send(JSON.stringify(lastSeq === undefined ? { t: "join", room } : { t: "join", room, since: lastSeq }));
    };
    socket.onmessage = (event) => {
      const data = event.data;
      if (data.startsWith('{"t":"msg"')) {
        const seq = Number(field(data, "seq"));
        if (lastSeq !== undefined && seq <= lastSeq) {
          metrics.duplicates.add(1);
          console.warn(`${user}: seq ${seq} again (had ${lastSeq}; connection ${attempt})`);
          return;
        }
        if (lastSeq !== undefined && seq > lastSeq + 1) metrics.gaps.add(seq - lastSeq - 1);
        lastSeq = seq;
        delivered(field(data, "body"));
        return;
      }
      const frame = JSON.parse(data);
      switch (frame.t) {
        case "ack": {
          const sent = pending.get(frame.cid);
          if (sent) metrics.ackLatency.add(Date.now() - sent.sentAt);
          pending.delete(frame.cid);
          break;
        }
        case "joined":
          joined = true;
          if (lastSeq === undefined) lastSeq = frame.seq;
          else metrics.recovered.add(frame.recovered === true);
          for (const sent of pending.values()) socket.send(sent.frame);
          break;
        case "error": {
          const sent = frame.code === "unavailable" ? pending.get(frame.cid) : undefined;
          if (sent) {
            metrics.retries.add(1);
            socket.send(sent.frame);
          } else {
            metrics.errors.add(1, { code: frame.code });
            console.warn(`${user}: error frame ${frame.code}: ${frame.message}`);
          }
          break;
        }
      }
    };
    // A failed dial reports only an error; a lost connection an error and/or a close: handle the first.
    const end = (code) => {
      if (ended || done) return;
      ended = true;
      joined = false;
      if (!opened && attempt === 0) metrics.connectSuccess.add(false);
      else if (reconnect && !finishing()) {
        attempt++;
        metrics.reconnects.add(1);
        // Clients back off with jitter; a storm is everyone doing this within the same second.
        setTimeout(() => {
          if (!done) ws = dial();
        }, Math.random() * 1000);
      } else if (!finishing()) lost(user, code);
    };
    socket.onerror = () => end("socket");
    socket.onclose = (event) => end(event.code);
    return socket;
  }
}
