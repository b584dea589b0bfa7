import { readFileSync } from "node:fs";

/** This checkout's folder. */
const HERE = new URL("../../", import.meta.url);
const readme = (root: URL) => readFileSync(new URL("README.md", root), "utf8");

/**
 * The README's two commands, as a newcomer copies them from "## The two commands" of the README under `root` (a
 * checkout's folder URL, by default this one): the first `sh` block runs the chat, the second the test suite.
 */
export function readmeCommands(root = HERE): { run: string; test: string } {
  const section = readme(root).split("\n## The two commands\n")[1]?.split(/\n## /)[0] ?? "";
  const [run, test] = [...section.matchAll(/^```sh\n([^`]+?)\n```$/gm)].map((match) => match[1]?.trim() ?? "");
  if (!run || !test) throw new Error("README.md: no two sh blocks under '## The two commands'");
  return { run, test };
}

/** The variables in the first column of the README's configuration table for `service` ("### Gateway" etc.). */
export function documentedVariables(service: "Gateway" | "Persister"): string[] {
  const section = readme(HERE).split(`\n### ${service}\n`)[1]?.split(/\n##/)[0] ?? "";
  return [...section.matchAll(/^\| `(PARLEY_[A-Z0-9_]+)`/gm)].map((match) => match[1] ?? "");
}
