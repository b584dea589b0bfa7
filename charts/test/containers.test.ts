/**
 * The three images, built from the repository's Dockerfile (scripts/images.sh, podman) and run as the chart runs
 * them: read-only root filesystem with a /tmp of its own, no capabilities, the image's own user. The persister image
 * migrates a fresh database, then the persister, two gateways and the web server run against the local Redis, Kafka
 * and PostgreSQL behind an ingress stand-in, and a chat goes through them. This is where the production uWebSockets.js
 * binary is loaded by the image's Node.
 */
import { serviceEnv, uniqueName, waitFor } from "@parley/testkit";
import { type FreshDatabase, freshDatabase, withClient } from "@parley/testkit/database";
import { TestClient } from "@parley/testkit/ws-client";
import { type Browser, chromium } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CONTENT_SECURITY_POLICY } from "../../gateway/src/static-files.js";
import { Ingress } from "./ingress.js";
import { BUILD_TIMEOUT_MS, buildImages, Container, type Images, podman } from "./podman.js";

/** The Node and uWebSockets.js binary the images must run: Node 24's ABI is 137 (see images.test.ts). */
const NODE_VERSION = "v24.21.0";
const UWS_BINARY = `uws_linux_${process.arch}_137.node`;
/** The pods' grace periods in the chart are 30 s (persister, web) and 31 s with a 5 s preStop (gateway). */
const GRACE_SECONDS = 25;
const CHROMIUM = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";

/** What the chart's security contexts and /tmp emptyDir give every container. */
const SECURE = [
  "--read-only",
  "--read-only-tmpfs=false",
  "--tmpfs",
  "/tmp:rw,size=64m",
  "--cap-drop",
  "ALL",
  "--security-opt",
  "no-new-privileges",
];

function envFlags(env: Record<string, string>): string[] {
  return Object.entries(env).flatMap(([name, value]) => ["--env", `${name}=${value}`]);
}

