import { createHmac, createPublicKey, type JsonWebKey, type KeyObject, timingSafeEqual, verify } from "node:crypto";
import { NAME_PATTERN } from "@parley/protocol";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, type JWK, type RemoteJWKSet } from "jose";
import { AuthError, type Authenticator, type Credentials, type Identity } from "./auth.js";

export type JwtKeySource =
  /** A shared HMAC secret; tokens must be HS256. */
  | { readonly secret: string }
  /** A JWKS endpoint (cached, refetched on unknown `kid`); tokens must be RS256 or ES256. */
  | { readonly jwksUrl: string };

export interface JwtAuthenticatorOptions {
  readonly keys: JwtKeySource;
  /** Required `iss`, when set. */
  readonly issuer?: string;
  /** Required `aud`, when set. */
  readonly audience?: string;
  /** Claim holding the user id. @default "sub" */
  readonly userClaim?: string;
  /** Claim holding the user's roles, an array of strings. @default "roles" */
  readonly rolesClaim?: string;
  /** The role among them that makes a user an admin (who may delete anyone's messages); unset: nobody is. */
  readonly adminRole?: string;
  /** Tolerated clock difference in seconds for `exp`/`nbf`. @default 30 */
  readonly clockToleranceSeconds?: number;
  /** After a JWKS fetch, how long an unknown `kid` is refused without fetching again. @default 30 */
  readonly jwksCooldownSeconds?: number;
}

type Algorithm = "HS256" | "RS256" | "ES256";

/**
 * Verifies JWTs (signature, `exp`, `nbf`, issuer, audience).
 *
 * The check itself is synchronous (node:crypto), so a token is answered within the upgrade request's callback:
 * jose's verify goes through WebCrypto's thread pool, and a WebSocket upgrade completed after such a hop can be closed
 * by uWS right after `open` (uWebSockets#1929, not fixed in the uWS build we run). jose still parses the token and
 * fetches and caches the JWKS; only a JWKS fetch (at start, on an unknown `kid`) makes an upgrade wait.
 */
export class JwtAuthenticator implements Authenticator {
  readonly #algorithms: readonly Algorithm[];
  readonly #secret: Buffer | undefined;
  readonly #jwks: RemoteJWKSet | undefined;
  readonly #publicKeys = new WeakMap<JWK, KeyObject>();
  readonly #issuer: string | undefined;
  readonly #audience: string | undefined;
  readonly #userClaim: string;
  readonly #rolesClaim: string;
  readonly #adminRole: string | undefined;
  readonly #clockTolerance: number;

  constructor(options: JwtAuthenticatorOptions) {
    const { keys, issuer, audience, userClaim = "sub", clockToleranceSeconds = 30, jwksCooldownSeconds = 30 } = options;
    if ("secret" in keys) {
      this.#secret = Buffer.from(keys.secret, "utf8");
      this.#algorithms = ["HS256"];
    } else {
      this.#jwks = createRemoteJWKSet(new URL(keys.jwksUrl), { cooldownDuration: jwksCooldownSeconds * 1000 });
      this.#algorithms = ["RS256", "ES256"];
      // Fetched ahead so the first connections need not wait; a failure here is met again, and reported, by the
      // first token that needs the keys.
      this.#jwks.reload().catch(() => {});
    }
    this.#issuer = issuer;
    this.#audience = audience;
    this.#userClaim = userClaim;
    this.#rolesClaim = options.rolesClaim ?? "roles";
    this.#adminRole = options.adminRole;
    this.#clockTolerance = clockToleranceSeconds;
  }

