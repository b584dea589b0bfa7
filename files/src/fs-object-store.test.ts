import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsObjectStore } from "./fs-object-store.js";
import { objectStoreContract } from "./object-store.contract.js";

/** The store behind a plain HTTP server, as the gateway serves it. */
async function served(now: () => number) {
  const dir = await mkdtemp(join(tmpdir(), "parley-objects-"));
  const store = new FsObjectStore({ dir, basePath: "/api/objects", secret: "test secret", now });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const headers = new Map(Object.entries(req.headers).map(([name, value]) => [name, String(value)]));
    store
      .serve({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers, body: req })
      .then((answer) => res.writeHead(answer.status, answer.headers).end(answer.body))
      .catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { dir, store, base, server };
}

objectStoreContract("filesystem", {
  async create(now) {
    const { dir, store, base, server } = await served(now);
    return {
      store,
      fetch: (url, init) => fetch(new URL(url, base), init),
      async close() {
        // Refused and completed uploads alike leave no temporary file behind.
        const incoming = await readdir(join(dir, "incoming"));
        if (incoming.length > 0) throw new Error(`uploads left behind: ${incoming.join(", ")}`);
        await new Promise((resolve) => server.close(resolve));
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});