describe("the images, built and run", () => {
  const run = uniqueName("parley-img");
  const containers: Container[] = [];
  let images: Images;
  let database: FreshDatabase | undefined;
  let env: Record<string, string>;
  let persister: Container;
  const gateways: { container: Container; port: number; started: Record<string, unknown> }[] = [];
  let web: Container;
  let ingress: Ingress | undefined;
  const clients: TestClient[] = [];
  let browser: Browser | undefined;

  async function start(name: string, image: string, flags: string[], command: string[] = []): Promise<Container> {
    const container = await Container.run(`${run}-${name}`, image, flags, command);
    containers.push(container);
    return container;
  }

  async function startGateway(name: string) {
    const container = await start(name, images.gateway, [
      "--network=host",
      ...SECURE,
      ...envFlags({
        ...env,
        PARLEY_HOST: "127.0.0.1",
        PARLEY_PORT: "0",
        PARLEY_METRICS_PORT: "0",
        PARLEY_BUS: "redis",
        PARLEY_LOG: "kafka",
        PARLEY_STORE: "postgres",
        // As the chart sets it without files.enabled: the default folder store is for one process, not a read-only image.
        PARLEY_FILES: "off",
      }),
    ]);
    const started = await container.waitForLog(
      (log) => typeof log.msg === "string" && log.msg.startsWith("Parley gateway listening"),
      "the gateway listening",
    );
    return { container, port: Number(started.port), started };
  }

  async function connect(user: string): Promise<TestClient> {
    if (!ingress) throw new Error("no ingress");
    const client = await TestClient.connect(`${ingress.wsOrigin}/ws?user=${encodeURIComponent(user)}`);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    const started = Date.now();
    images = await buildImages();
    console.log(`images ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.values(images).join(", ")}`);

    const services = serviceEnv();
    database = await freshDatabase("images");
    const topic = uniqueName("parley.images");
    env = {
      PARLEY_DATABASE_URL: database.url,
      PARLEY_KAFKA_BROKERS: services.kafkaBrokers.join(","),
      PARLEY_KAFKA_TOPIC: topic,
      PARLEY_KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      PARLEY_KAFKA_PARTITIONS: "4",
      PARLEY_REDIS_URL: services.redisUrl,
      PARLEY_REDIS_PREFIX: uniqueName("parley"),
    };

    // The chart's migration hook: the persister image's migrate command, to its end.
    const migrate = await Container.once(
      images.persister,
      ["--network=host", ...SECURE, ...envFlags({ PARLEY_DATABASE_URL: database.url })],
      ["node", "persister/dist/migrate.js"],
    );
    expect(migrate.stdout).toContain("migrations applied");

    persister = await start("persister", images.persister, [
      "--network=host",
      ...SECURE,
      ...envFlags({
        ...env,
        PARLEY_KAFKA_GROUP: `${topic}-persister`,
        PARLEY_METRICS_PORT: "0",
        PARLEY_KAFKA_SESSION_TIMEOUT_MS: "6000",
        PARLEY_KAFKA_HEARTBEAT_INTERVAL_MS: "1000",
      }),
    ]);
    gateways.push(await startGateway("gateway-a"), await startGateway("gateway-b"));
    await persister.waitForLog((log) => log.msg === "persister consuming", "the persister consuming");

    // The web server in a network namespace of its own, its port 8080 published on a free loopback port.
    web = await start("web", images.web, [...SECURE, "--publish", "127.0.0.1::8080"]);
    const published = (await podman(["port", web.name, "8080/tcp"])).stdout.trim();
    const webPort = Number(/:(\d+)$/.exec(published)?.[1]);
    expect(webPort, `podman port: ${published}`).toBeGreaterThan(0);
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${webPort}/healthz`).catch(() => undefined))?.ok,
      "the web server's /healthz",
    );

    ingress = await Ingress.start(
      gateways.map(({ port }) => ({ host: "127.0.0.1", port })),
      { host: "127.0.0.1", port: webPort },
    );
  }, BUILD_TIMEOUT_MS);

  // Each test opens its own clients. A failure shows what the containers said.
  afterEach(async ({ task }) => {
    for (const client of clients.splice(0)) client.close();
    if (task.result?.state !== "fail") return;
    for (const container of containers) {
      const output = await container.output().catch((error: unknown) => [String(error)]);
      console.log(`----- ${container.name}: last 40 lines -----\n${output.slice(-40).join("\n")}`);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await ingress?.close();
    await Promise.all(containers.map((container) => container.remove()));
    await database?.drop();
  });

  it("the gateway containers run Node 24.21.0 and load the production uWebSockets.js binary", () => {
    for (const { container, started } of gateways) {
      console.log(`${container.name}: node ${String(started.node)}, uws ${String(started.uws)}`);
      expect(started.node).toBe(NODE_VERSION);
      expect(started.uws).toBe(UWS_BINARY);
      expect(started).toMatchObject({ bus: "redis", log: "kafka", store: "postgres" });
    }
  });

  it("the gateway image holds the gateway and its seams, and no persister code", async () => {
    const list = async (folder: string) =>
      (await podman(["run", "--rm", "--ulimit", "host", "--entrypoint", "ls", images.gateway, folder])).stdout
        .split("\n")
        .filter(Boolean);
    for (const folder of ["/app", "/app/node_modules/@parley"]) {
      const entries = await list(folder);
      expect(entries).toEqual(expect.arrayContaining(["protocol", "log", "store", "gateway"]));
      expect(entries).not.toContain("persister");
      expect(entries).not.toContain("embedded");
    }
  });

  it("the web image serves the app with the gateway's security headers and cache rules", async () => {
    if (!ingress) throw new Error("no ingress");
    const page = await fetch(`${ingress.origin}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(page.headers.get("server")).toBe("nginx");
    const html = await page.text();
    const script = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script, "index.html loads a hashed script").toBeDefined();

    const asset = await fetch(`${ingress.origin}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/javascript/);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(asset.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect((await asset.text()).length).toBeGreaterThan(1000);

    // A browser's page load of a client-side route is the app; anything else that is no file is a JSON 404 (the
    // gateway's rules, gateway/src/static-files.ts).
    const pageLoad = { accept: "text/html,application/xhtml+xml,*/*;q=0.8" };
    const route = await fetch(`${ingress.origin}/rooms/lobby`, { headers: pageLoad });
    expect(route.status).toBe(200);
    expect(await route.text()).toBe(html);
    for (const [path, headers] of [
      ["/rooms/lobby", {}],
      ["/assets/missing.js", pageLoad],
      ["/favicon-missing.png", pageLoad],
      ["/metrics", pageLoad],
    ] as const) {
      const missing = await fetch(`${ingress.origin}${path}`, { headers });
      expect(missing.status, path).toBe(404);
      expect(missing.headers.get("content-type"), path).toBe("application/json");
      expect(await missing.json(), path).toMatchObject({ code: "not_found" });
    }
  });

  it("carries a chat across both gateway containers: fan-out, ack, persisted watermark, history", async () => {
    if (!ingress) throw new Error("no ingress");
    const room = uniqueName("room");
    await waitFor(() => ingress?.open.every((open) => open === 0), "no open WebSockets");
    const alice = await connect("alice");
    const bob = await connect("bob");
    expect(ingress.routes.slice(-2).map((route) => route.gateway)).toEqual([0, 1]);
    await alice.join(room);
    await bob.join(room);

    const ack = await alice.sendUntilAcked(room, "c1", "hello from gateway a");
    const delivered = await bob.next("msg", (frame) => frame.room === room && frame.cid === "c1");
    expect(delivered).toMatchObject({ seq: ack.seq, id: ack.id, from: "alice", body: "hello from gateway a" });
    await alice.next("msg", (frame) => frame.room === room && frame.id === ack.id);
    const reply = await bob.sendUntilAcked(room, "c2", "hello back from gateway b");
    expect(reply.seq).toBe(ack.seq + 1);
    await alice.next("msg", (frame) => frame.room === room && frame.id === reply.id);

    // The persister container stored both and announced it; each gateway forwards the watermark to the senders
    // whose messages it covers.
    for (const [client, seq] of [
      [alice, ack.seq],
      [bob, reply.seq],
    ] as const) {
      await client.next("persisted", (frame) => frame.room === room && frame.upTo >= seq, { timeoutMs: 30_000 });
    }
    const rows = await withClient(env.PARLEY_DATABASE_URL ?? "", async (client) => {
      const result = await client.query<{ seq: string; id: string }>(
        "SELECT seq, id FROM messages WHERE room = $1 ORDER BY seq",
        [room],
      );
      return result.rows.map((row) => ({ seq: Number(row.seq), id: row.id }));
    });
    expect(rows).toEqual([
      { seq: ack.seq, id: ack.id },
      { seq: reply.seq, id: reply.id },
    ]);

    const history = await fetch(`${ingress.origin}/api/rooms/${room}/messages?user=carol`);
    expect(history.status).toBe(200);
    const page = (await history.json()) as { room: string; messages: { id: string; body: string }[] };
    expect(page.room).toBe(room);
    expect(page.messages.map((message) => [message.id, message.body])).toEqual([
      [ack.id, "hello from gateway a"],
      [reply.id, "hello back from gateway b"],
    ]);
  });

  it("the web client from the web image chats in a real browser through both gateway containers", async () => {
    if (!ingress) throw new Error("no ingress");
    const origin = ingress.origin;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
    const problems: string[] = [];
    const room = uniqueName("browser");
    const person = async (name: string) => {
      const page = await (browser as Browser).newPage();
      page.on("pageerror", (error) => problems.push(error.message));
      // A CSP violation is reported on the console: nginx's policy must let the app run.
      page.on("console", (message) => {
        if (message.type() === "error" && /Content Security Policy/i.test(message.text()))
          problems.push(message.text());
      });
      await page.goto(origin);
      await page.getByLabel("Your name").fill(name);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.locator(".connection[data-status=online]").waitFor();
      await page.getByLabel("Join or create a room").fill(room);
      await page.getByLabel("Join or create a room").press("Enter");
      await page.getByRole("heading", { name: `#${room}` }).waitFor();
      return page;
    };
    await waitFor(() => ingress?.open.every((open) => open === 0), "no open WebSockets");
    const routed = ingress.routes.length;
    const ann = await person(uniqueName("ann"));
    const ben = await person(uniqueName("ben"));
    expect(ingress.routes.slice(routed).map((route) => route.gateway)).toEqual([0, 1]);
    const composer = ann.locator(".composer").getByRole("textbox");
    await composer.fill("hello from a browser");
    await composer.press("Enter");
    await ben.locator(".message", { hasText: "hello from a browser" }).waitFor();
    const mine = ann.locator(".message.own", { hasText: "hello from a browser" });
    await expect.poll(() => mine.getAttribute("data-delivery"), { timeout: 30_000 }).toBe("persisted");
    expect(problems).toEqual([]);
    await browser.close();
    browser = undefined;
  });

  it("every container runs as its image's non-root user", async () => {
    const expected: [Container, string, string][] = [
      ...gateways.map(({ container }): [Container, string, string] => [container, "1000", "node"]),
      [persister, "1000", "node"],
      [web, "101", "nginx"],
    ];
    for (const [container, uid, user] of expected) {
      expect(await container.exec(["id", "-u"]), container.name).toBe(uid);
      // Every process in it, PID 1 (tini, nginx's master) included, by the container's own user names.
      const { stdout } = await podman(["top", container.name, "user", "args"]);
      const rows = stdout
        .split("\n")
        .slice(1)
        .filter((line) => line.trim() !== "");
      expect(rows.length, container.name).toBeGreaterThan(0);
      for (const row of rows) expect(row.split(/\s+/)[0], `${container.name}: ${stdout}`).toBe(user);
    }
  });

  it("stops cleanly: the gateways drain with 1012, then each container exits 0 within its grace period", async () => {
    if (!ingress) throw new Error("no ingress");
    for (const [index, gateway] of gateways.entries()) {
      // A client on this gateway; then the pod leaves the endpoints and gets SIGTERM.
      for (const other of gateways.keys()) if (other !== index) ingress.withdraw(other);
      ingress.restore(index);
      const client = await connect(`leaver-${index}`);
      expect(ingress.routes.at(-1)?.gateway).toBe(index);
      ingress.withdraw(index);
      const stopped = await gateway.container.stop(GRACE_SECONDS);
      expect(await client.closed()).toBe(1012);
      expect(stopped, gateway.container.name).toMatchObject({ exitCode: 0 });
      expect(stopped.ms).toBeLessThan(GRACE_SECONDS * 1000);
      const logs = await gateway.container.logs();
      expect(logs.map((log) => log.msg)).toEqual(expect.arrayContaining(["draining", "stopped"]));
      console.log(`${gateway.container.name}: drained and exited 0 in ${stopped.ms} ms`);
    }
    for (const container of [persister, web]) {
      const stopped = await container.stop(GRACE_SECONDS);
      expect(stopped, container.name).toMatchObject({ exitCode: 0 });
      expect(stopped.ms).toBeLessThan(GRACE_SECONDS * 1000);
      console.log(`${container.name}: exited 0 in ${stopped.ms} ms`);
    }
  });
});
