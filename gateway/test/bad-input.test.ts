import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloseCode, ErrorCode, MAX_BODY_LENGTH, MAX_FRAME_BYTES } from "@parley/protocol";
import { uniqueName } from "@parley/testkit";
import { GatewayProcess } from "@parley/testkit/gateway-process";
import { TestClient, UpgradeRefused } from "@parley/testkit/ws-client";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

/**
 * The bad-input table: what each kind of bad input gets, on a real gateway process. After every case the same
 * process still serves a well-behaved client.
 */
describe("bad input", () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  const secret = "bad-input-test-secret-bad-input-test-secret";
  let jwtGateway: GatewayProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "parley-bad-input-"));
    [gateway, jwtGateway] = await Promise.all([
      GatewayProcess.start({
        PARLEY_DATA_DIR: join(dataDir, "dev"),
        PARLEY_RATE_BURST: "20",
        PARLEY_RATE_PER_SECOND: "5",
      }),
      GatewayProcess.start({
        PARLEY_DATA_DIR: join(dataDir, "jwt"),
        PARLEY_AUTH: "jwt",
        PARLEY_JWT_SECRET: secret,
        PARLEY_JWT_ISSUER: "parley-test",
      }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([gateway?.service.stop(), jwtGateway?.service.stop()]);
    await rm(dataDir, { recursive: true, force: true });
  });

  /** A fresh client and a room it has joined. */
  async function joined(user = uniqueName("u")) {
    const client = await gateway.connect(user);
    const room = uniqueName("room");
    await client.join(room);
    return { client, room, user };
  }

  /** The gateway still works for others: a new client can join, send and get its ack. */
  async function stillServes() {
    const { client, room } = await joined();
    const from = client.frames.length;
    client.send({ t: "send", room, cid: "alive", body: "still here" });
    await client.next("ack", (frame) => frame.cid === "alive", { from });
    client.close();
  }

  it.each([
    ["non-JSON", "hello", ErrorCode.BadRequest, undefined],
    ["an unknown type", '{"t":"explode"}', ErrorCode.BadRequest, undefined],
    ["a send without body", '{"t":"send","room":"r","cid":"c1"}', ErrorCode.BadRequest, "c1"],
    ["a room of the wrong type", '{"t":"join","room":5}', ErrorCode.BadRequest, undefined],
    ["a body of the wrong type", '{"t":"send","room":"r","cid":"c2","body":7}', ErrorCode.BadRequest, "c2"],
    ["a room name with spaces", '{"t":"join","room":"two words"}', ErrorCode.BadRequest, undefined],
    ["a room name too long", JSON.stringify({ t: "join", room: "r".repeat(65) }), ErrorCode.BadRequest, undefined],
    ["a room name with a bad first character", '{"t":"join","room":"-dash"}', ErrorCode.BadRequest, undefined],
    ["an unsorted DM room", '{"t":"join","room":"dm:zed:amy"}', ErrorCode.BadRequest, undefined],
    [
      "a body over the limit",
      JSON.stringify({ t: "send", room: "r", cid: "c3", body: "x".repeat(MAX_BODY_LENGTH + 1) }),
      ErrorCode.TooLarge,
      "c3",
    ],
  ])("answers %s with an error frame and keeps the connection", async (_what, text, code, cid) => {
    const { client, room } = await joined();
    const from = client.frames.length;
    client.sendRaw(text);
    const error = await client.next("error", () => true, { from });
    expect(error).toMatchObject({ code, ...(cid ? { cid } : {}) });
    client.send({ t: "ping" });
    await client.next("pong", () => true, { from });
    expect(client.closeCode).toBeUndefined();
    expect(room).toBeTruthy();
    client.close();
    await stillServes();
  });

  it("answers joining another user's DM with forbidden", async () => {
    const { client } = await joined("amy");
    const from = client.frames.length;
    client.send({ t: "join", room: "dm:bob:carol" });
    expect(await client.next("error", () => true, { from })).toMatchObject({ code: ErrorCode.Forbidden });
    expect((await client.join("dm:amy:bob")).seq).toBe(0);
    client.close();
  });

  it("answers sending to a room not joined with not_joined and the cid", async () => {
    const { client } = await joined();
    const from = client.frames.length;
    client.send({ t: "send", room: uniqueName("elsewhere"), cid: "c4", body: "hi" });
    expect(await client.next("error", () => true, { from })).toMatchObject({ code: ErrorCode.NotJoined, cid: "c4" });
    client.close();
  });

  it("answers a burst over the rate limit with rate_limited and sequences nothing for it", async () => {
    const { client, room } = await joined();
    for (let index = 0; index < 40; index++) client.send({ t: "send", room, cid: `burst-${index}`, body: "spam" });
    await client.next("error", (frame) => frame.code === ErrorCode.RateLimited);
    const acks = () => client.frames.filter((frame) => frame.t === "ack").length;
    const limited = () => client.frames.filter((frame) => frame.t === "error" && frame.code === ErrorCode.RateLimited);
    await expect.poll(() => acks() + limited().length).toBe(40);
    expect(acks()).toBeLessThan(40);
    expect(client.messages(room).length).toBe(acks());
    client.close();
    await stillServes();
  });

  it("closes a binary frame with 1003", async () => {
    const { client } = await joined();
    client.sendRaw(Buffer.from([1, 2, 3]), true);
    expect(await client.closed()).toBe(CloseCode.UnsupportedData);
    await stillServes();
  });

  it("drops a text frame of invalid UTF-8 with the connection, no close frame (uWS checks it): 1006", async () => {
    const { client } = await joined();
    client.sendRaw(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])); // "{", a truncated two-byte sequence, "}"
    expect(await client.closed()).toBe(1006);
    await stillServes();
  });

  it("closes a flood of undecodable frames with 1008 after a bounded number of error frames", async () => {
    // This gateway allows bursts of 20 frames and 5 a second, so 5 x 20 refused frames, plus 5 a second.
    const { client } = await joined();
    const bystander = await joined();
    const from = client.frames.length;
    const started = performance.now();
    for (let index = 0; index < 5_000; index++) client.sendRaw(`garbage ${index}`);
    expect(await client.closed()).toBe(CloseCode.PolicyViolation);
    const seconds = (performance.now() - started) / 1000;
    const errors = client.frames.slice(from).filter((frame) => frame.t === "error");
    expect(errors.length).toBeGreaterThanOrEqual(100);
    expect(errors.length).toBeLessThanOrEqual(100 + Math.ceil(5 * seconds) + 1);
    expect(errors.every((frame) => frame.code === ErrorCode.BadRequest)).toBe(true);
    const pinged = performance.now();
    const at = bystander.client.frames.length;
    bystander.client.send({ t: "ping" });
    await bystander.client.next("pong", () => true, { from: at });
    expect(performance.now() - pinged).toBeLessThan(1_000);
    bystander.client.close();
    await stillServes();
  });

  it("closes a frame over the hard size limit with 1009", async () => {
    const { client } = await joined();
    client.sendRaw("x".repeat(MAX_FRAME_BYTES + 1));
    expect(await client.closed()).toBe(CloseCode.MessageTooBig);
    await stillServes();
  });

  it("refuses an upgrade without a user in dev mode with 401", async () => {
    await expect(TestClient.connect(gateway.wsUrl(""))).rejects.toEqual(new UpgradeRefused(401));
    await expect(TestClient.connect(gateway.wsUrl("user=bad%20name"))).rejects.toEqual(new UpgradeRefused(401));
  });

  describe("JWT mode", () => {
    const key = new TextEncoder().encode(secret);
    const token = (claims: Record<string, unknown>, exp: number | string = "5m", signWith = key) =>
      new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(exp).sign(signWith);

    it("accepts a valid token in the query and in the Authorization header", async () => {
      const valid = await token({ sub: "jwt-user", iss: "parley-test" });
      const viaQuery = await TestClient.connect(jwtGateway.wsUrl(`token=${valid}`));
      const viaHeader = await TestClient.connect(jwtGateway.wsUrl(""), { authorization: `Bearer ${valid}` });
      viaQuery.close();
      viaHeader.close();
    });

    it.each([
      ["expired", () => token({ sub: "u", iss: "parley-test" }, Math.floor(Date.now() / 1000) - 300)],
      ["forged", () => token({ sub: "u", iss: "parley-test" }, "5m", new TextEncoder().encode(`${secret}!`))],
      ["from the wrong issuer", () => token({ sub: "u", iss: "elsewhere" })],
      ["malformed", async () => "not.a.jwt"],
    ])("refuses an upgrade with a token that is %s with 401", async (_what, make) => {
      await expect(TestClient.connect(jwtGateway.wsUrl(`token=${await make()}`))).rejects.toEqual(
        new UpgradeRefused(401),
      );
    });

    // uWS closes a socket upgraded after an async hop right after `open` when stale HTTP state says "close"
    // (uWebSockets#1929). A request marked `Connection: close` makes that state certain; before the token was checked
    // within the request's callback, 19 of 20 such upgrades were closed at once (and, at random, 3 of a fresh gateway's
    // first 20 ordinary ones).
    it("keeps a token-authenticated connection open after the upgrade, even one whose request said Connection: close", async () => {
      const valid = await token({ sub: "jwt-raw", iss: "parley-test" });
      const socket = connect(jwtGateway.port, "127.0.0.1");
      const received: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => received.push(chunk));
      const text = () => Buffer.concat(received).toString("latin1");
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(
        [
          "GET /ws HTTP/1.1",
          "Host: 127.0.0.1",
          "Upgrade: websocket",
          "Connection: close",
          `Authorization: Bearer ${valid}`,
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
          "Sec-WebSocket-Version: 13",
          "",
          "",
        ].join("\r\n"),
      );
      await vi.waitFor(() => expect(text()).toMatch(/^HTTP\/1\.1 101 [\s\S]*\r\n\r\n/));
      await new Promise((resolve) => setTimeout(resolve, 200));
      socket.write(maskedTextFrame(JSON.stringify({ t: "ping" })));
      await vi.waitFor(() => expect(text()).toContain('{"t":"pong"}'));
      expect(socket.destroyed).toBe(false);
      socket.destroy();
    });

    it("ignores ?user= in JWT mode", async () => {
      await expect(TestClient.connect(jwtGateway.wsUrl("user=alice"))).rejects.toEqual(new UpgradeRefused(401));
    });
  });

  describe("history, search and inbox APIs", () => {
    it.each([
      ["/api/rooms/lobby/messages?user=amy&limit=0", 400],
      ["/api/rooms/lobby/messages?user=amy&limit=100000", 400],
      ["/api/rooms/lobby/messages?user=amy&before=abc", 400],
      ["/api/rooms/lobby/messages?user=amy&before=0", 400],
      ["/api/rooms/two%20words/messages?user=amy", 400],
      ["/api/rooms/%E0%A4%A/messages?user=amy", 400],
      ["/api/rooms/lobby/messages", 401],
      ["/api/rooms/dm:bob:carol/messages?user=amy", 403],
      ["/api/rooms/lobby/messages?user=amy", 200],
      ["/api/search?user=amy&q=hello", 200],
      ["/api/search?user=amy&q=hello&room=dm:amy:bob&limit=5", 200],
      ["/api/search?q=hello", 401],
      ["/api/search?user=amy", 400],
      ["/api/search?user=amy&q=%20%20", 400],
      ["/api/search?user=amy&q=a%00b", 400],
      [`/api/search?user=amy&q=${"x".repeat(201)}`, 400],
      ["/api/search?user=amy&q=hello&limit=0", 400],
      ["/api/search?user=amy&q=hello&limit=100000", 400],
      ["/api/search?user=amy&q=hello&before=nope!", 400],
      ["/api/search?user=amy&q=hello&room=two%20words", 400],
      ["/api/search?user=amy&q=hello&room=dm:bob:carol", 403],
      ["/api/inbox?user=amy", 200],
      ["/api/inbox", 401],
      ["/api/me?user=amy", 200],
      ["/api/me", 401],
      ["/api/nothing-here", 404],
    ])("answers GET %s with %i", async (path, status) => {
      const response = await gateway.fetch(path);
      expect(response.status).toBe(status);
      if (status !== 200)
        expect(await response.json()).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    });
  });
});

/** A client's (masked) text frame, for a connection made without a WebSocket library; payloads under 126 bytes. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  return Buffer.concat([
    Buffer.from([0x81, 0x80 | payload.length]),
    mask,
    payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0)),
  ]);
}
