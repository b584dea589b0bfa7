/** What a client presented when connecting or calling the HTTP API. */
export interface Credentials {
  /** From `?token=` or `Authorization: Bearer`. */
  readonly token?: string;
  /** From `?user=`, honoured only by the dev authenticator. */
  readonly user?: string;
  /** From `?admin=1`, honoured only by the dev authenticator. */
  readonly admin?: boolean;
}

/** Who a client is. */
export interface Identity {
  readonly user: string;
  /** May delete anyone's messages (moderation). */
  readonly admin: boolean;
}

/** Thrown for credentials that do not identify a user; the reason goes to logs and the 401 body. */
export class AuthError extends Error {
  override readonly name = "AuthError";
}

/**
 * Turns credentials into an identity.
 *
 * Guarantees any implementation must give: it resolves only with a valid user name (`NAME_PATTERN`), and rejects
 * with {@link AuthError} for missing, malformed, expired or untrusted credentials; other errors mean the
 * authenticator itself failed (e.g. the JWKS endpoint is down) and are retriable. It should settle without waiting on
 * I/O or the thread pool whenever it can: an upgrade decided within the request's callback avoids a uWS bug (see
 * `server.ts`).
 */
export interface Authenticator {
  authenticate(credentials: Credentials): Promise<Identity>;
}
