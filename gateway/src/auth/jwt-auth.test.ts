import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authContract } from "./auth.contract.js";
import { AuthError } from "./auth.js";
import { JwtAuthenticator } from "./jwt-auth.js";

const secret = "a-test-secret-that-is-long-enough-for-hs256";
const key = new TextEncoder().encode(secret);

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

  it("accepts a token with the expected issuer and audience", async () => {
    await expect(auth.authenticate({ token: await hs256(valid) })).resolves.toBe("alice");
  });

  it.each([
    ["expired", () => hs256(valid, { expiresIn: Math.floor(Date.now() / 1000) - 120 })],
    ["forged (another secret)", () => hs256(valid, { signWith: new TextEncoder().encode(`${secret}-forged`) })],
    ["from another issuer", () => hs256({ ...valid, iss: "someone-else" })],
    ["for another audience", () => hs256({ ...valid, aud: "other" })],
    ["without a user claim", () => hs256({ iss: valid.iss, aud: valid.aud })],
    ["unsigned (alg none)", async () => `${btoa('{"alg":"none"}')}.${btoa(JSON.stringify(valid))}.`],
    ["not a JWT at all", async () => "garbage"],
  ])("rejects a token %s with AuthError", async (_name, token) => {
    await expect(auth.authenticate({ token: await token() })).rejects.toBeInstanceOf(AuthError);
  });

  it("ignores ?user= so a client cannot pick its identity", async () => {
    await expect(auth.authenticate({ user: "alice" })).rejects.toBeInstanceOf(AuthError);
  });
});

describe("JwtAuthenticator with a JWKS endpoint", () => {
  let server: Server;
  let jwksUrl: string;
  let sign: (claims: Record<string, unknown>, kid?: string) => Promise<string>;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    server = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    sign = (claims, kid = "k1") =>
      new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid }).setExpirationTime("5m").sign(privateKey);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  authContract("jwt ES256 via JWKS", async () => ({
    auth: new JwtAuthenticator({ keys: { jwksUrl } }),
    credentialsFor: async (user) => ({ token: await sign({ sub: user }) }),
  }));

  it("rejects a token whose key id the JWKS does not have", async () => {
    const auth = new JwtAuthenticator({ keys: { jwksUrl } });
    await expect(auth.authenticate({ token: await sign({ sub: "alice" }, "unknown") })).rejects.toBeInstanceOf(
      AuthError,
    );
  });

  it("rejects an HS256 token even when its secret is the public key material", async () => {
    const auth = new JwtAuthenticator({ keys: { jwksUrl } });
    await expect(auth.authenticate({ token: await hs256({ sub: "alice" }) })).rejects.toBeInstanceOf(AuthError);
  });

  it("reports an unreachable JWKS endpoint as its own failure, not the client's", async () => {
    const auth = new JwtAuthenticator({ keys: { jwksUrl: "http://127.0.0.1:1/jwks.json" } });
    const failure = await auth.authenticate({ token: await sign({ sub: "alice" }) }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(AuthError);
  });
});
