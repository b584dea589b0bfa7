import {
  describeIssue,
  ErrorCode,
  type Inbox,
  isRoomName,
  type Me,
  mayAccess,
  type SearchPage,
  searchQuerySchema,
} from "@parley/protocol";
import type { SearchPosition, Store } from "@parley/store";
import { z } from "zod";
import { AuthError, type Authenticator, type Credentials, type Identity } from "./auth/auth.js";
import { type InboxContext, readInbox } from "./inbox.js";
import type { HttpRequest, HttpResponse } from "./server.js";

/** Credentials from `?token=`, `Authorization: Bearer` and (dev mode) `?user=`. */
export function credentialsOf(request: HttpRequest): Credentials {
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
  const token = request.query.get("token") ?? bearer;
  const user = request.query.get("user");
  const admin = request.query.get("admin") === "1";
  return { ...(token ? { token } : {}), ...(user === null ? {} : { user }), ...(admin ? { admin } : {}) };
}

export function jsonResponse(status: number, body: unknown): HttpResponse {
  return {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: JSON.stringify(body),
  };
}

export function errorResponse(status: number, code: ErrorCode, message: string): HttpResponse {
  return jsonResponse(status, { code, message });
}

/** 405 with the `Allow` header listing what the path takes. */
export function methodNotAllowed(allow: readonly string[]): HttpResponse {
  const response = errorResponse(405, ErrorCode.MethodNotAllowed, `this path takes ${allow.join(", ")}`);
  return { ...response, headers: { ...response.headers, allow: allow.join(", ") } };
}

/** A path segment URL-decoded, or undefined when it is not valid URL encoding (or missing). */
export function decodedSegment(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Authenticates a request; a refusal comes back as the HTTP response to send. */
export async function authenticateRequest(
  auth: Authenticator,
  request: HttpRequest,
): Promise<Identity | { refusal: HttpResponse }> {
  try {
    return await auth.authenticate(credentialsOf(request));
  } catch (error) {
    if (error instanceof AuthError) return { refusal: errorResponse(401, ErrorCode.Unauthorized, error.message) };
    return { refusal: errorResponse(503, ErrorCode.Unavailable, "authentication is unavailable") };
  }
}

export interface HistoryOptions {
  readonly auth: Authenticator;
  readonly store: Pick<Store, "history">;
  /** Largest `limit` a client may ask for. */
  readonly maxLimit: number;
}

const HISTORY_PATH = /^\/api\/rooms\/([^/]+)\/messages$/;
const wholeNumber = z
  .string()
  .regex(/^\d{1,15}$/, "expected a whole number")
  .transform(Number);

/**
 * `GET /api/rooms/{room}/messages?before=<seq>&limit=<n>`: a page of persisted messages, ascending, each as it stands
 * now (edited, deleted, its reactions as the caller sees them), with the cursor for the next older page
 * (`nextBefore`, absent on the last page). Same credentials and room rules as `join`.
 */
export async function historyRoute(request: HttpRequest, options: HistoryOptions): Promise<HttpResponse | undefined> {
  const match = HISTORY_PATH.exec(request.path);
  if (!match) return undefined;
  if (request.method !== "GET") return methodNotAllowed(["GET"]);
  const authenticated = await authenticateRequest(options.auth, request);
  if ("refusal" in authenticated) return authenticated.refusal;
  const room = decodedSegment(match[1] ?? "");
  if (room === undefined) return errorResponse(400, ErrorCode.BadRequest, "room is not valid URL encoding");
  if (!isRoomName(room)) return errorResponse(400, ErrorCode.BadRequest, "invalid room name");
  if (!mayAccess(authenticated.user, room)) return errorResponse(403, ErrorCode.Forbidden, "not your direct room");
  const query = z
    .object({
      before: wholeNumber.pipe(z.number().min(1)).optional(),
      limit: wholeNumber.pipe(z.number().min(1).max(options.maxLimit)).default(50),
    })
    .safeParse({
      before: request.query.get("before") ?? undefined,
      limit: request.query.get("limit") ?? undefined,
    });
  if (!query.success) return errorResponse(400, ErrorCode.BadRequest, describeIssue(query.error, "query"));
  const { before, limit } = query.data;
  const page = { room, limit, viewer: authenticated.user, ...(before === undefined ? {} : { before }) };
  const messages = await options.store.history(page);
  const oldest = messages[0]?.seq;
  const more = messages.length === limit && oldest !== undefined && oldest > 1;
  return jsonResponse(200, { room, messages, ...(more ? { nextBefore: oldest } : {}) });
}

export interface SearchOptions {
  readonly auth: Authenticator;
  readonly store: Pick<Store, "search">;
  /** Largest `limit` a client may ask for (the history API's). */
  readonly maxLimit: number;
}

/** Hits per page when the client names no `limit`. */
const DEFAULT_SEARCH_LIMIT = 20;

/**
 * The cursor of a search page: where its last hit is, as `<ts>.<seq>.<room>` in base64url. Opaque to clients, so
 * the order it encodes may change without changing the API; decoded like any other input.
 */
export function encodeSearchCursor({ ts, room, seq }: SearchPosition): string {
  return Buffer.from(`${ts}.${seq}.${room}`, "utf8").toString("base64url");
}

const CURSOR_PATTERN = /^(\d{1,16})\.(\d{1,15})\.(.+)$/;

/** The position a cursor names, or `undefined` when it is not one {@link encodeSearchCursor} makes. */
export function decodeSearchCursor(cursor: string): SearchPosition | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return undefined;
  const match = CURSOR_PATTERN.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) return undefined;
  const [, ts, seq, room] = match as unknown as [string, string, string, string];
  const position = { ts: Number(ts), seq: Number(seq), room };
  if (!Number.isSafeInteger(position.ts) || !isRoomName(room)) return undefined;
  return position;
}

