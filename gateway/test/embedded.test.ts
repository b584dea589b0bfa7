import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "@parley/testkit";
import { GatewayProcess } from "@parley/testkit/gateway-process";
import { scrape } from "@parley/testkit/metrics";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const WEB_DIR = fileURLToPath(new URL("../../web/dist", import.meta.url));

/** The run command's setup: one process, in-memory bus and log, PGlite on disk, the web client served. */
describe("embedded mode", () => {
  let dataDir: string;
  let gateway: GatewayProcess | undefined;
  const env = () => ({ PARLEY_DATA_DIR: dataDir, PARLEY_WEB_DIR: WEB_DIR });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "parley-embedded-"));
  });
  afterAll(async () => {
    await gateway?.service.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("lets two clients chat, keeps the messages across a restart and continues their seqs", async () => {
    gateway = await GatewayProcess.start(env());
    const [ann, ben] = await Promise.all([gateway.connect("ann"), gateway.connect("ben")]);
    await Promise.all([ann.join("lobby"), ben.join("lobby")]);
    ann.send({ t: "send", room: "lobby", cid: "a1", body: "hi ben" });
    await ann.next("ack", (frame) => frame.cid === "a1");
    ben.send({ t: "send", room: "lobby", cid: "b1", body: "hi ann" });
    await ben.next("ack", (frame) => frame.cid === "b1");
    await waitFor(
      () => ann.messages("lobby").length === 2 && ben.messages("lobby").length === 2,
      "both messages on both",
    );
    expect(ben.messages("lobby").map((message) => [message.seq, message.from, message.body])).toEqual([
      [1, "ann", "hi ben"],
      [2, "ben", "hi ann"],
    ]);

    // The in-process persister's metrics are served beside the gateway's.
    const running = gateway;
    await waitFor(
      async () =>
        (await scrape(Number(running.service.readyLog.metricsPort))).value("parley_persister_rows_inserted_total") ===
        2,
      "both messages counted as inserted",
    );
    const metrics = await scrape(Number(running.service.readyLog.metricsPort));
    expect(metrics.value("parley_gateway_connections")).toBe(2);
    expect(metrics.value("parley_persister_watermark_pending_seqs")).toBe(0);

    expect(await gateway.service.stop()).toBe(0);
    gateway = await GatewayProcess.start(env());
    const response = await gateway.fetch("/api/rooms/lobby/messages?user=ann");
    expect(response.status).toBe(200);
    const page = (await response.json()) as { messages: { seq: number; body: string }[] };
    expect(page.messages.map((message) => [message.seq, message.body])).toEqual([
      [1, "hi ben"],
      [2, "hi ann"],
    ]);

    const again = await gateway.connect("ann");
    expect((await again.join("lobby", 1)).seq).toBe(2);
    await waitFor(() => again.messages("lobby").length === 1, "the missed message replayed");
    again.send({ t: "send", room: "lobby", cid: "a2", body: "back again" });
    expect((await again.next("ack", (frame) => frame.cid === "a2")).seq).toBe(3);
    again.close();
  });

  it("serves the web client with a strict Content-Security-Policy", async () => {
    gateway ??= await GatewayProcess.start(env());
    const page = await gateway.fetch("/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await page.text()).toContain("<title>Parley</title>");
    expect((await gateway.fetch("/healthz")).status).toBe(200);
    expect((await gateway.fetch("/readyz")).status).toBe(200);
  });
});
