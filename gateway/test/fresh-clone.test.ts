import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { freePort, uniqueName, waitFor } from "@parley/testkit";
import { readmeCommands } from "@parley/testkit/readme";
import { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url);

/** The README's run command in `dir`, in its own process group (as a terminal runs it), with only `env` set. */
class RunCommand {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(
    readonly command: string,
    dir: string,
    env: Record<string, string>,
  ) {
    this.child = spawn("bash", ["-c", command], { cwd: dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding("utf8").on("data", (chunk: string) => this.output.push(chunk));
    }
    this.exited = once(this.child, "exit").then(([code]) => code as number | null);
  }

  get text(): string {
    return this.output.join("");
  }

  /** Ctrl+C: SIGINT to the whole process group. */
  interrupt(): void {
    this.#signal("SIGINT");
  }

  /** Whatever of the group is left, gone (after a failed test). */
  async kill(): Promise<void> {
    this.#signal("SIGINT");
    await this.exited;
    this.#signal("SIGKILL");
  }

  #signal(signal: NodeJS.Signals): void {
    try {
      if (this.child.pid !== undefined) process.kill(-this.child.pid, signal);
    } catch {
      // The group has ended already.
    }
  }

  /** The chat and metrics addresses of the line the start prints for people; rejects if the command ends first. */
  announced(): Promise<{ chat: string; metrics: string }> {
    const ended = this.exited.then((code) => {
      throw new Error(`"${this.command}" exited with ${code} before announcing its address:\n${this.text}`);
    });
    ended.catch(() => {}); // reported through the race below, when it comes first
    const line = waitFor(
      () => {
        const match = /open (http:\/\/\S+) to chat; metrics at (http:\/\/\S+?)\.? /.exec(this.text);
        return match?.[1] && match[2] ? { chat: match[1], metrics: match[2] } : undefined;
      },
      `"${this.command}" to announce its address`,
      // npm ci, then the TypeScript and Vite builds: minutes on two busy cores.
      { timeoutMs: 600_000, intervalMs: 250 },
    );
    return Promise.race([line, ended]);
  }

  /** Ctrl+C, then the gateway's own word that it stopped (npm may end before the process it started). */
  async stop(): Promise<void> {
    this.interrupt();
    await waitFor(() => this.text.includes('"msg":"stopped"'), "the gateway to log that it stopped", {
      timeoutMs: 60_000,
    });
    await this.exited;
  }
}

/**
 * What a newcomer does first: clone, run the README's run command exactly as written, open the address it prints and
 * chat. The clone holds only what is committed (HEAD), so nothing a test run or an earlier build left in this
 * checkout (.parley/, dist/, node_modules) can make it pass.
 */
describe("a fresh clone", () => {
  let dir: string;
  let clone: string;
  let running: RunCommand | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "parley-fresh-"));
    clone = join(dir, "parley");
    execFileSync("git", ["clone", "--quiet", "--no-hardlinks", ROOT.pathname, clone]);
    // Nothing but what a person's shell has, and a free port (two: the chat's and the metrics').
    env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? dir,
      PARLEY_PORT: String(await freePort()),
      PARLEY_METRICS_PORT: String(await freePort()),
    };
  });

  afterAll(async () => {
    await running?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it("is this checkout's HEAD, and CI runs the README's test command in it", () => {
    const head = (cwd: string) => execFileSync("git", ["rev-parse", "HEAD"], { cwd, encoding: "utf8" }).trim();
    expect(head(clone)).toBe(head(ROOT.pathname));
    const ci = readFileSync(join(clone, ".ci/run"), "utf8")
      .split("\n")
      .filter((line) => line.startsWith("npm "));
    expect(ci).toEqual(readmeCommands(pathToFileURL(`${clone}/`)).test.split(" && "));
  });

  it("runs the chat with the README's run command: two people chat, history stays across a restart", async () => {
    const { run } = readmeCommands(pathToFileURL(`${clone}/`));
    expect(run).toBe("npm ci && npm start");
    running = new RunCommand(run, clone, env);
    const { chat, metrics } = await running.announced();
    expect(chat).toBe(`http://localhost:${env.PARLEY_PORT}`);
    expect(metrics).toBe(`http://localhost:${env.PARLEY_METRICS_PORT}/metrics`);

    const page = await fetch(chat);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>Parley</title>");
    expect((await fetch(metrics)).status).toBe(200);

    const room = uniqueName("first-day");
    const ws = chat.replace(/^http/, "ws");
    const [ann, ben] = await Promise.all([
      TestClient.connect(`${ws}/ws?user=ann`),
      TestClient.connect(`${ws}/ws?user=ben`),
    ]);
    await Promise.all([ann.join(room), ben.join(room)]);
    await ann.sendUntilAcked(room, "a1", "hello ben");
    await ben.sendUntilAcked(room, "b1", "hi ann");
    await waitFor(() => ann.messages(room).length === 2 && ben.messages(room).length === 2, "both messages on both");
    expect(ann.messages(room).map((message) => [message.seq, message.from, message.body])).toEqual([
      [1, "ann", "hello ben"],
      [2, "ben", "hi ann"],
    ]);
    await ann.next("persisted", (frame) => frame.room === room && frame.upTo >= 1);
    ann.close();
    ben.close();

    await running.stop();

    // The next day: the same command in the same folder, and yesterday's messages are there.
    running = new RunCommand(run, clone, env);
    await running.announced();
    const history = await fetch(`${chat}/api/rooms/${room}/messages?user=ben`);
    expect(history.status).toBe(200);
    const body = (await history.json()) as { messages: { seq: number; body: string }[] };
    expect(body.messages.map((message) => [message.seq, message.body])).toEqual([
      [1, "hello ben"],
      [2, "hi ann"],
    ]);
  });
});
