// Parley load test: many WebSocket connections per VU (k6/websockets), spread over the gateways, each joining a room
// and sending timestamped messages; end-to-end latency is measured from the timestamp in the body to delivery.
//
//   k6 run -e GATEWAYS=ws://127.0.0.1:8080/ws,ws://127.0.0.1:8081/ws -e CONNECTIONS=300 loadtest/k6/chat.js
//
// Options (-e NAME=value): GATEWAYS (comma-separated /ws URLs), CONNECTIONS (total), VUS (connections are spread
// over them), ROOM_SIZE (members per room), SEND_INTERVAL_MS (per connection), DURATION_S (steady phase),
// RAMP_S (connect ramp), P95_MS and P99_MS (latency thresholds).
import exec from "k6/execution";
import { Counter, Rate, Trend } from "k6/metrics";
import { clearInterval, setInterval, setTimeout } from "k6/timers";
import { WebSocket } from "k6/websockets";

const gateways = (__ENV.GATEWAYS || "ws://127.0.0.1:8080/ws").split(",");
const connections = Number(__ENV.CONNECTIONS || 300);
const vus = Number(__ENV.VUS || 10);
const roomSize = Number(__ENV.ROOM_SIZE || 30);
const sendIntervalMs = Number(__ENV.SEND_INTERVAL_MS || 2000);
const durationS = Number(__ENV.DURATION_S || 20);
const rampS = Number(__ENV.RAMP_S || 5);
const perVu = Math.ceil(connections / vus);

export const options = {
  scenarios: {
    chat: { executor: "per-vu-iterations", vus, iterations: 1, maxDuration: `${rampS + durationS + 60}s` },
  },
  thresholds: {
    parley_connect_success: ["rate>0.99"],
    parley_delivery_latency: [`p(95)<${__ENV.P95_MS || 250}`, `p(99)<${__ENV.P99_MS || 500}`],
    parley_errors: ["count==0"],
    parley_messages_received: ["count>0"],
  },
};

const connectSuccess = new Rate("parley_connect_success");
const deliveryLatency = new Trend("parley_delivery_latency", true);
const received = new Counter("parley_messages_received");
const sent = new Counter("parley_messages_sent");
const errors = new Counter("parley_errors");

export default function () {
  const vu = exec.vu.idInTest - 1;
  for (let index = 0; index < perVu; index++) {
    const n = vu * perVu + index;
    if (n >= connections) break;
    // Connect ramp: spread the connections of all VUs over RAMP_S.
    setTimeout(() => connect(n), (n / connections) * rampS * 1000);
  }
}

function connect(n) {
  const user = `k6u${n}`;
  const room = `k6-room-${Math.floor(n / roomSize)}`;
  const url = `${gateways[n % gateways.length]}?user=${user}`;
  const ws = new WebSocket(url);
  let sender;
  let counter = 0;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    connectSuccess.add(true);
    ws.send(JSON.stringify({ t: "join", room }));
  };
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.t === "joined") {
      sender = setInterval(() => {
        ws.send(JSON.stringify({ t: "send", room, cid: `${user}-${counter++}`, body: `${Date.now()}` }));
        sent.add(1);
      }, sendIntervalMs);
    } else if (frame.t === "msg") {
      received.add(1);
      const sentAt = Number(frame.body);
      if (Number.isFinite(sentAt)) deliveryLatency.add(Date.now() - sentAt);
    } else if (frame.t === "error") {
      errors.add(1, { code: frame.code });
    }
  };
  ws.onerror = () => {
    if (!opened) connectSuccess.add(false);
    else errors.add(1, { code: "socket" });
  };
  const remaining = (rampS + durationS) * 1000 - (n / connections) * rampS * 1000;
  setTimeout(() => {
    if (sender) clearInterval(sender);
    ws.close();
  }, remaining);
}
