/**
 * The load generator on its own: runs one load against running servers and prints the {@link LoadResult} as JSON.
 *
 *   node loadtest/dist/loadgen/main.js --protocol parley --targets ws://127.0.0.1:8080,ws://127.0.0.1:8081 \
 *     --connections 10000 --room-size 100 --rate 1000 --duration 30 [--workers 2] [--source-addresses]
 *
 * `--workers` defaults to BENCH_LOADGEN_WORKERS, else 2; `--send-every n` makes only every n-th connection send.
 */
import { parseArgs } from "node:util";
import { runLoad } from "./load.js";
import { PROTOCOL_NAMES } from "./protocols.js";

const { values } = parseArgs({
  options: {
    protocol: { type: "string", default: "parley" },
    targets: { type: "string" },
    connections: { type: "string", default: "1000" },
    "room-size": { type: "string", default: "100" },
    rate: { type: "string", default: "100" },
    duration: { type: "string", default: "10" },
    "send-every": { type: "string", default: "1" },
    workers: { type: "string", default: process.env.BENCH_LOADGEN_WORKERS ?? "2" },
    "source-addresses": { type: "boolean", default: false },
  },
});

/** A whole number of at least 1 from `--name`, or exit naming the flag. */
function count(name: keyof typeof values): number {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 1) fail(`--${name}: expected a whole number of at least 1`);
  return value;
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const protocol = PROTOCOL_NAMES.find((name) => name === values.protocol);
if (!protocol) fail(`--protocol: expected one of ${PROTOCOL_NAMES.join(", ")}`);
if (!values.targets) fail("--targets: the servers' base URLs (ws://host:port), comma-separated");
const result = await runLoad({
  protocol,
  targets: values.targets.split(","),
  connections: count("connections"),
  roomSize: count("room-size"),
  rate: count("rate"),
  durationS: count("duration"),
  sendEvery: count("send-every"),
  workers: count("workers"),
  sourceAddresses: values["source-addresses"],
});
console.log(JSON.stringify(result, null, 2));
