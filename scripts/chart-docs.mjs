#!/usr/bin/env node
// Generates charts/parley/values.schema.json and the parameter tables of charts/parley/README.md from the
// `## @section` and `## @param` comments in charts/parley/values.yaml, so the three never disagree.
//   node scripts/chart-docs.mjs          rewrite both files
//   node scripts/chart-docs.mjs --check  exit 1 when either is out of date (charts/test/chart.test.ts runs this)
// Types come from the defaults; the constraints a default cannot show (enums, ranges, reserved names) are below.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHART = `${ROOT}charts/parley`;
const check = process.argv.includes("--check");
const env = execFileSync(`${ROOT}scripts/tools.sh`, ["yaml2json"], { encoding: "utf8" });
const yaml2json = /PARLEY_YAML2JSON=(\S+)/.exec(env)?.[1];
if (!yaml2json) throw new Error("scripts/tools.sh printed no PARLEY_YAML2JSON");

const text = readFileSync(`${CHART}/values.yaml`, "utf8");
const values = JSON.parse(execFileSync(yaml2json, { input: text }).toString())[0];
const docs = new Map([...text.matchAll(/^\s*## @param (\S+) (.*)$/gm)].map((m) => [m[1], m[2]]));

/** Maps of strings to strings whose keys are the user's (annotations, labels, node selectors). */
const STRING_MAPS = [
  "serviceAccount.annotations",
  "gateway.service.annotations",
  "gateway.podAnnotations",
  "persister.podAnnotations",
  "ingress.annotations",
  "gatewayApi.httpRoute.annotations",
  "gatewayApi.httpRoute.labels",
  "gatewayApi.gateway.annotations",
  "metrics.serviceMonitor.labels",
  "metrics.prometheusRule.labels",
  "metrics.dashboards.labels",
  "gateway.nodeSelector",
  "persister.nodeSelector",
];
/** Maps whose keys are the user's (those, env, affinity, namespace selectors): one documented value each. */
const FREEFORM = new Set([
  ...STRING_MAPS,
  "gateway.env",
  "persister.env",
  "gateway.affinity",
  "persister.affinity",
  "networkPolicy.clientNamespaceSelector",
  "networkPolicy.metricsNamespaceSelector",
]);
const RESOURCES = new Set(["gateway.resources", "persister.resources", "migrations.resources", "web.resources"]);

const undocumented = [];
function infer(value, path) {
  const description = docs.get(path);
  const leaf = (schema) => {
    if (!description) undocumented.push(path);
    return description ? { description, ...schema } : schema;
  };
  if (RESOURCES.has(path)) return leaf({ $ref: "#/definitions/resources" });
  if (FREEFORM.has(path)) return leaf({ type: "object" });
  if (Array.isArray(value)) return leaf({ type: "array" });
  if (value !== null && typeof value === "object") {
    const properties = {};
    for (const [key, child] of Object.entries(value)) properties[key] = infer(child, path ? `${path}.${key}` : key);
    return { type: "object", additionalProperties: false, properties };
  }
  if (typeof value === "boolean") return leaf({ type: "boolean" });
  if (typeof value === "number")
    return leaf(Number.isInteger(value) ? { type: "integer", minimum: 0 } : { type: "number", minimum: 0 });
  return leaf({ type: "string" });
}

const schema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "Parley chart values",
  ...infer(values, ""),
};
if (undocumented.length > 0) {
  console.error(`chart-docs.mjs: values without a ## @param line: ${undocumented.join(", ")}`);
  process.exit(1);
}
const quantities = { type: "object", additionalProperties: { type: ["string", "number"] } };
schema.definitions = {
  resources: {
    type: "object",
    additionalProperties: false,
    properties: { requests: quantities, limits: quantities, claims: { type: "array" } },
  },
};
const at = (path) => path.split(".").reduce((node, key) => node.properties[key], schema);
const set = (paths, constraint) => {
  for (const path of paths) Object.assign(at(path), constraint);
};

set(["auth.mode"], { enum: ["jwt", "dev"] });
set(["logLevel"], { enum: ["fatal", "error", "warn", "info", "debug", "trace", "silent"] });
set(["image.pullPolicy"], { enum: ["Always", "IfNotPresent", "Never"] });
set(["gateway.service.type"], { enum: ["ClusterIP", "NodePort", "LoadBalancer"] });
set(
  [
    "gateway.pdb.unhealthyPodEvictionPolicy",
    "persister.pdb.unhealthyPodEvictionPolicy",
    "web.pdb.unhealthyPodEvictionPolicy",
  ],
  {
    enum: ["AlwaysAllow", "IfHealthyBudget"],
  },
);
set(["fullnameOverride"], { maxLength: 52 });
set(["gateway.image.digest", "persister.image.digest", "web.image.digest"], { pattern: "^(sha256:[a-f0-9]{64})?$" });
set(
  [
    "gateway.port",
    "gateway.metricsPort",
    "persister.metricsPort",
    "web.port",
    "gateway.service.port",
    "web.service.port",
    "gatewayApi.gateway.http.port",
    "gatewayApi.gateway.https.port",
  ],
  {
    minimum: 1,
    maximum: 65535,
  },
);
set(
  [
    "kafka.partitions",
    "gateway.dbPoolSize",
    "persister.dbPoolSize",
    "gateway.drain.batch",
    "gateway.drain.maxConnectionsPerPod",
    "gateway.autoscaling.minReplicas",
    "gateway.autoscaling.maxReplicas",
    "gateway.autoscaling.connections.averageValue",
    "gateway.autoscaling.scaleDownPodsPerPeriod",
    "gateway.autoscaling.scaleDownPeriodSeconds",
    "persister.keda.minReplicaCount",
    "persister.keda.maxReplicaCount",
    "persister.keda.lagThreshold",
    "persister.keda.pollingInterval",
    "gateway.pdb.maxUnavailable",
    "persister.pdb.maxUnavailable",
    "web.pdb.maxUnavailable",
    "persister.terminationGracePeriodSeconds",
    "migrations.activeDeadlineSeconds",
  ],
  { minimum: 1 },
);
set(["gateway.autoscaling.targetCPUUtilizationPercentage"], { maximum: 100 });
set(["tracing.sampleRatio", "metrics.prometheusRule.connectionDropRatio"], { type: "number", minimum: 0, maximum: 1 });
set(["tracing.otlpEndpoint"], { pattern: "^(https?://\\S+)?$" });
set(["files.s3.endpoint", "files.s3.publicEndpoint"], { pattern: "^(https?://\\S+)?$" });
// S3's bucket naming rules (lower case, 3 to 63 characters), so a typo fails at install, not at the first upload.
set(["files.s3.bucket"], { pattern: "^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$" });
set(["files.s3.region"], { pattern: "^[A-Za-z0-9_-]+$" });
// The gateway's bounds (gateway/src/config.ts): at most MAX_ATTACHMENTS (protocol/src/message.ts) per message,
// pre-signed URLs (SigV4) valid 10 s to 7 days, unattached uploads kept at least a minute.
set(["files.maxBytes"], { minimum: 1 });
set(["files.perMessage"], { minimum: 1, maximum: 32 });
set(["files.urlSeconds"], { minimum: 10, maximum: 604800 });
set(["files.unattachedSeconds"], { minimum: 60 });
set(["files.s3.egressPort"], { maximum: 65535 });
set(["files.types"], {
  items: { type: "string", pattern: "^[a-z0-9][a-z0-9!#$&^_.+-]*/([a-z0-9][a-z0-9!#$&^_.+-]*|\\*)$" },
});
set(["files.s3.egressTo", "networkPolicy.egress.rules"], { items: { type: "object" } });
set(["gateway.autoscaling.scaleDownStabilizationSeconds"], { maximum: 3600 });
set(["kafka.brokers"], { minItems: 0, items: { type: "string", pattern: "^[^\\s,]+:[0-9]+$" } });
set(["imagePullSecrets"], { items: { type: "object", required: ["name"], properties: { name: { type: "string" } } } });
set(["ingress.tls"], {
  items: {
    type: "object",
    additionalProperties: false,
    properties: { secretName: { type: "string" }, hosts: { type: "array", items: { type: "string" } } },
  },
});
set(["gateway.tolerations", "persister.tolerations"], { items: { type: "object" } });
// Gateway API's own patterns (HTTPRoute hostnames, listener hostname, object names), so a typo fails at install.
const HOSTNAME = "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
set(["gatewayApi.httpRoute.hostnames"], { items: { type: "string", pattern: HOSTNAME } });
set(["gatewayApi.gateway.hostname"], { pattern: `^$|${HOSTNAME}` });
set(["gatewayApi.httpRoute.parentRefs"], {
  items: {
    type: "object",
    additionalProperties: false,
    required: ["name"],
    properties: {
      group: { type: "string" },
      kind: { type: "string" },
      namespace: { type: "string" },
      name: { type: "string", minLength: 1 },
      sectionName: { type: "string" },
      port: { type: "integer", minimum: 1, maximum: 65535 },
    },
  },
});
set(STRING_MAPS, { additionalProperties: { type: "string" } });
// The env maps add PARLEY_ variables; the ones the chart sets from other values are reserved (a duplicate key in
// the ConfigMap would be an invalid manifest, and two sources of truth).
function reserved(service) {
  const [gatewayMap, persisterMap] = readFileSync(`${CHART}/templates/configmap.yaml`, "utf8").split(/^---$/m);
  const names = (t) => [...t.matchAll(/\b(PARLEY_[A-Z0-9_]+)\b/g)].map((m) => m[1]);
  const deployment = readFileSync(`${CHART}/templates/${service}-deployment.yaml`, "utf8");
  return [
    ...new Set([...names((service === "gateway" ? gatewayMap : persisterMap) ?? ""), ...names(deployment)]),
  ].sort();
}
for (const service of ["gateway", "persister"]) {
  set([`${service}.env`], {
    propertyNames: { pattern: "^PARLEY_[A-Z0-9_]+$", not: { enum: reserved(service) } },
    additionalProperties: { type: ["string", "number", "boolean"] },
  });
}

// Parameter tables for the README, between the markers.
let tables = "";
for (const line of text.split("\n")) {
  const section = /^## @section (.*)$/.exec(line);
  if (section) tables += `\n### ${section[1]}\n\n| name | description | default |\n| --- | --- | --- |\n`;
  const param = /^\s*## @param (\S+) (.*)$/.exec(line);
  if (param) {
    const value = JSON.stringify(param[1].split(".").reduce((node, key) => node?.[key], values));
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    tables += `| \`${param[1]}\` | ${param[2].replace(/\|/g, "\\|")} | \`${shown}\` |\n`;
  }
}
const BEGIN = "<!-- parameters: generated by scripts/chart-docs.mjs -->";
const END = "<!-- end of parameters -->";
const readme = readFileSync(`${CHART}/README.md`, "utf8");
const start = readme.indexOf(BEGIN);
const end = readme.indexOf(END);
if (start < 0 || end < start) throw new Error(`charts/parley/README.md lacks the ${BEGIN} ... ${END} markers`);

// Formatted like biome formats JSON (2 spaces, short arrays on one line) so `biome ci` agrees with the output.
const schemaText = execFileSync(`${ROOT}node_modules/.bin/biome`, ["format", "--stdin-file-path=values.schema.json"], {
  input: JSON.stringify(schema, null, 2),
  encoding: "utf8",
});
const outputs = [
  [`${CHART}/values.schema.json`, schemaText],
  [`${CHART}/README.md`, `${readme.slice(0, start + BEGIN.length)}\n${tables}\n${readme.slice(end)}`],
];
let stale = false;
for (const [file, content] of outputs) {
  if (readFileSync(file, "utf8") === content) continue;
  if (check) {
    console.error(`chart-docs.mjs: ${file.slice(ROOT.length)} is out of date: run node scripts/chart-docs.mjs`);
    stale = true;
  } else writeFileSync(file, content);
}
process.exit(stale ? 1 : 0);
