import { readdir, readFile } from "node:fs/promises";
import { extname, join, relative, sep } from "node:path";
import type { HttpRequest, HttpResponse } from "./server.js";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webmanifest": "application/manifest+json",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The web client's policy: scripts, styles and connections only from this origin (WebSockets included), no inline
 * script, no framing. Message text is rendered as text by the client; this is the second line of defence.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * Serves a built single-page app from memory (read once at start: the client is small). Unknown paths without a
 * file extension get `index.html`, so client-side routes work on reload.
 */
export async function loadStaticFiles(dir: string): Promise<(request: HttpRequest) => HttpResponse | undefined> {
  const files = new Map<string, HttpResponse>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const urlPath = `/${relative(dir, path).split(sep).join("/")}`;
    const type = CONTENT_TYPES[extname(entry.name)] ?? "application/octet-stream";
    const cache = urlPath.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache";
    files.set(urlPath, {
      status: 200,
      headers: { "content-type": type, "cache-control": cache, ...SECURITY_HEADERS },
      body: await readFile(path),
    });
  }
  const index = files.get("/index.html");
  return (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") return undefined;
    const file = files.get(request.path === "/" ? "/index.html" : request.path);
    if (file) return file;
    return extname(request.path) === "" ? index : undefined;
  };
}
