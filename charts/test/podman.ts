/**
 * The images test's way to its containers: `scripts/images.sh build` installs podman if needed, assembles the base
 * images once per machine and builds the three images from the Dockerfile's targets; `Container` runs one with podman the
 * way the script configures it (CONTAINERS_CONF) and reads its logs, user and exit.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { waitFor } from "@parley/testkit";
import { scriptExports } from "@parley/testkit/tools";
import { ROOT } from "./tools.js";

/** A first build on a fresh machine installs podman, assembles Debian and Node, and builds three images. */
export const BUILD_TIMEOUT_MS = 25 * 60_000;

export interface Images {
  readonly gateway: string;
  readonly persister: string;
  readonly web: string;
}

let podmanCommand = "podman";
let podmanEnv: NodeJS.ProcessEnv = process.env;

/** Runs `scripts/images.sh build` (its progress on stderr shows in the test log) and returns the image names. */
export async function buildImages(): Promise<Images> {
  const child = spawn(`${ROOT}scripts/images.sh`, ["build"], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  if (code !== 0) throw new Error(`scripts/images.sh build failed with exit code ${code} (its output is above)`);
  const env = scriptExports(out);
  const get = (name: string) => {
    const value = env.get(name);
    if (!value) throw new Error(`scripts/images.sh printed no ${name}`);
    return value;
  };
  podmanCommand = get("PARLEY_PODMAN");
  podmanEnv = { ...process.env, CONTAINERS_CONF: get("CONTAINERS_CONF") };
  return {
    gateway: get("PARLEY_IMAGE_GATEWAY"),
    persister: get("PARLEY_IMAGE_PERSISTER"),
    web: get("PARLEY_IMAGE_WEB"),
  };
}

/** `podman ARGS`; rejects with podman's stderr. */
export async function podman(args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await promisify(execFile)(podmanCommand, args, { env: podmanEnv, maxBuffer: 64 << 20 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`podman ${args.join(" ")} failed: ${stderr.trim()}`, { cause: error });
  }
}

/** Flags shared by every container: the file limit of the machine (podman's default asks for more than 20,000). */
const RUN_FLAGS = ["--ulimit", "host"];

export interface Stopped {
  readonly exitCode: number;
  readonly ms: number;
}

/** One detached container, named for the test; `remove()` is safe to call whatever state it is in. */
export class Container {
  private constructor(readonly name: string) {}

  /** `podman run -d` with `flags` before the image and `command` after it. */
  static async run(name: string, image: string, flags: string[], command: string[] = []): Promise<Container> {
    await podman(["run", "-d", "--name", name, ...RUN_FLAGS, ...flags, image, ...command]);
    return new Container(name);
  }

  /** Runs a one-off container to its end (`--rm`) and returns its output; rejects on a non-zero exit. */
  static async once(image: string, flags: string[], command: string[]): Promise<{ stdout: string; stderr: string }> {
    return podman(["run", "--rm", ...RUN_FLAGS, ...flags, image, ...command]);
  }

  /** Everything the container wrote so far, stdout and stderr, line by line. */
  async output(): Promise<string[]> {
    const { stdout, stderr } = await podman(["logs", this.name]);
    return `${stdout}\n${stderr}`.split("\n").filter((line) => line !== "");
  }

  /** Its JSON log lines (pino, on stdout). */
  async logs(): Promise<Record<string, unknown>[]> {
    const logs: Record<string, unknown>[] = [];
    for (const line of await this.output()) {
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === "object" && parsed !== null) logs.push(parsed as Record<string, unknown>);
      } catch {
        // Not a log line (a runtime warning, nginx's own format).
      }
    }
    return logs;
  }

  async running(): Promise<boolean> {
    const { stdout } = await podman(["inspect", "--format", "{{ .State.Running }}", this.name]);
    return stdout.trim() === "true";
  }

  /** Waits for the first JSON log line that matches; fails at once, with the output, if the container exits. */
  async waitForLog(
    match: (log: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown>> {
    let problem: string;
    try {
      const result = await waitFor(
        async () => {
          const found = (await this.logs()).find(match);
          if (found) return { found };
          return (await this.running()) ? undefined : { exited: true as const };
        },
        `${this.name}: ${what}`,
        { timeoutMs, intervalMs: 250 },
      );
      if ("found" in result) return result.found;
      problem = `${this.name} exited before ${what}`;
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    const output = await this.output().catch(() => []);
    throw new Error(`${problem}; its last output:\n${output.slice(-30).join("\n")}`);
  }

  /** `podman exec` as the container's own user. */
  async exec(command: string[]): Promise<string> {
    return (await podman(["exec", this.name, ...command])).stdout.trim();
  }

  /**
   * `podman stop`: the image's stop signal (SIGTERM, or SIGQUIT for nginx), then SIGKILL after `graceSeconds`, as the
   * kubelet does at the end of terminationGracePeriodSeconds. Returns the exit code and how long it took.
   */
  async stop(graceSeconds: number): Promise<Stopped> {
    const started = Date.now();
    await podman(["stop", "--time", String(graceSeconds), this.name]);
    const ms = Date.now() - started;
    const { stdout } = await podman(["inspect", "--format", "{{ .State.ExitCode }}", this.name]);
    return { exitCode: Number(stdout.trim()), ms };
  }

  async remove(): Promise<void> {
    await podman(["rm", "--force", "--ignore", this.name]);
  }
}
