import { NAME_PATTERN } from "@parley/protocol";
import { createRemoteJWKSet, errors, type JWTVerifyGetKey, type JWTVerifyOptions, jwtVerify } from "jose";
import { AuthError, type Authenticator, type Credentials } from "./auth.js";

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
  /** Tolerated clock difference in seconds for `exp`/`nbf`. @default 30 */
  readonly clockToleranceSeconds?: number;
}

/** Verifies JWTs (signature, `exp`, `nbf`, issuer, audience) with jose. */
export class JwtAuthenticator implements Authenticator {
  readonly #key: JWTVerifyGetKey;
  readonly #verifyOptions: JWTVerifyOptions;
  readonly #userClaim: string;

  constructor(options: JwtAuthenticatorOptions) {
    const { keys, issuer, audience, userClaim = "sub", clockToleranceSeconds = 30 } = options;
    if ("secret" in keys) {
      const secret = new TextEncoder().encode(keys.secret);
      this.#key = async () => secret;
    } else {
      this.#key = createRemoteJWKSet(new URL(keys.jwksUrl));
    }
    this.#verifyOptions = {
      algorithms: "secret" in keys ? ["HS256"] : ["RS256", "ES256"],
      clockTolerance: clockToleranceSeconds,
      requiredClaims: ["exp"],
      ...(issuer === undefined ? {} : { issuer }),
      ...(audience === undefined ? {} : { audience }),
    };
    this.#userClaim = userClaim;
  }

  async authenticate({ token }: Credentials): Promise<string> {
    if (token === undefined) throw new AuthError("missing token");
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.#key, this.#verifyOptions));
    } catch (error) {
      // jose's JOSEError covers every verdict on the token itself; anything else (JWKS fetch failed) is ours.
      if (error instanceof errors.JOSEError && !(error instanceof errors.JWKSTimeout)) {
        throw new AuthError(`invalid token: ${error.code}`);
      }
      throw error;
    }
    const user = payload[this.#userClaim];
    if (typeof user !== "string" || !NAME_PATTERN.test(user)) {
      throw new AuthError(`token claim ${this.#userClaim} is not a valid user name`);
    }
    return user;
  }
}
