import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { authContract } from "./auth.contract.js";
import { AuthError } from "./auth.js";
import { JwtAuthenticator } from "./jwt-auth.js";

const secret = "a-test-secret-that-is-long-enough-for-hs256";
const key = new TextEncoder().encode(secret);

/** A token jose would refuse to produce, signed with node:crypto. */
function handSigned(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const encode = (part: unknown) => Buffer.from(JSON.stringify(part)).toString("base64url");
  const input = `${encode(header)}.${encode({ exp: Math.floor(Date.now() / 1000) + 300, ...claims })}`;
  return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

function hs256(claims: Record<string, unknown>, { expiresIn = "5m" as string | number, signWith = key } = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(expiresIn).sign(signWith);
}

authContract("jwt HS256", async () => ({
  auth: new JwtAuthenticator({ keys: { secret } }),
  credentialsFor: async (user) => ({ token: await hs256({ sub: user }) }),
}));

describe("JwtAuthenticator with a shared secret", () => {
  const auth = new JwtAuthenticator({ keys: { secret }, issuer: "parley-test", audience: "chat" });
  const valid = { sub: "alice", iss: "parley-test", aud: "chat" };

  it("makes an admin only of a token whose roles claim holds the configured admin role", async () => {
    const moderated = new JwtAuthenticator({ keys: { secret }, adminRole: "parley-admin" });
    const identity = async (claims: Record<string, unknown>, by = moderated) =>
      by.authenticate({ token: await hs256({ sub: "alice", ...claims }) });
    await expect(identity({ roles: ["user", "parley-admin"] })).resolves.toEqual({ user: "alice", admin: true });
    await expect(identity({ roles: ["user"] })).resolves.toEqual({ user: "alice", admin: false });
    await expect(identity({ roles: "parley-admin" })).resolves.toEqual({ user: "alice", admin: false });
    await expect(identity({})).resolves.toEqual({ user: "alice", admin: false });
    const plain = new JwtAuthenticator({ keys: { secret } });
    await expect(identity({ roles: ["parley-admin"] }, plain)).resolves.toEqual({ user: "alice", admin: false });
    const custom = new JwtAuthenticator({ keys: { secret }, rolesClaim: "groups", adminRole: "mods" });
    await expect(identity({ groups: ["mods"] }, custom)).resolves.toEqual({ user: "alice", admin: true });
  });

  it("accepts a token with the expected issuer and audience", async () => {
    await expect(auth.authenticate({ token: await hs256(valid) })).resolves.toMatchObject({ user: "alice" });
    await expect(auth.authenticate({ token: handSigned({ alg: "HS256" }, valid) })).resolves.toMatchObject({
      user: "alice",
    });
  });

  it.each([
    ["expired", () => hs256(valid, { expiresIn: Math.floor(Date.now() / 1000) - 120 })],
    ["forged (another secret)", () => hs256(valid, { signWith: new TextEncoder().encode(`${secret}-forged`) })],
    ["from another issuer", () => hs256({ ...valid, iss: "someone-else" })],
    ["for another audience", () => hs256({ ...valid, aud: "other" })],
    ["without a user claim", () => hs256({ iss: valid.iss, aud: valid.aud })],
    ["unsigned (alg none)", async () => `${btoa('{"alg":"none"}')}.${btoa(JSON.stringify(valid))}.`],
    ["not a JWT at all", async () => "garbage"],
    ["not valid yet (nbf an hour ahead)", () => hs256({ ...valid, nbf: Math.floor(Date.now() / 1000) + 3600 })],
    ["without exp", () => new SignJWT(valid).setProtectedHeader({ alg: "HS256" }).sign(key)],
    [
      "with a crit header parameter (jose will not sign one)",
      async () => handSigned({ alg: "HS256", crit: ["exp"] }, valid),
    ],
    ["with its signature cut short", async () => (await hs256(valid)).slice(0, -4)],
  ])("rejects a token %s with AuthError", async (_name, token) => {
    await expect(auth.authenticate({ token: await token() })).rejects.toBeInstanceOf(AuthError);
  });

  it("accepts an audience given as a list that holds ours, and a token within the clock tolerance", async () => {
    await expect(
      auth.authenticate({ token: await hs256({ ...valid, aud: ["other", "chat"] }) }),
    ).resolves.toMatchObject({
      user: "alice",
    });
    const justExpired = Math.floor(Date.now() / 1000) - 10;
    await expect(auth.authenticate({ token: await hs256(valid, { expiresIn: justExpired }) })).resolves.toMatchObject({
      user: "alice",
    });
  });

  it("answers before any I/O or thread-pool callback runs (a WebSocket upgrade must finish in its request callback)", async () => {
    const token = await hs256(valid);
    const order: string[] = [];
    setImmediate(() => order.push("next loop turn"));
    await auth.authenticate({ token });
    order.push("answered");
    expect(order).toEqual(["answered"]);
  });

  it("ignores ?user= so a client cannot pick its identity", async () => {
    await expect(auth.authenticate({ user: "alice" })).rejects.toBeInstanceOf(AuthError);
  });
});

describe("JwtAuthenticator with a JWKS endpoint", () => {
  type Signer = (claims: Record<string, unknown>) => Promise<string>;
  let server: Server;
  let jwksUrl: string;
  let fetches = 0;
  let published: JWK[] = [];

  async function signer(alg: "ES256" | "RS256", kid: string | undefined, publish = true): Promise<Signer> {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    if (publish)
      published.push({ ...(await exportJWK(publicKey)), ...(kid === undefined ? {} : { kid }), alg, use: "sig" });
    return (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }) })
        .setExpirationTime("5m")
        .sign(privateKey);
  }

  beforeAll(async () => {
    server = createServer((_req, res) => {
      fetches++;
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  beforeEach(() => {
    published = [];
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  authContract("jwt ES256 via JWKS", async () => {
    const sign = await signer("ES256", "k1");
    return {
      auth: new JwtAuthenticator({ keys: { jwksUrl } }),
      credentialsFor: async (user) => ({ token: await sign({ sub: user }) }),
    };
  });

  it("accepts RS256 and ES256 keys from one set, chosen by kid", async () => {
    const es = await signer("ES256", "es");
    const rs = await signer("RS256", "rs");
    const auth = new JwtAuthenticator({ keys: { jwksUrl } });
    await expect(auth.authenticate({ token: await es({ sub: "alice" }) })).resolves.toMatchObject({ user: "alice" });
    await expect(auth.authenticate({ token: await rs({ sub: "bob" }) })).resolves.toMatchObject({ user: "bob" });
  });

  it("fetches the set at start, then answers without waiting on anything", async () => {
    const sign = await signer("ES256", "k1");
    const before = fetches;
    const auth = new JwtAuthenticator({ keys: { jwksUrl } });
    await vi.waitFor(() => expect(fetches).toBe(before + 1));
    const token = await sign({ sub: "alice" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const order: string[] = [];
    setImmediate(() => order.push("next loop turn"));
    await expect(auth.authenticate({ token })).resolves.toMatchObject({ user: "alice" });
    order.push("answered");
    expect(order).toEqual(["answered"]);
  });

  it("fetches the set again for a key id it does not have, once the cool-down has passed", async () => {
    await signer("ES256", "old");
    const auth = new JwtAuthenticator({ keys: { jwksUrl }, jwksCooldownSeconds: 0.05 });
    await vi.waitFor(() => expect(fetches).toBeGreaterThan(0));
    const rotated = await signer("ES256", "new");
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(auth.authenticate({ token: await rotated({ sub: "alice" }) })).resolves.toMatchObject({
      user: "alice",
    });
  });

  it.each([
    ["whose key id the set does not have", () => signer("ES256", "unpublished", false)],
    [
      "signed by another key under a published key id",
      async () => {
        await signer("ES256", "k1");
        return signer("ES256", "k1", false);
      },
    ],
    [
      "without kid when the set holds two keys of its kind",
      async () => {
        await signer("ES256", "a");
        await signer("ES256", "b");
        return signer("ES256", undefined, false);
      },
    ],
  ])("rejects a token %s with AuthError", async (_name, makeSigner) => {
    const sign = await makeSigner();
    const auth = new JwtAuthenticator({ keys: { jwksUrl } });
    await expect(auth.authenticate({ token: await sign({ sub: "alice" }) })).rejects.toBeInstanceOf(AuthError);
  });

  it("rejects an HS256 token: a JWKS-configured gateway takes public-key algorithms only", async () => {
    await signer("ES256", "k1");
    const auth = new JwtAuthenticator({ keys: { jwksUrl } });
    await expect(auth.authenticate({ token: await hs256({ sub: "alice" }) })).rejects.toBeInstanceOf(AuthError);
  });

  it("reports an unreachable JWKS endpoint as its own failure, not the client's", async () => {
    const sign = await signer("ES256", "k1");
    const auth = new JwtAuthenticator({ keys: { jwksUrl: "http://127.0.0.1:1/jwks.json" } });
    const failure = await auth.authenticate({ token: await sign({ sub: "alice" }) }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(AuthError);
  });
});
