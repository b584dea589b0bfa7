import { readdir, readFile } from "node:fs/promises";
import { extname, join, relative, sep } from "node:path";
import { methodNotAllowed } from "./http-api.js";
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

/**
 * {@link CONTENT_SECURITY_POLICY} with `fileOrigin` (where shared files are uploaded to and fetched from: an S3
 * endpoint) allowed for images and connections, as the chart's web header ConfigMap does for the web image.
 */
export function contentSecurityPolicy(fileOrigin: string | undefined): string {
  if (fileOrigin === undefined) return CONTENT_SECURITY_POLICY;
  return CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", `img-src 'self' data: ${fileOrigin}`).replace(
    "connect-src 'self' ws: wss:",
    `connect-src 'self' ws: wss: ${fileOrigin}`,
  );
}

/** Paths that are never pages of the app, even for a browser: a wrong URL there must not look like a working one. */
const NOT_PAGES = /^\/(?:api(?:\/|$)|ws$|healthz$|readyz$|metrics$)/;

/**
 * Serves a built single-page app from memory (read once at start: the client is small). A browser navigation (GET
 * or HEAD accepting `text/html`) to a path without a file gets `index.html`, so client-side routes work on reload;
 * everything else that is not a file is left to the caller (undefined), which answers 404. Files take GET and HEAD.
 * `fileOrigin` is the object store's, when browsers upload to and fetch from it directly.
 */
export async function loadStaticFiles(
  dir: string,
  { fileOrigin }: { readonly fileOrigin?: string | undefined } = {},
): Promise<(request: HttpRequest) => HttpResponse | undefined> {
  const securityHeaders = {
    "content-security-policy": contentSecurityPolicy(fileOrigin),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
  const files = new Map<string, HttpResponse>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const urlPath = `/${relative(dir, path).split(sep).join("/")}`;
    const type = CONTENT_TYPES[extname(entry.name)] ?? "application/octet-stream";
    const cache = urlPath.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache";
    files.set(urlPath, {
      status: 200,
      headers: { "content-type": type, "cache-control": cache, ...securityHeaders },
      body: await readFile(path),
    });
  }
  const index = files.get("/index.html");
  return (request) => {
    const file = files.get(request.path === "/" ? "/index.html" : request.path);
    const page = file ?? (isNavigation(request) ? index : undefined);
    if (page === undefined) return undefined;
    return request.method === "GET" || request.method === "HEAD" ? page : methodNotAllowed(["GET", "HEAD"]);
  };
}

/** What a browser sends when it loads a page (address bar, link, reload), as opposed to a script's or a tool's fetch. */
function isNavigation(request: HttpRequest): boolean {
  if (NOT_PAGES.test(request.path) || extname(request.path) !== "") return false;
  return (request.headers.get("accept") ?? "").includes("text/html");
}
