/**
 * `runService` in real processes (it ends them with process.exit): a throwaway service per case, started with Node,
 * signalled, and judged by its exit code and log lines.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "@parley/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const RUNTIME = new URL("../dist/index.js", import.meta.url).href;

/** A service whose start logs "started" and whose stop behaves as `stop` (JavaScript source) says. */
function serviceSource(stop: string, extra = ""): string {
  return `
    import { runService } from ${JSON.stringify(RUNTIME)};
    await runService({
      name: "service-test",
      loadConfig: (env) => {
        if (env.FAIL_CONFIG) throw new Error("PARLEY_X: bad");
        return { logLevel: "info" };
      },
      shutdownTimeoutMs: 500,
      start: async (_config, logger, lifecycle) => {
        lifecycle.onStop(async () => { ${stop} });
        ${extra}
        logger.info("started");
        setInterval(() => {}, 1000);
      },
    });
  `;
}

describe("runService", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "parley-service-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function run(source: string, { signal, env = {} }: { signal?: NodeJS.Signals; env?: Record<string, string> }) {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.mjs`);
    await writeFile(file, source);
    const child = spawn(process.execPath, [file], { env: { PATH: process.env.PATH ?? "", ...env } });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    const exited = once(child, "exit");
    if (signal) {
      await waitFor(() => output.includes('"msg":"started"'), "the service to start");
      child.kill(signal);
    }
    const [code] = await exited;
    const messages = output
      .split("\n")
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    return { code: code as number, messages };
  }

  it.each(["SIGTERM", "SIGINT"] as const)("stops in the service's order on %s and exits 0", async (signal) => {
    const result = await run(serviceSource(`logger.info("closed");`), { signal });
    expect(result).toEqual({ code: 0, messages: ["started", "stopping", "closed", "stopped"] });
  });

  it("stops when the service fails, and exits 1", async () => {
    const failLater = `setTimeout(() => lifecycle.fail("consumer stopped", new Error("boom")), 50);`;
    const result = await run(serviceSource(`logger.info("closed");`, failLater), {});
    expect(result).toEqual({ code: 1, messages: ["started", "stopping", "closed", "stopped"] });
  });

  it.each([
    ["a stop that throws", `throw new Error("database gone");`, "shutdown failed"],
    ["a stop that hangs past its timeout", "await new Promise(() => {});", "shutdown timed out"],
  ])("exits 1 after %s", async (_what, stop, last) => {
    const result = await run(serviceSource(stop), { signal: "SIGTERM" });
    expect(result).toEqual({ code: 1, messages: ["started", "stopping", last] });
  });

  it("exits 1 when its configuration does not parse, saying so", async () => {
    const result = await run(serviceSource(""), { env: { FAIL_CONFIG: "1" } });
    expect(result).toEqual({ code: 1, messages: ["failed to start"] });
  });
});
