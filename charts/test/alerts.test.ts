/**
 * The chart's alerts and dashboards checked by Prometheus' own tool: the rendered PrometheusRule passes
 * `promtool check rules`, every alert has `promtool test rules` cases (charts/test/alerts.promtool.yaml) and a
 * runbook section in docs/operations.md, and every dashboard query parses as PromQL.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { arr, obj, str } from "./json.js";
import { CHART, helmTemplate, parseYaml, ROOT, run, TOOLS_TIMEOUT_MS, tools } from "./tools.js";

const PROMETHEUS = `${ROOT}scripts/prometheus.sh`;

function promtool(args: string[]) {
  return run(PROMETHEUS, ["promtool", ...args]);
}

describe("alerts and dashboards under promtool", () => {
  let groups: unknown[];
  let dir: string;

  beforeAll(() => {
    tools();
    // Installs Debian's prometheus package (promtool) when missing.
    const ensured = run(PROMETHEUS, ["ensure"]);
    expect(ensured.status, ensured.stderr).toBe(0);
    const [rule] = parseYaml(
      helmTemplate(["charts/parley/ci/minimal-values.yaml"], ["--show-only", "templates/prometheusrule.yaml"]),
    );
    groups = arr(obj(rule), "spec", "groups");
    dir = mkdtempSync(join(tmpdir(), "parley-rules-"));
  }, TOOLS_TIMEOUT_MS);

  const alerts = () => groups.flatMap((group) => arr(group, "rules").map((rule) => obj(rule)));

  it("the rendered PrometheusRule passes promtool check rules", () => {
    const file = join(dir, "rendered.yaml");
    writeFileSync(file, JSON.stringify({ groups }));
    const result = promtool(["check", "rules", file]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${alerts().length} rules found`);
  });

  it("every alert fires on its unit-test series and stays quiet on the others (promtool test rules)", () => {
    // The unit tests check when alerts fire and with which labels; annotations are text for humans.
    const bare = groups.map((group) => ({
      ...obj(group),
      rules: arr(group, "rules").map((rule) => ({ ...obj(rule), annotations: undefined })),
    }));
    writeFileSync(join(dir, "rules.yaml"), JSON.stringify({ groups: bare }));
    copyFileSync(`${ROOT}charts/test/alerts.promtool.yaml`, join(dir, "alerts.promtool.yaml"));
    const result = promtool(["test", "rules", join(dir, "alerts.promtool.yaml")]);
    expect(result.status, result.stdout + result.stderr).toBe(0);

    const tests = readFileSync(`${ROOT}charts/test/alerts.promtool.yaml`, "utf8");
    for (const alert of alerts()) {
      const name = str(alert, "alert");
      expect(tests, `a promtool test that expects ${name} to fire`).toMatch(
        new RegExp(`alertname: ${name}\\n\\s+eval_time: \\S+\\n\\s+exp_alerts:\\n\\s+- exp_labels`),
      );
    }
  });

  it("every alert has a runbook section in docs/operations.md and links to it", () => {
    const runbooks = readFileSync(`${ROOT}docs/operations.md`, "utf8");
    for (const alert of alerts()) {
      const name = str(alert, "alert");
      expect(runbooks, name).toContain(`\n### ${name}\n`);
      expect(str(alert, "annotations", "runbook_url")).toMatch(
        new RegExp(`/docs/operations\\.md#${name.toLowerCase()}$`),
      );
    }
  });

  it("every dashboard query is valid PromQL", () => {
    const rules: { record: string; expr: string }[] = [];
    for (const file of readdirSync(`${CHART}/dashboards`)) {
      const dashboard = obj(JSON.parse(readFileSync(`${CHART}/dashboards/${file}`, "utf8")));
      for (const panel of arr(dashboard, "panels")) {
        for (const target of obj(panel).targets === undefined ? [] : arr(panel, "targets")) {
          // Grafana's variables as Prometheus would see them after substitution.
          const expr = str(target, "expr").replaceAll("$__rate_interval", "1m").replaceAll("$namespace", "chat");
          rules.push({ record: `dashboard:query_${rules.length}`, expr });
        }
      }
    }
    expect(rules.length).toBeGreaterThan(40);
    const file = join(dir, "dashboards.yaml");
    writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboards", rules }] }));
    const result = promtool(["check", "rules", file]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });
});
