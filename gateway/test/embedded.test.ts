import { spawn } from "node:child_process";
import { once } from "node:events";
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

  it("shares a file over the real HTTP server: upload, send, fetch as the other user, kept in history", async () => {
    gateway ??= await GatewayProcess.start(env());
    const running = gateway;
    const bytes = Buffer.from("89504e470d0a1a0a0000000d49484452".repeat(2000), "hex");
    const asked = await running.fetch("/api/rooms/files-room/files?user=ann", {
      method: "POST",
      body: JSON.stringify({ name: "cat.png", size: bytes.length, type: "image/png" }),
    });
    expect(asked.status).toBe(201);
    const { id, upload } = (await asked.json()) as {
      id: string;
      upload: { url: string; headers: Record<string, string> };
    };
    // More bytes than granted: refused from the declared length, before anything is stored.
    const over = await running.fetch(upload.url, {
      method: "PUT",
      headers: upload.headers,
      body: Buffer.concat([bytes, bytes]),
    });
    expect(over.status).toBe(413);
    const put = await running.fetch(upload.url, { method: "PUT", headers: upload.headers, body: bytes });
    expect(put.status).toBeLessThan(300);

    const [ann, ben] = await Promise.all([running.connect("ann"), running.connect("ben")]);
    await Promise.all([ann.join("files-room"), ben.join("files-room")]);
    ann.send({
      t: "send",
      room: "files-room",
      cid: "f1",
      attachments: [{ id, name: "cat.png", size: bytes.length, type: "image/png" }],
    });
    await ann.next("ack", (frame) => frame.cid === "f1");

    const granted = await running.fetch(`/api/rooms/files-room/files/${id}?user=ben`);
    expect(granted.status).toBe(200);
    const file = await running.fetch(((await granted.json()) as { url: string }).url);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await file.arrayBuffer())).toEqual(bytes);
    await waitFor(async () => {
      const history = await running.fetch("/api/rooms/files-room/messages?user=ben");
      const { messages } = (await history.json()) as { messages: { attachments?: { id: string }[] }[] };
      return messages[0]?.attachments?.[0]?.id === id;
    }, "the message with its attachment in history");
    ann.close();
    ben.close();
  });

  // A browser's page load; fetch() and curl send */* instead.
  const page = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
  it.each([
    ["GET", "/rooms/lobby", page, 200, "text/html"],
    ["GET", "/rooms/lobby", {}, 404, "not_found"],
    ["GET", "/api/nope", page, 404, "not_found"],
    ["GET", "/api", page, 404, "not_found"],
    ["GET", "/metrics", page, 404, "not_found"],
    ["GET", "/ws", page, 426, "bad_request"],
    ["GET", "/assets/missing.js", page, 404, "not_found"],
    ["POST", "/", page, 405, "method_not_allowed"],
    ["DELETE", "/healthz", {}, 405, "method_not_allowed"],
    ["POST", "/api/rooms/lobby/messages?user=ann", {}, 405, "method_not_allowed"],
    ["PUT", "/api/nope", {}, 404, "not_found"],
  ])("answers %s %s (%o) with %i %s", async (method, path, headers, status, what) => {
    gateway ??= await GatewayProcess.start(env());
    const response = await gateway.fetch(path, { method, headers });
    expect(response.status).toBe(status);
    if (status === 200) {
      expect(response.headers.get("content-type")).toContain(what);
      return;
    }
    expect(response.headers.get("content-type")).toBe("application/json");
    if (status === 405) expect(response.headers.get("allow")).toMatch(/^GET/);
    expect(await response.json()).toMatchObject({ code: what, message: expect.any(String) });
  });
});

describe("the gateway service alone", () => {
  it("refuses the in-memory Log, which only the embedded server consumes, and says so", async () => {
    const entry = fileURLToPath(new URL("../dist/main.js", import.meta.url));
    const child = spawn(process.execPath, [entry], {
      env: { PATH: process.env.PATH ?? "", PARLEY_PORT: "0", PARLEY_METRICS_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    for (const stream of [child.stdout, child.stderr]) stream.on("data", (chunk: Buffer) => (output += chunk));
    const [code] = await once(child, "exit");
    expect(code).toBe(1);
    expect(output).toContain("PARLEY_LOG");
    expect(output).toContain("embedded server (npm start)");
  });
});
