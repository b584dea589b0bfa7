// The load shape and metrics of the k6 suite (chat.js), apart from how a connection speaks Parley's protocol. The
// fan-out comparison with other systems runs on our own load generator (loadtest/src/loadgen/); k6 stays for the
// SLO runs: the 10,000-connection acceptance run and the reconnect storm.
//
// Timeline: connections open over RAMP_S; every sender starts at RAMP_S + SETTLE_S (each at a random offset inside
// its interval) and sends for DURATION_S; then DRAIN_S for the last deliveries, and every socket closes.
//
// Options (-e NAME=value): TARGETS (comma-separated WebSocket URLs; the connections are spread over them),
// CONNECTIONS (total), VUS (connections are spread over them; default one per 250), ROOM_SIZE (members per room),
// SEND_EVERY (every n-th connection sends; 1 = all), SEND_INTERVAL_MS (per sender), RAMP_S, SETTLE_S, DURATION_S,
// DRAIN_S, P95_MS and P99_MS (delivery latency thresholds), ACK_P99_MS (send -> ack threshold).
import exec from "k6/execution";
import { Counter, Rate, Trend } from "k6/metrics";
import { clearInterval, clearTimeout, setInterval, setTimeout } from "k6/timers";

export const config = {
  targets: (__ENV.TARGETS || "ws://127.0.0.1:8080/ws").split(","),
  connections: Number(__ENV.CONNECTIONS || 300),
  roomSize: Number(__ENV.ROOM_SIZE || 30),
  sendEvery: Number(__ENV.SEND_EVERY || 1),
  sendIntervalMs: Number(__ENV.SEND_INTERVAL_MS || 2000),
  rampS: Number(__ENV.RAMP_S || 5),
  settleS: Number(__ENV.SETTLE_S || 2),
  durationS: Number(__ENV.DURATION_S || 20),
  drainS: Number(__ENV.DRAIN_S || 3),
};
const vus = Number(__ENV.VUS || Math.max(2, Math.ceil(config.connections / 250)));
const perVu = Math.ceil(config.connections / vus);
const sendStartMs = (config.rampS + config.settleS) * 1000;
const sendEndMs = sendStartMs + config.durationS * 1000;
const closeMs = sendEndMs + config.drainS * 1000;

export const options = {
  scenarios: {
    chat: {
      executor: "per-vu-iterations",
      vus,
      iterations: 1,
      maxDuration: `${Math.ceil(closeMs / 1000) + 60}s`,
    },
  },
  thresholds: {
    chat_connect_success: ["rate>0.99"],
    chat_delivery_latency: [`p(95)<${__ENV.P95_MS || 250}`, `p(99)<${__ENV.P99_MS || 500}`],
    chat_ack_latency: [`p(99)<${__ENV.ACK_P99_MS || 500}`],
    chat_errors: ["count==0"],
    chat_gaps: ["count==0"],
    chat_duplicates: ["count==0"],
    chat_messages_received: ["count>0"],
    // The reconnect storm (chat.js, RECONNECT=1): every replay after a rejoin must be complete.
    ...(__ENV.RECONNECT === "1" ? { chat_recovered: ["rate>0.99"], chat_reconnects: ["count>0"] } : {}),
  },
  summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"],
};

export const metrics = {
  connectSuccess: new Rate("chat_connect_success"),
  /** From the sender's timestamp in the body to delivery, in the receiving VU. */
  deliveryLatency: new Trend("chat_delivery_latency", true),
  /** From the send to its ack, in the sending VU. */
  ackLatency: new Trend("chat_ack_latency", true),
  sent: new Counter("chat_messages_sent"),
  received: new Counter("chat_messages_received"),
  errors: new Counter("chat_errors"),
  /** Messages missing from a member's view of a room (sequence numbers skipped). */
  gaps: new Counter("chat_gaps"),
  /** Messages a member received again or out of order (at or below the highest seq it had). */
  duplicates: new Counter("chat_duplicates"),
  reconnects: new Counter("chat_reconnects"),
  /** Rejoins with `since` whose replay the server reported complete. */
  recovered: new Rate("chat_recovered"),
  /** Sends answered `unavailable` and sent again with the same cid, as clients must. */
  retries: new Counter("chat_retries"),
};

/** Unique per run (and VU), so the cids of one run are never taken for retries of an earlier run's. */
const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** The connection's user name and room, and the cid of its `counter`-th message. */
export function member(n) {
  const user = `k6u${n}`;
  return { user, room: `k6-room-${Math.floor(n / config.roomSize)}`, cid: (counter) => `${user}-${runId}-${counter}` };
}

/** The VU body: opens this VU's share of the connections along the ramp, calling `connect(n)` for each. */
export function spread(connect) {
  const vu = exec.vu.idInTest - 1;
  for (let index = 0; index < perVu; index++) {
    const n = vu * perVu + index;
    if (n >= config.connections) break;
    setTimeout(() => connect(n), (n / config.connections) * config.rampS * 1000);
  }
}

/** Milliseconds since the test began (the same clock in every VU: the k6 process's). */
function elapsed() {
  return Date.now() - exec.scenario.startTime;
}

/**
 * Runs connection `n`'s sending schedule: `send(counter)` every SEND_INTERVAL_MS during the steady phase if it is
 * a sender, then `close()` after the drain.
 */
export function schedule(n, send, close) {
  let starter;
  let sender;
  if (n % config.sendEvery === 0) {
    const offset = Math.random() * config.sendIntervalMs;
    starter = setTimeout(
      () => {
        let counter = 0;
        const next = () => {
          if (elapsed() >= sendEndMs) clearInterval(sender);
          else send(counter++);
        };
        next();
        sender = setInterval(next, config.sendIntervalMs);
      },
      Math.max(0, sendStartMs + offset - elapsed()),
    );
  }
  // A pending timer keeps the VU's iteration alive: none may outlast the close.
  setTimeout(
    () => {
      clearTimeout(starter);
      clearInterval(sender);
      close();
    },
    Math.max(0, closeMs - elapsed()),
  );
}

/** Whether the test is past its steady phase (closes then are the test's own). */
export function finishing() {
  return elapsed() >= sendEndMs;
}

/**
 * The raw text of a number or plain (unescaped) string field of a JSON frame, or undefined. Messages are nearly all
 * of the traffic, and JSON.parse costs k6 about as much per frame as everything else it does for one (see
 * docs/benchmarks.md), so chat.js reads a message's few fields with this instead.
 */
export function field(frame, key) {
  const at = frame.indexOf(`"${key}":`);
  if (at < 0) return undefined;
  const from = at + key.length + 3;
  if (frame[from] === '"') return frame.slice(from + 1, frame.indexOf('"', from + 1));
  let end = from;
  while (end < frame.length && frame[end] !== "," && frame[end] !== "}") end++;
  return frame.slice(from, end);
}

/** Records a connection the server closed or lost before the end of the test. */
export function lost(user, code) {
  metrics.errors.add(1, { code: String(code) });
  console.warn(`${user}: connection lost (${code})`);
}

/** Records a delivered message whose body is the sender's `Date.now()`. */
export function delivered(body) {
  metrics.received.add(1);
  const sentAt = Number(body);
  if (Number.isFinite(sentAt)) metrics.deliveryLatency.add(Date.now() - sentAt);
}