/**
 * `GET /api/search?q=<words>&room=<room>&before=<cursor>&limit=<n>`: the messages the caller may read whose current
 * body matches `q` (web-search syntax: words, `"phrases"`, `-exclusions`, `OR`), newest first, with the cursor of
 * the next page (`nextBefore`, absent on the last page). Same credentials as `join`; with `room`, its rules too.
 */
export async function searchRoute(request: HttpRequest, options: SearchOptions): Promise<HttpResponse | undefined> {
  if (request.path !== "/api/search") return undefined;
  if (request.method !== "GET") return methodNotAllowed(["GET"]);
  const authenticated = await authenticateRequest(options.auth, request);
  if ("refusal" in authenticated) return authenticated.refusal;
  const query = z
    .object({
      q: searchQuerySchema,
      room: z.string().refine(isRoomName, "invalid room name").optional(),
      before: z
        .string()
        .transform((cursor, context) => {
          const position = decodeSearchCursor(cursor);
          if (position === undefined) context.addIssue({ code: "custom", message: "not a search cursor" });
          return position ?? z.NEVER;
        })
        .optional(),
      limit: wholeNumber
        .pipe(z.number().min(1).max(options.maxLimit))
        .default(Math.min(DEFAULT_SEARCH_LIMIT, options.maxLimit)),
    })
    .safeParse({
      q: request.query.get("q") ?? "",
      room: request.query.get("room") ?? undefined,
      before: request.query.get("before") ?? undefined,
      limit: request.query.get("limit") ?? undefined,
    });
  if (!query.success) return errorResponse(400, ErrorCode.BadRequest, describeIssue(query.error, "query"));
  const { q, room, before, limit } = query.data;
  if (room !== undefined && !mayAccess(authenticated.user, room)) {
    return errorResponse(403, ErrorCode.Forbidden, "not your direct room");
  }
  const messages = await options.store.search({
    user: authenticated.user,
    q,
    limit,
    ...(room === undefined ? {} : { room }),
    ...(before === undefined ? {} : { before }),
  });
  const last = messages.at(-1);
  const page: SearchPage = {
    messages,
    ...(messages.length === limit && last !== undefined ? { nextBefore: encodeSearchCursor(last) } : {}),
  };
  return jsonResponse(200, page);
}

/**
 * `GET /api/inbox`: the caller's rooms and direct rooms, each with its latest seq, the caller's read position, the
 * unread count and the newest message.
 */
export async function inboxRoute(
  request: HttpRequest,
  options: InboxContext & { readonly auth: Authenticator },
): Promise<HttpResponse | undefined> {
  if (request.path !== "/api/inbox") return undefined;
  if (request.method !== "GET") return methodNotAllowed(["GET"]);
  const authenticated = await authenticateRequest(options.auth, request);
  if ("refusal" in authenticated) return authenticated.refusal;
  const inbox: Inbox = { rooms: await readInbox(options, authenticated.user) };
  return jsonResponse(200, inbox);
}

/** `GET /api/me`: the caller's user id and whether they are an admin. */
export async function meRoute(request: HttpRequest, auth: Authenticator): Promise<HttpResponse | undefined> {
  if (request.path !== "/api/me") return undefined;
  if (request.method !== "GET") return methodNotAllowed(["GET"]);
  const authenticated = await authenticateRequest(auth, request);
  if ("refusal" in authenticated) return authenticated.refusal;
  const me: Me = { user: authenticated.user, admin: authenticated.admin };
  return jsonResponse(200, me);
}
