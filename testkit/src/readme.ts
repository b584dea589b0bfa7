import { readFileSync } from "node:fs";

/** The variables in the first column of the README's configuration table for `service` ("### Gateway" etc.). */
export function documentedVariables(service: "Gateway" | "Persister"): string[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.split(`\n### ${service}\n`)[1]?.split(/\n##/)[0] ?? "";
  return [...section.matchAll(/^\| `(PARLEY_[A-Z0-9_]+)`/gm)].map((match) => match[1] ?? "");
}
