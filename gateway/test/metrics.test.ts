import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, uniqueName, waitFor } from "@parley/testkit";
import { type Scrape, scrape } from "@parley/testkit/metrics";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CHART = fileURLToPath(new URL("../../charts/parley/", import.meta.url));
const PROMETHEUS_SCRIPT = fileURLToPath(new URL("../../scripts/prometheus.sh", import.meta.url));

/** Metric names a PromQL text uses (Parley's and the process defaults the dashboards show). */
function metricNames(text: string): string[] {
  return [...new Set([...text.matchAll(/\b(?:parley|nodejs|process)_[a-z0-9_]+\b/g)].map((match) => match[0]))];
}

/**
 * The metrics operators watch, end to end: two gateway processes and a persister on the real Redis, Kafka and
 * PostgreSQL, real traffic, and both `/metrics` endpoints scraped as Prometheus would.
 */
describe("metrics", () => {
  let stack: Stack;
  const clients: TestClient[] = [];
  const port = (log: Record<string, unknown>) => Number(log.metricsPort);
  const scrapeGateway = (index: number) => scrape(port(stack.gateways[index]?.service.readyLog ?? {}));
  const scrapePersister = () => scrape(port(stack.persister?.readyLog ?? {}));

  beforeAll(async () => {
    stack = await Stack.start({ gateways: 2 });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await stack?.stop();
  });

  async function connect(gateway: number, user: string): Promise<TestClient> {
    const client = await stack.gateways[gateway]?.connect(user);
    if (!client) throw new Error("no gateway");
    clients.push(client);
    return client;
  }

  it("count connections, frames, deliveries, latencies and inserts, and the consumer lag returns to 0", async () => {
    const room = uniqueName("room");
    const [ann, ben, cat] = await Promise.all([connect(0, "ann"), connect(0, "ben"), connect(1, "cat")]);
    await Promise.all([ann.join(room), ben.join(room), cat.join(room)]);
    const before = await Promise.all([scrapeGateway(0), scrapeGateway(1)]);
    expect(before[0]?.value("parley_gateway_connections")).toBe(2);
    expect(before[1]?.value("parley_gateway_connections")).toBe(1);
    expect(before[0]?.value("parley_gateway_subscribed_rooms")).toBe(1);
    expect(before[0]?.value("parley_gateway_ready")).toBe(1);
    expect(before[0]?.value("parley_gateway_draining")).toBe(0);
    expect(before[0]?.value("parley_gateway_frames_received_total", { type: "join" })).toBe(2);
    expect(before[0]?.value("parley_gateway_frames_sent_total", { type: "joined" })).toBe(2);

    const count = 20;
    for (let index = 0; index < count; index++) ann.send({ t: "send", room, cid: `c${index}`, body: `m${index}` });
    await waitFor(() => ann.frames.filter((frame) => frame.t === "ack").length === count, "every ack");
    for (const client of [ann, ben, cat]) {
      await waitFor(() => client.messages(room).length === count, "every message on every client");
    }

    const [first, second] = await Promise.all([scrapeGateway(0), scrapeGateway(1)]);
    if (!first || !second) throw new Error("no scrape");
    expect(first.value("parley_gateway_frames_received_total", { type: "send" })).toBe(count);
    expect(first.value("parley_gateway_frames_sent_total", { type: "ack" })).toBe(count);
    expect(first.value("parley_gateway_ack_latency_seconds_count")).toBe(count);
    expect(first.value("parley_gateway_bus_call_duration_seconds_count", { op: "publish" })).toBe(count);
    expect(first.value("parley_gateway_bus_call_errors_total")).toBe(0);
    expect(first.value("parley_gateway_log_append_duration_seconds_count")).toBe(count);
    expect(first.value("parley_gateway_log_append_errors_total")).toBe(0);
    // Each gateway got every message once from the Bus and delivered it to each of its members.
    expect(first.value("parley_gateway_fanout_latency_seconds_count")).toBe(count);
    expect(second.value("parley_gateway_fanout_latency_seconds_count")).toBe(count);
    expect(first.value("parley_gateway_deliveries_total", { path: "live" })).toBe(2 * count);
    expect(second.value("parley_gateway_deliveries_total", { path: "live" })).toBe(count);
    expect(second.value("parley_gateway_frames_sent_total", { type: "msg" })).toBe(count);
    expect(second.value("parley_gateway_log_append_duration_seconds_count")).toBe(0);
    expect(first.value("parley_gateway_error_frames_total")).toBe(0);

    // The persister stored each message once and caught up: no lag on any partition, no watermark waiting.
    const persisted = await waitFor(async () => {
      const metrics = await scrapePersister();
      const lags = metrics.select("parley_persister_consumer_lag_records");
      return metrics.value("parley_persister_rows_inserted_total") === count &&
        lags.length > 0 &&
        lags.every((sample) => sample.value === 0) &&
        metrics.value("parley_persister_watermark_pending_seqs") === 0
        ? metrics
        : undefined;
    }, "the persister to store every message and catch up");
    expect(persisted.value("parley_persister_records_consumed_total")).toBeGreaterThanOrEqual(count);
    expect(persisted.value("parley_persister_batch_size_records_sum")).toBe(
      persisted.value("parley_persister_records_consumed_total"),
    );
    expect(persisted.value("parley_persister_insert_duration_seconds_count")).toBeGreaterThan(0);
    expect(persisted.value("parley_persister_dead_lettered_total")).toBe(0);
    expect(persisted.value("parley_persister_watermark_gap_age_seconds")).toBe(0);

    // A closed connection is counted by its close code and leaves the gauges.
    ben.close();
    await waitFor(async () => (await scrapeGateway(0)).value("parley_gateway_connections") === 1, "ben gone");
    const after = await scrapeGateway(0);
    expect(after.value("parley_gateway_disconnects_total", { code: "1005" })).toBe(1);
    expect(after.value("parley_gateway_connects_total")).toBe(2);
  });

  it("are the only metrics the chart's alerts and dashboards query", async () => {
    const live = new Set<string>();
    const scrapes: Scrape[] = await Promise.all([scrapeGateway(0), scrapeGateway(1), scrapePersister()]);
    for (const metrics of scrapes) for (const name of metrics.seriesNames()) live.add(name);
    const sources = [
      `${CHART}templates/prometheusrule.yaml`,
      ...readdirSync(`${CHART}dashboards`).map((file) => `${CHART}dashboards/${file}`),
    ];
    const used = new Set<string>();
    for (const source of sources) {
      const names = metricNames(readFileSync(source, "utf8"));
      expect(names.length, source).toBeGreaterThan(0);
      for (const name of names) {
        used.add(name);
        expect(live, `${name} in ${source}`).toContain(name);
      }
    }
    // The check checks something: the core series are among those queried.
    for (const name of [
      "parley_gateway_connections",
      "parley_gateway_fanout_latency_seconds_bucket",
      "parley_persister_consumer_lag_records",
    ]) {
      expect(used).toContain(name);
    }
  });

  it("are scraped by the local Prometheus of scripts/prometheus.sh, with the chart's alerting rules loaded", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "parley-prometheus-"));
    const targets = [
      ...stack.gateways.map((gateway) => `gateway=127.0.0.1:${Number(gateway.service.readyLog.metricsPort)}`),
      `persister=127.0.0.1:${Number(stack.persister?.readyLog.metricsPort)}`,
    ];
    const prometheus = spawn(PROMETHEUS_SCRIPT, ["run", ...targets], {
      env: { ...process.env, PARLEY_PROMETHEUS_PORT: String(port), PARLEY_PROMETHEUS_DIR: dir },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const output: string[] = [];
    prometheus.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    const api = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/${path}`);
      return ((await response.json()) as { data: unknown }).data;
    };
    try {
      const connections =
        (await scrapeGateway(0)).value("parley_gateway_connections") +
        (await scrapeGateway(1)).value("parley_gateway_connections");
      await waitFor(
        async () => {
          const data = (await api("query?query=sum(parley_gateway_connections{namespace=%22local%22})")) as {
            result: { value: [number, string] }[];
          };
          return Number(data.result[0]?.value[1]) === connections;
        },
        "Prometheus to scrape both gateways",
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      // Each target is scraped on its own schedule: wait until none is still unscraped ("unknown").
      const targetHealth = async () => {
        const { activeTargets } = (await api("targets")) as {
          activeTargets: { health: string; labels: Record<string, string> }[];
        };
        return activeTargets.map((target) => `${target.labels.job} ${target.health}`).sort();
      };
      const health = await waitFor(
        async () => {
          const current = await targetHealth();
          return current.length === 3 && current.every((line) => !line.endsWith(" unknown")) ? current : undefined;
        },
        "every target scraped once",
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(health).toEqual(["parley-gateway up", "parley-gateway up", "parley-persister up"]);
      const lag = (await api("query?query=sum(parley_persister_consumer_lag_records{job=%22parley-persister%22})")) as {
        result: { value: [number, string] }[];
      };
      expect(lag.result[0]?.value[1]).toBe("0");
      const { groups } = (await api("rules")) as { groups: { rules: { name: string; health: string }[] }[] };
      const rules = groups.flatMap((group) => group.rules);
      expect(rules.length).toBeGreaterThanOrEqual(13);
      expect(rules.map((rule) => rule.name)).toContain("ParleyPersisterLagGrowing");
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n${output.join("")}`);
    } finally {
      prometheus.kill("SIGTERM");
      if (prometheus.exitCode === null) await once(prometheus, "exit");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
