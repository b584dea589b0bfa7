/**
 * The lifecycle tests' way to their cluster: `scripts/control-plane.sh up` builds (once per machine) and starts a
 * real etcd, kube-apiserver, kube-controller-manager and kube-scheduler with kwok's simulated nodes, and prints a
 * cluster-admin kubeconfig. kubectl and helm run against it as a user would run them; `watch` streams the API's
 * own watch events, so a test sees every state an object passed through, not only the states a poll caught.
 */
import { execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { scriptExports } from "@parley/testkit/tools";
import { parse } from "yaml";
import { obj, str } from "./json.js";
import { type K8sObject, ROOT, type RunResult, run, TOOLS_TIMEOUT_MS, tools } from "./tools.js";

export interface ControlPlane {
  readonly kubeconfig: string;
  readonly kubectlPath: string;
}

let started: ControlPlane | undefined;

/** Starts what is not running (a first run builds Kubernetes from source) and returns how to reach it. */
export function controlPlane(): ControlPlane {
  if (!started) {
    const out = execFileSync(`${ROOT}scripts/control-plane.sh`, ["up"], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      timeout: TOOLS_TIMEOUT_MS,
    });
    const env = scriptExports(out);
    const kubeconfig = env.get("PARLEY_KUBECONFIG");
    const kubectlPath = env.get("PARLEY_KUBECTL");
    if (!kubeconfig || !kubectlPath) throw new Error("scripts/control-plane.sh up printed no PARLEY_KUBECONFIG");
    started = { kubeconfig, kubectlPath };
  }
  return started;
}

export function kubectl(args: string[], input?: string): RunResult {
  const { kubeconfig, kubectlPath } = controlPlane();
  return run(kubectlPath, ["--kubeconfig", kubeconfig, ...args], input);
}

/** kubectl that must succeed; returns its stdout. */
export function kubectlOk(args: string[], input?: string): string {
  const result = kubectl(args, input);
  if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed:\n${result.stderr}`);
  return result.stdout;
}

export function getObject(args: string[]): K8sObject {
  return JSON.parse(kubectlOk(["get", ...args, "-o", "json"])) as K8sObject;
}

export function getItems(args: string[]): K8sObject[] {
  return (JSON.parse(kubectlOk(["get", ...args, "-o", "json"])) as { items: K8sObject[] }).items;
}

/**
 * helm against the control plane; `status` is helm's exit status, stderr its message. Asynchronous, so that watches
 * keep receiving events while helm waits.
 */
export async function helm(args: string[]): Promise<RunResult> {
  const command = [tools().helm, ["--kubeconfig", controlPlane().kubeconfig, ...args]] as const;
  try {
    const { stdout, stderr } = await promisify(execFile)(...command, { cwd: ROOT, maxBuffer: 64 << 20 });
    return { status: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { status: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

export async function helmOk(args: string[]): Promise<string> {
  const result = await helm(args);
  if (result.status !== 0) throw new Error(`helm ${args.join(" ")} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

/**
 * A namespace that enforces Pod Security `restricted`, as a hardened cluster's would: admission refuses any pod of
 * the chart that asks for more.
 */
export function restrictedNamespace(name: string): void {
  kubectlOk(["create", "namespace", name]);
  kubectlOk([
    "label",
    "namespace",
    name,
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/warn=restricted",
  ]);
}

/** Deletes the namespace and everything in it; the namespace controller finishes after this returns. */
export function deleteNamespace(name: string): void {
  kubectlOk(["delete", "namespace", name, "--ignore-not-found", "--wait=false"]);
}

export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  readonly object: K8sObject;
}

export interface Watch {
  readonly events: WatchEvent[];
  stop(): void;
}

interface Credentials {
  server: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

let credentials: Credentials | undefined;

function apiCredentials(): Credentials {
  if (!credentials) {
    const config = obj(parse(readFileSync(controlPlane().kubeconfig, "utf8")));
    const cluster = obj(config, "clusters", "0", "cluster");
    const user = obj(config, "users", "0", "user");
    credentials = {
      server: str(cluster.server),
      ca: readFileSync(str(cluster["certificate-authority"])),
      cert: readFileSync(str(user["client-certificate"])),
      key: readFileSync(str(user["client-key"])),
    };
  }
  return credentials;
}

/**
 * Watches an API collection path (e.g. `/api/v1/namespaces/chat/pods`) from now on: every event lands in `events`
 * in the order the API server sent it. Resolves once the API server has answered.
 */
export async function watch(path: string, labelSelector?: string): Promise<Watch> {
  const { server, ca, cert, key } = apiCredentials();
  const url = new URL(path, server);
  url.searchParams.set("watch", "true");
  if (labelSelector !== undefined) url.searchParams.set("labelSelector", labelSelector);
  const events: WatchEvent[] = [];
  const req = request(url, { ca, cert, key });
  const response = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
    req.once("response", resolve).once("error", reject).end();
  });
  if (response.statusCode !== 200) throw new Error(`watch ${path}: HTTP ${response.statusCode}`);
  // Destroying the request is how a watch ends; the "aborted" errors that follow are expected.
  req.on("error", () => {});
  response.on("error", () => {});
  const lines = createInterface({ input: response }).on("error", () => {});
  lines.on("line", (line) => {
    if (line !== "") events.push(JSON.parse(line) as WatchEvent);
  });
  return {
    events,
    stop: () => req.destroy(),
  };
}
