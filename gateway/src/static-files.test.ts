import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testRequest } from "./in-process.testing.js";
import type { HttpRequest, HttpResponse } from "./server.js";
import { CONTENT_SECURITY_POLICY, loadStaticFiles } from "./static-files.js";

const PAGE = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

function request(method: string, path: string, accept = "*/*"): HttpRequest {
  return testRequest(method, path, { headers: { accept } });
}

describe("loadStaticFiles", () => {
  let dir: string;
  let serve: (request: HttpRequest) => HttpResponse | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "parley-static-"));
    await mkdir(join(dir, "assets"));
    await writeFile(join(dir, "index.html"), "<title>app</title>");
    await writeFile(join(dir, "assets", "app-1.js"), "export {}");
    serve = await loadStaticFiles(dir);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("serves files by path to anyone, with their type and cache policy", () => {
    expect(serve(request("GET", "/"))).toMatchObject({ status: 200, headers: { "cache-control": "no-cache" } });
    expect(serve(request("HEAD", "/index.html"))?.status).toBe(200);
    expect(serve(request("GET", "/assets/app-1.js"))).toMatchObject({
      status: 200,
      headers: {
        "content-type": "text/javascript; charset=utf-8",
        "cache-control": expect.stringContaining("immutable"),
      },
    });
  });

  it("falls back to the app only for a browser's page load", () => {
    expect(String(serve(request("GET", "/rooms/lobby", PAGE))?.body)).toBe("<title>app</title>");
    expect(serve(request("GET", "/rooms/lobby"))).toBeUndefined();
    expect(serve(request("GET", "/assets/gone-2.js", PAGE))).toBeUndefined();
    for (const path of ["/api/nope", "/api", "/ws", "/healthz", "/readyz", "/metrics"]) {
      expect(serve(request("GET", path, PAGE)), path).toBeUndefined();
    }
  });

  it("answers other methods on its paths with 405 and the methods it takes", () => {
    for (const path of ["/", "/assets/app-1.js"]) {
      expect(serve(request("POST", path, PAGE)), path).toMatchObject({
        status: 405,
        headers: { allow: "GET, HEAD", "content-type": "application/json" },
      });
    }
    expect(serve(request("DELETE", "/nothing"))).toBeUndefined();
  });

  it("sends the content policy, allowing the object store's origin for images and connections when it has one", async () => {
    expect(serve(request("GET", "/"))?.headers?.["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    const withS3 = await loadStaticFiles(dir, { fileOrigin: "https://files.example.com" });
    const policy = String(withS3(request("GET", "/assets/app-1.js"))?.headers?.["content-security-policy"]);
    expect(policy).toContain("img-src 'self' data: https://files.example.com;");
    expect(policy).toContain("connect-src 'self' ws: wss: https://files.example.com;");
    expect(policy.replaceAll(" https://files.example.com", "")).toBe(CONTENT_SECURITY_POLICY);
  });
});