  async authenticate({ token }: Credentials): Promise<Identity> {
    if (token === undefined) throw new AuthError("missing token");
    const header = decodeOrRefuse(() => decodeProtectedHeader(token));
    const alg = this.#algorithms.find((allowed) => allowed === header.alg);
    if (alg === undefined) throw new AuthError(`invalid token: algorithm ${String(header.alg)} is not accepted`);
    if (header.crit !== undefined) throw new AuthError("invalid token: crit header parameters are not supported");
    const [encodedHeader = "", encodedPayload = "", encodedSignature = ""] = token.split(".");
    const signingInput = Buffer.from(`${encodedHeader}.${encodedPayload}`);
    const signature = Buffer.from(encodedSignature, "base64url");
    const valid =
      this.#secret === undefined
        ? publicKeyVerifies(
            alg,
            this.#publicKey(alg, header.kid) ?? (await this.#refetchedKey(alg, header.kid)),
            signingInput,
            signature,
          )
        : hmacVerifies(this.#secret, signingInput, signature);
    if (!valid) throw new AuthError("invalid token: signature verification failed");
    const payload = decodeOrRefuse(() => decodeJwt(token));
    this.#checkClaims(payload);
    const user = payload[this.#userClaim];
    if (typeof user !== "string" || !NAME_PATTERN.test(user)) {
      throw new AuthError(`token claim ${this.#userClaim} is not a valid user name`);
    }
    const roles = payload[this.#rolesClaim];
    const admin = this.#adminRole !== undefined && Array.isArray(roles) && roles.includes(this.#adminRole);
    return { user, admin };
  }

  #checkClaims(payload: Record<string, unknown>): void {
    const now = Math.floor(Date.now() / 1000);
    const { exp, nbf, iss, aud } = payload;
    if (typeof exp !== "number") throw new AuthError("invalid token: exp is missing or not a number");
    if (exp <= now - this.#clockTolerance) throw new AuthError("invalid token: expired");
    if (nbf !== undefined && (typeof nbf !== "number" || nbf > now + this.#clockTolerance)) {
      throw new AuthError("invalid token: not valid yet (nbf)");
    }
    if (this.#issuer !== undefined && iss !== this.#issuer) throw new AuthError("invalid token: unexpected issuer");
    if (
      this.#audience !== undefined &&
      !(aud === this.#audience || (Array.isArray(aud) && aud.includes(this.#audience)))
    ) {
      throw new AuthError("invalid token: unexpected audience");
    }
  }

  /** The JWKS key for this token from the cached set, without waiting; a stale set is refreshed in the background. */
  #publicKey(alg: Algorithm, kid: string | undefined): KeyObject | undefined {
    const jwks = this.#jwks;
    if (jwks === undefined) return undefined;
    if (!jwks.fresh && !jwks.reloading) jwks.reload().catch(() => {});
    const candidates = (jwks.jwks()?.keys ?? []).filter(
      (jwk) =>
        (kid === undefined || jwk.kid === kid) &&
        (jwk.alg === undefined || jwk.alg === alg) &&
        jwk.use !== "enc" &&
        jwk.kty === (alg === "RS256" ? "RSA" : "EC") &&
        (alg !== "ES256" || jwk.crv === "P-256"),
    );
    if (candidates.length > 1) throw new AuthError("invalid token: more than one JWKS key matches; set kid");
    const jwk = candidates[0];
    if (jwk === undefined) return undefined;
    let key = this.#publicKeys.get(jwk);
    if (key === undefined) {
      key = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
      if ((key.asymmetricKeyDetails?.modulusLength ?? 2048) < 2048) {
        throw new AuthError("invalid token: its RSA key is shorter than 2048 bits");
      }
      this.#publicKeys.set(jwk, key);
    }
    return key;
  }

  /** The key after fetching the JWKS again: for a key id it did not have, or before the first fetch succeeded. */
  async #refetchedKey(alg: Algorithm, kid: string | undefined): Promise<KeyObject> {
    const jwks = this.#jwks;
    if (jwks === undefined) throw new Error("no key source");
    // Fetch failures are ours (the endpoint is down), not the client's: they propagate as they are.
    if (!jwks.coolingDown || jwks.jwks() === undefined) await jwks.reload();
    const key = this.#publicKey(alg, kid);
    if (key === undefined) throw new AuthError("invalid token: no JWKS key matches it");
    return key;
  }
}

function hmacVerifies(secret: Buffer, signingInput: Buffer, signature: Buffer): boolean {
  const expected = createHmac("sha256", secret).update(signingInput).digest();
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}

function publicKeyVerifies(alg: Algorithm, key: KeyObject, signingInput: Buffer, signature: Buffer): boolean {
  return verify("sha256", signingInput, alg === "ES256" ? { key, dsaEncoding: "ieee-p1363" } : key, signature);
}

/** jose's decoders only read the client's token, so whatever they throw is the client's fault. */
function decodeOrRefuse<T>(decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    throw new AuthError(`invalid token: ${error instanceof errors.JOSEError ? error.code : String(error)}`);
  }
}
