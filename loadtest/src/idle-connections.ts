/**
 * Idle connections on one gateway: RSS growth per connection at N open WebSockets.
 *
 *   npm run build && npm run bench:idle -w loadtest            # BENCH_CONNECTIONS=19000 by default
 *
 * Starts one gateway process as deployed (Redis bus, Kafka log, PostgreSQL store: `Stack` on the local services),
 * opens WARMUP connections so the heap and uWS have grown to a working size, lets the gateway sit idle, records the
 * RSS, opens the rest from several client processes (each under the 20,000 open-file limit, each from its own
 * 127.0.0.x source address so ephemeral ports never run out), lets every connection join a room of 100, and records
 * the RSS right after the burst and again once the gateway has been idle as long as before. Both baseline and final
 * reading come after the same idle time, so V8 has had the same chance to give back heap it grew for a burst (its
 * memory reducer waits for a low allocation rate). Each reading also has V8's live heap, reserved heap and external
 * memory from /metrics.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { scrape } from "@parley/testkit/metrics";
import { Stack } from "@parley/testkit/stack";

const connections = Number(process.env.BENCH_CONNECTIONS ?? 19_000);
const perClient = Number(process.env.BENCH_PER_CLIENT ?? 5_000);
const warmup = Number(process.env.BENCH_WARMUP ?? 1_000);
/** Whether each connection joins a room (BENCH_JOIN=0: bare connections). */
const join = process.env.BENCH_JOIN ?? "1";
const settleMs = Number(process.env.BENCH_SETTLE_MS ?? 5_000);
const idleMs = Number(process.env.BENCH_IDLE_MS ?? 120_000);
const CLIENT = fileURLToPath(new URL("./idle-client.js", import.meta.url));

/** The gateway's RSS and, from its /metrics, where V8 has it: live heap, heap reserved, and memory outside the heap. */
async function memory(pid: number, metricsPort: number) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const metrics = await scrape(metricsPort);
  return {
    rss: Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024,
    heapUsed: metrics.value("nodejs_heap_size_used_bytes"),
    heapTotal: metrics.value("nodejs_heap_size_total_bytes"),
    external: metrics.value("nodejs_external_memory_bytes"),
  };
}

const stack = await Stack.start({ gateways: 1, gatewayEnv: { PARLEY_IDLE_TIMEOUT_SECONDS: "960" } });
const gateway = stack.gateways[0];
if (!gateway) throw new Error("no gateway");
const pid = gateway.service.child.pid ?? 0;
const settle = () => new Promise((resolve) => setTimeout(resolve, settleMs));
const idle = () => new Promise((resolve) => setTimeout(resolve, idleMs));

const clients: ReturnType<typeof fork>[] = [];
async function open(first: number, count: number): Promise<void> {
  const child = fork(
    CLIENT,
    [gateway?.wsUrl("") ?? "", String(first), String(count), `127.0.0.${clients.length + 2}`, join],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
  clients.push(child);
  const [message] = (await once(child, "message")) as [{ open: number; failed: number }];
  if (message.failed > 0) throw new Error(`${message.failed} connections failed`);
}

const metricsPort = Number(gateway.service.readyLog.metricsPort);
await open(0, warmup);
await idle();
const before = await memory(pid, metricsPort);
for (let first = warmup; first < connections; first += perClient) {
  await open(first, Math.min(perClient, connections - first));
}
await settle();
const after = await memory(pid, metricsPort);
await idle();
const late = await memory(pid, metricsPort);
const added = connections - warmup;
const perConnection = (reading: typeof before) => ({
  rss: Math.round((reading.rss - before.rss) / added),
  heapUsed: Math.round((reading.heapUsed - before.heapUsed) / added),
  heapTotal: Math.round((reading.heapTotal - before.heapTotal) / added),
  external: Math.round((reading.external - before.external) / added),
});
console.log(
  JSON.stringify({
    connections,
    warmup,
    join: join === "1",
    rssAtWarmupMiB: Number((before.rss / 2 ** 20).toFixed(1)),
    rssAfterBurstMiB: Number((after.rss / 2 ** 20).toFixed(1)),
    rssIdleMiB: Number((late.rss / 2 ** 20).toFixed(1)),
    bytesPerConnectionAfterBurst: perConnection(after),
    [`bytesPerConnectionIdle${idleMs / 1000}s`]: perConnection(late),
  }),
);
for (const child of clients) child.kill();
await stack.stop();
