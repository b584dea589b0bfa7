/**
 * Idle connections on one gateway: RSS growth per connection at N open WebSockets.
 *
 *   npm run build && npm run bench:idle -w loadtest            # BENCH_CONNECTIONS=19000 by default
 *
 * Starts one gateway process as deployed (Redis bus, Kafka log, PostgreSQL store: `Stack` on the local services),
 * opens WARMUP connections so the heap and uWS have grown to a working size, records the RSS, opens the rest from
 * several client processes (each under the 20,000 open-file limit, each from its own 127.0.0.x source address so
 * ephemeral ports never run out), lets every connection join a room of 100, and records the RSS again.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Stack } from "@parley/testkit/stack";

const connections = Number(process.env.BENCH_CONNECTIONS ?? 19_000);
const perClient = Number(process.env.BENCH_PER_CLIENT ?? 5_000);
const warmup = Number(process.env.BENCH_WARMUP ?? 1_000);
/** Whether each connection joins a room (BENCH_JOIN=0: bare connections). */
const join = process.env.BENCH_JOIN ?? "1";
const settleMs = Number(process.env.BENCH_SETTLE_MS ?? 5_000);
const CLIENT = fileURLToPath(new URL("./idle-client.js", import.meta.url));

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}

const stack = await Stack.start({ gateways: 1, gatewayEnv: { PARLEY_IDLE_TIMEOUT_SECONDS: "960" } });
const gateway = stack.gateways[0];
if (!gateway) throw new Error("no gateway");
const pid = gateway.service.child.pid ?? 0;
const settle = () => new Promise((resolve) => setTimeout(resolve, settleMs));

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

await open(0, warmup);
await settle();
const before = await rss(pid);
for (let first = warmup; first < connections; first += perClient) {
  await open(first, Math.min(perClient, connections - first));
}
await settle();
const after = await rss(pid);
console.log(
  JSON.stringify({
    connections,
    warmup,
    join: join === "1",
    rssAtWarmupMiB: Number((before / 2 ** 20).toFixed(1)),
    rssAfterMiB: Number((after / 2 ** 20).toFixed(1)),
    bytesPerConnection: Math.round((after - before) / (connections - warmup)),
  }),
);
for (const child of clients) child.kill();
await stack.stop();
