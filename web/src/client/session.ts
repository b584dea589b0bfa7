import { NAME_PATTERN, parseJson } from "@parley/protocol";
import { z } from "zod";
import type { Credentials, StorageLike } from "./chat-client.js";

const SESSION_KEY = "parley:session";

const credentialsSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("dev"), user: z.string().regex(NAME_PATTERN), admin: z.literal(true).optional() }),
  z.object({ kind: z.literal("jwt"), token: z.string().min(1), user: z.string().regex(NAME_PATTERN) }),
]);

/**
 * The user id inside a JWT (its `sub` claim by default, like the gateway's `PARLEY_JWT_USER_CLAIM`), read without
 * verifying anything: the server verifies the token; the client only needs to know which messages are its own.
 */
export function userOfToken(token: string, claim = "sub"): string | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const json = parseJson(new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))));
    const claims = json.ok ? z.record(z.string(), z.unknown()).safeParse(json.value) : undefined;
    if (!claims?.success) return undefined;
    const user = claims.data[claim];
    return typeof user === "string" && NAME_PATTERN.test(user) ? user : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Credentials handed over in the page address (`#token=…`, or `?token=…` from a sign-in redirect), and the address
 * to show without them, so a token never stays in the address bar or the history.
 */
export function credentialsFromUrl(href: string): { credentials?: Credentials; cleanUrl?: string; problem?: string } {
  const url = new URL(href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ""));
  const token = hash.get("token") ?? url.searchParams.get("token");
  if (token === null) return {};
  url.searchParams.delete("token");
  hash.delete("token");
  url.hash = hash.toString();
  const cleanUrl = url.toString().replace(/#$/, "");
  const user = userOfToken(token);
  if (user === undefined) return { cleanUrl, problem: "The sign-in link holds no usable token." };
  return { credentials: { kind: "jwt", token, user }, cleanUrl };
}

/**
 * The room the address names (`#room=<name>`): the page shows it after a reload, and a link can point at it. Checked
 * against the room rules by whoever opens it.
 */
export function roomFromUrl(href: string): string | undefined {
  return new URLSearchParams(new URL(href).hash.replace(/^#/, "")).get("room") ?? undefined;
}

/** `href` naming `room` in its hash (other hash fields kept), for `history.replaceState`. */
export function urlWithRoom(href: string, room: string): string {
  const url = new URL(href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ""));
  hash.set("room", room);
  url.hash = hash.toString();
  return url.toString();
}

export function loadSession(storage: StorageLike): Credentials | undefined {
  const text = storage.getItem(SESSION_KEY);
  if (text === null) return undefined;
  const json = parseJson(text);
  const parsed = json.ok ? credentialsSchema.safeParse(json.value) : undefined;
  return parsed?.success ? parsed.data : undefined;
}

export function saveSession(storage: StorageLike, credentials: Credentials | undefined): void {
  try {
    if (credentials) storage.setItem(SESSION_KEY, JSON.stringify(credentials));
    else storage.setItem(SESSION_KEY, "null");
  } catch {
    // Storage disabled: the session lasts as long as the page.
  }
}
