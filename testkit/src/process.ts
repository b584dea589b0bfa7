import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { waitFor } from "./index.js";

/** A service started as a real process (its compiled entry point), with its JSON log lines collected. */
export class ServiceProcess {
  readonly logs: Record<string, unknown>[] = [];
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  /** The log line that said the service was up. */
  readyLog: Record<string, unknown> = {};

  private constructor(readonly child: ChildProcess) {
    this.exited = once(child, "exit").then(([code]) => code as number | null);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        this.output.push(line);
        try {
          const parsed: unknown = JSON.parse(line);
          if (typeof parsed === "object" && parsed !== null) this.logs.push(parsed as Record<string, unknown>);
        } catch {
          // Not a log line (e.g. a runtime warning); kept in `output`.
        }
      });
    }
  }

  /**
   * Starts `node [nodeArgs] entry` with only `env` (plus PATH/HOME), so the developer's own PARLEY_ variables never
   * leak in, and waits for the log line `ready` says it is up. `nodeArgs` are Node's own flags (e.g. `--cpu-prof`,
   * which NODE_OPTIONS does not take).
   */
  static async start(
    entry: string,
    env: Record<string, string>,
    ready: (log: Record<string, unknown>) => boolean,
    { timeoutMs = 60_000, nodeArgs = [] }: { timeoutMs?: number; nodeArgs?: readonly string[] } = {},
  ): Promise<ServiceProcess> {
    const child = spawn(process.execPath, [...nodeArgs, entry], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const service = new ServiceProcess(child);
    let exitCode: number | null | undefined;
    void service.exited.then((code) => {
      exitCode = code;
    });
    service.readyLog = await waitFor(
      () => {
        if (exitCode !== undefined) throw new Error(`${entry} exited with ${exitCode}:\n${service.output.join("\n")}`);
        return service.logs.find(ready);
      },
      `${entry} to start`,
      { timeoutMs },
    ).catch((error: unknown) => {
      child.kill("SIGKILL");
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}\n${service.output.slice(-30).join("\n")}`,
      );
    });
    return service;
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    this.child.kill(signal);
  }

  /** Stops it (SIGKILL after a grace period) and waits for the exit. */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
