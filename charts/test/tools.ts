/**
 * The chart tests' only way to their tools: `scripts/tools.sh` builds helm, kubeconform, yaml2json and the offline
 * JSON schemas once (cached per user, see scripts/tools.sh) and prints where they are. Every helper here runs them
 * synchronously: each call takes milliseconds, and the suite is one file of sequential checks.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { toolPath } from "@parley/testkit/tools";

export { TOOLS_TIMEOUT_MS } from "@parley/testkit/tools";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CHART = `${ROOT}charts/parley`;
/**
 * The Kubernetes release the schemas and the control plane come from (the one scripts/control-plane/kubernetes/go.mod
 * requires), also passed to `helm template`.
 */
export const KUBE_VERSION =
  /^\s*k8s\.io\/kubernetes v(\d+\.\d+\.\d+)/m.exec(
    readFileSync(`${ROOT}scripts/control-plane/kubernetes/go.mod`, "utf8"),
  )?.[1] ?? "no k8s.io/kubernetes requirement in scripts/control-plane/kubernetes/go.mod";
export interface Tools {
  helm: string;
  kubeconform: string;
  yaml2json: string;
  schemas: string;
}

/** Builds what is missing and returns the tools' paths. */
export function tools(): Tools {
  return {
    helm: toolPath("PARLEY_HELM"),
    kubeconform: toolPath("PARLEY_KUBECONFORM"),
    yaml2json: toolPath("PARLEY_YAML2JSON"),
    schemas: toolPath("PARLEY_SCHEMAS"),
  };
}

/** A Kubernetes object as rendered; fields are read through the accessors in the tests. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string } & Record<string, unknown>;
} & Record<string, unknown>;

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], input?: string): RunResult {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: "utf8", input, maxBuffer: 64 << 20 });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Parses a YAML stream (one or more documents) the way kubectl does. */
export function parseYaml(text: string): unknown[] {
  const result = run(tools().yaml2json, [], text);
  if (result.status !== 0) throw new Error(`yaml2json failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as unknown[];
}

/** `helm template` of the chart with these values files (relative to the repo root); throws with helm's message. */
export function helmTemplate(valuesFiles: string[], extra: string[] = []): string {
  const result = helmTemplateResult(valuesFiles, extra);
  if (result.status !== 0) throw new Error(`helm template ${valuesFiles.join(" ")} failed:\n${result.stderr}`);
  return result.stdout;
}

export function helmTemplateResult(valuesFiles: string[], extra: string[] = []): RunResult {
  const args = ["template", "parley", CHART, "--namespace", "chat", "--kube-version", KUBE_VERSION];
  for (const file of valuesFiles) args.push("--values", `${ROOT}${file}`);
  return run(tools().helm, [...args, ...extra]);
}

export interface Validation {
  kind: string;
  name: string;
  status: string;
  msg?: string;
}

/** Validates a YAML stream strictly (unknown fields are errors) against the offline schemas; no schema is an error. */
export function kubeconform(yaml: string): { resources: Validation[]; summary: Record<string, number> } {
  const { kubeconform, schemas } = tools();
  const result = run(
    kubeconform,
    [
      "-strict",
      "-summary",
      "-verbose",
      "-output",
      "json",
      "-kubernetes-version",
      KUBE_VERSION,
      "-schema-location",
      `${schemas}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`,
      "-",
    ],
    yaml,
  );
  // Exit status 1 means invalid resources, reported in the JSON; anything unparsable is a real failure.
  try {
    return JSON.parse(result.stdout) as { resources: Validation[]; summary: Record<string, number> };
  } catch {
    throw new Error(`kubeconform failed (${result.status}): ${result.stderr}${result.stdout}`);
  }
}
