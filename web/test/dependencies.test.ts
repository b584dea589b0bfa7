/**
 * The web client ships to browsers: its production dependency tree, as package-lock.json resolves it, holds no
 * Node-only package (the Node runtime lives in @parley/runtime, which only the services use).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

interface LockEntry {
  readonly link?: boolean;
  readonly resolved?: string;
  readonly dependencies?: Record<string, string>;
}

const lock = JSON.parse(readFileSync(new URL("../../package-lock.json", import.meta.url), "utf8")) as {
  packages: Record<string, LockEntry>;
};

/** Every package `from` (a lock path) needs at run time, resolved as Node does: nested folders first, then the root. */
function productionTree(from: string): Set<string> {
  const names = new Set<string>();
  const visit = (path: string) => {
    const entry = lock.packages[path];
    const real = entry?.link ? (entry.resolved ?? path) : path;
    for (const name of Object.keys(lock.packages[real]?.dependencies ?? {})) {
      const nested = `${real === "" ? "" : `${real}/`}node_modules/${name}`;
      const found = lock.packages[nested] ? nested : `node_modules/${name}`;
      if (names.has(found)) continue;
      names.add(found);
      visit(found);
    }
  };
  visit(from);
  return new Set([...names].map((path) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)));
}

describe("the web client's dependencies", () => {
  const tree = productionTree("web");

  it("include the wire protocol and React", () => {
    expect([...tree]).toEqual(expect.arrayContaining(["@parley/protocol", "react", "react-dom", "zod"]));
  });

  it.each(["@parley/runtime", "ioredis", "pino", "@opentelemetry/sdk-node", "kafkajs", "pg", "uWebSockets.js"])(
    "leave out %s",
    (name) => {
      expect(tree.has(name)).toBe(false);
    },
  );
});
