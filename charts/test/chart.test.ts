/**
 * The Helm chart, checked without a cluster: lint, render every scenario, validate every object strictly against the
 * Kubernetes (and CRD) schemas, and assert what would break a real cluster or a rollout.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { arr, at, isObject, type Json, type JsonObject, num, obj, str } from "./json.js";
import {
  CHART,
  helmTemplate,
  helmTemplateResult,
  type K8sObject,
  kubeconform,
  parseYaml,
  ROOT,
  run,
  TOOLS_TIMEOUT_MS,
  tools,
} from "./tools.js";

/** Every values scenario: the chart's ci/ files (as chart-testing lints them) and the dev values skaffold deploys. */
const SCENARIOS = [
  ...readdirSync(`${CHART}/ci`)
    .filter((file) => file.endsWith(".yaml"))
    .map((file) => `charts/parley/ci/${file}`),
  "k8s/values-dev.yaml",
  "k8s/values-cluster.yaml",
];

const source = (path: string) => readFileSync(`${ROOT}${path}`, "utf8");

/** Metric names the services register (prom-client `name: "parley_..."`), with a histogram's series suffixes. */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  for (const file of ["gateway/src/metrics.ts", "persister/src/metrics.ts"]) {
    const text = source(file);
    for (const [, name] of text.matchAll(/name: "(parley_\w+)"/g)) {
      if (!name) continue;
      names.add(name);
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    }
  }
  return names;
}

/**
 * PARLEY_ variables a service's config parser knows (its config.ts, plus the shared tracing variables it spreads
 * in), so a typo in the chart cannot hide.
 */
function knownVariables(service: "gateway" | "persister"): Set<string> {
  const config = source(`${service}/src/config.ts`);
  const texts = [config, ...(config.includes("...TRACING_VARIABLES") ? [source("runtime/src/tracing.ts")] : [])];
  return new Set(texts.flatMap((text) => [...text.matchAll(/\b(PARLEY_[A-Z0-9_]+):/g)].map((m) => m[1] ?? "")));
}

/** Values of one scenario merged over the chart defaults (Helm's merge: maps deep, everything else replaced). */
function mergedValues(file: string): JsonObject {
  const merge = (base: JsonObject, over: JsonObject): JsonObject => {
    const out: JsonObject = { ...base };
    for (const [key, value] of Object.entries(over)) {
      const current = out[key];
      out[key] = isObject(current) && isObject(value) ? merge(current, value) : value;
    }
    return out;
  };
  return merge(obj(parseYaml(readFileSync(`${CHART}/values.yaml`, "utf8"))[0]), obj(parseYaml(source(file))[0] ?? {}));
}

interface Rendered {
  yaml: string;
  objects: K8sObject[];
  values: JsonObject;
}

function find(r: Rendered, kind: string, suffix: string): K8sObject | undefined {
  return r.objects.find((o) => o.kind === kind && o.metadata.name.endsWith(suffix));
}

function mustFind(r: Rendered, kind: string, suffix: string): K8sObject {
  const found = find(r, kind, suffix);
  if (!found) throw new Error(`no ${kind} named *${suffix} rendered`);
  return found;
}

const podSpec = (workload: K8sObject) => obj(workload, "spec", "template", "spec");
const containers = (workload: K8sObject) => arr(podSpec(workload), "containers").map((c) => obj(c));
const annotations = (o: K8sObject) => obj(o, "metadata").annotations ?? {};
const podWorkloads = (r: Rendered) => r.objects.filter((o) => o.kind === "Deployment" || o.kind === "Job");

function containerPort(container: JsonObject, name: string): number {
  const port = arr(container, "ports")
    .map((p) => obj(p))
    .find((p) => p.name === name);
  if (!port) throw new Error(`container ${String(container.name)} has no port named ${name}`);
  return num(port, "containerPort");
}

/** What a probe checks, as kube-score compares them: the HTTP path and port, the TCP port, or the command. */
function probeTarget(probe: JsonObject): Json {
  const handler = probe.httpGet ?? probe.tcpSocket ?? probe.exec ?? probe.grpc;
  if (handler === undefined) throw new Error(`probe without a handler: ${JSON.stringify(probe)}`);
  return { kind: Object.keys(probe).find((k) => probe[k] === handler) ?? "", ...obj(handler) };
}

/** Seconds of failures before a probe acts (kubelet: period × failureThreshold, defaults 10 s × 3). */
const probeWindow = (probe: JsonObject) => Number(probe.periodSeconds ?? 10) * Number(probe.failureThreshold ?? 3);

/** Whether a label selector (matchLabels only, as this chart writes them) selects these labels. */
const selects = (selector: JsonObject, labels: JsonObject) =>
  Object.keys(obj(selector, "matchLabels")).length > 0 &&
  Object.entries(obj(selector, "matchLabels")).every(([k, v]) => labels[k] === v);

const hookWeight = (o: K8sObject) => Number(str(annotations(o), "helm.sh/hook-weight"));
const hookEvents = (o: K8sObject) => str(annotations(o), "helm.sh/hook").split(",");

describe("charts/parley", () => {
  const rendered = new Map<string, Rendered>();
  const render = (file: string): Rendered => {
    const hit = rendered.get(file);
    if (hit) return hit;
    const yaml = helmTemplate([file]);
    const result = {
      yaml,
      objects: parseYaml(yaml).map((o) => obj(o) as unknown as K8sObject),
      values: mergedValues(file),
    };
    rendered.set(file, result);
    return result;
  };

  beforeAll(() => {
    tools();
  }, TOOLS_TIMEOUT_MS);

  it.each(SCENARIOS)("helm lint --strict passes with %s", (file) => {
    const result = run(tools().helm, ["lint", "--strict", CHART, "--values", `${ROOT}${file}`]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it.each(SCENARIOS)("every object rendered with %s validates against the Kubernetes and CRD schemas", (file) => {
    const r = render(file);
    expect(r.objects.length).toBeGreaterThan(5);
    const report = kubeconform(r.yaml);
    const problems = report.resources.filter((v) => v.status !== "statusValid");
    expect(problems, JSON.stringify(problems, null, 2)).toEqual([]);
    // -verbose lists every resource: none was skipped for want of a schema.
    expect(report.resources).toHaveLength(r.objects.length);
  });

  it("the validator is not vacuous: it rejects unknown fields, wrong types and unknown kinds", () => {
    const bad = [
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  selector: {matchLabels: {a: b}}\n" +
        "  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n        - name: c\n          image: i\n" +
        "          readinessProbe: {httpGet: {path: /readyz, prot: 8080}}\n",
      "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\n" +
        "spec: {scaleTargetRef: {kind: Deployment, name: a}, maxReplicas: ten}\n",
      "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: a}\n" +
        "spec: {selector: {}, endpoints: [{port: metrics, intervall: 5s}]}\n",
      "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {scaleTargetRef: {name: a}, triggers: [{type: kafka}]}\n",
      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: a}\n" +
        "spec: {rules: [{matches: [{path: {type: Prefix, value: /api}}]}]}\n",
      "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: a}\n" +
        "spec: {gatewayClassName: eg, listeners: [{name: http, protocol: HTTP, port: 80, hostnames: [a]}]}\n",
      "apiVersion: example.com/v1\nkind: Unknown\nmetadata: {name: a}\n",
    ];
    for (const yaml of bad) {
      const report = kubeconform(yaml);
      expect(
        report.resources.map((v) => v.status),
        yaml,
      ).not.toContain("statusValid");
    }
  });

  it.each(SCENARIOS)("%s: the HPA targets the gateway Deployment on the metric the gateway exports", (file) => {
    const r = render(file);
    const deployment = mustFind(r, "Deployment", "-gateway");
    const hpa = find(r, "HorizontalPodAutoscaler", "-gateway");
    const autoscaling = obj(r.values, "gateway", "autoscaling");
    if (autoscaling.enabled !== true) {
      expect(hpa).toBeUndefined();
      expect(num(deployment, "spec", "replicas")).toBeGreaterThan(0);
      return;
    }
    if (!hpa) throw new Error("autoscaling is enabled but no HPA is rendered");
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(obj(hpa, "spec", "scaleTargetRef")).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: deployment.metadata.name,
    });
    // The Deployment must not fight the HPA: every apply would reset the replica count.
    expect(obj(deployment, "spec")).not.toHaveProperty("replicas");
    const metrics = arr(hpa, "spec", "metrics").map((m) => obj(m));
    const pods = metrics.find((m) => m.type === "Pods");
    if (obj(autoscaling, "connections").enabled === true) {
      if (!pods) throw new Error("no Pods metric in the HPA");
      const name = str(pods, "pods", "metric", "name");
      expect(name).toBe("parley_gateway_connections");
      expect(source("gateway/src/metrics.ts")).toMatch(new RegExp(`new Gauge\\(\\{\\s*name: "${name}"`));
      expect(str(pods, "pods", "target", "type")).toBe("AverageValue");
      const target = Number(str(pods, "pods", "target", "averageValue"));
      expect(target).toBeGreaterThan(0);
      expect(target).toBeLessThanOrEqual(num(r.values, "gateway", "drain", "maxConnectionsPerPod"));
    } else {
      expect(pods).toBeUndefined();
    }
    // CPU is the fallback that works without prometheus-adapter.
    expect(metrics.find((m) => m.type === "Resource" && obj(m, "resource").name === "cpu")).toBeDefined();
    // Removing a pod reconnects all its clients: scale down slowly and only after a long stable dip.
    expect(num(hpa, "spec", "behavior", "scaleDown", "stabilizationWindowSeconds")).toBeGreaterThanOrEqual(300);
    expect(num(hpa, "spec", "minReplicas")).toBeGreaterThanOrEqual(1);
  });

  it.each(SCENARIOS)("%s: probes and ports point at the endpoints the services serve", (file) => {
    const r = render(file);
    const gatewaySource = source("gateway/src/gateway.ts");
    expect(gatewaySource).toContain('case "/healthz":');
    expect(gatewaySource).toContain('case "/readyz":');
    const deployment = mustFind(r, "Deployment", "-gateway");
    const [gateway] = containers(deployment);
    if (!gateway) throw new Error("gateway Deployment has no container");
    const config = obj(mustFind(r, "ConfigMap", "-gateway"), "data");
    expect(containerPort(gateway, "http")).toBe(Number(config.PARLEY_PORT));
    expect(containerPort(gateway, "metrics")).toBe(Number(config.PARLEY_METRICS_PORT));
    expect(obj(gateway, "livenessProbe", "httpGet")).toEqual({ path: "/healthz", port: "http" });
    expect(obj(gateway, "startupProbe", "httpGet")).toEqual({ path: "/healthz", port: "http" });
    expect(obj(gateway, "readinessProbe", "httpGet")).toEqual({ path: "/readyz", port: "http" });

    const persister = containers(mustFind(r, "Deployment", "-persister"))[0];
    if (!persister) throw new Error("persister Deployment has no container");
    const persisterConfig = obj(mustFind(r, "ConfigMap", "-persister"), "data");
    expect(containerPort(persister, "metrics")).toBe(Number(persisterConfig.PARLEY_METRICS_PORT));
    // The persister's only port answers /readyz from its consumer's state and /healthz (persister/src/main.ts).
    expect(obj(persister, "readinessProbe", "httpGet")).toEqual({ path: "/readyz", port: "metrics" });
    expect(obj(persister, "livenessProbe", "httpGet")).toEqual({ path: "/healthz", port: "metrics" });
    expect(source("persister/src/main.ts")).toMatch(/serveMetrics\([^;]*\{\s*ready: \(\) => phase === "consuming"/);
    expect(source("runtime/src/metrics-server.ts")).toContain("isHealthPath(path)");

    // No container's liveness probe checks what its readiness probe checks: a pod that is merely busy or cut off
    // from Redis must leave the endpoints, not be restarted, so liveness is a different check or looser.
    for (const workload of r.objects.filter((o) => o.kind === "Deployment")) {
      for (const container of containers(workload)) {
        const { readinessProbe, livenessProbe } = container;
        if (!isObject(readinessProbe) || !isObject(livenessProbe)) continue;
        expect(probeTarget(livenessProbe), workload.metadata.name).not.toEqual(probeTarget(readinessProbe));
        expect(probeWindow(livenessProbe), workload.metadata.name).toBeGreaterThanOrEqual(probeWindow(readinessProbe));
      }
    }
    const web = find(r, "Deployment", "-web");
    if (web) {
      const [nginx] = containers(web);
      expect(obj(nginx, "readinessProbe", "httpGet")).toEqual({ path: "/healthz", port: "http" });
      expect(source("web/nginx/default.conf")).toMatch(/location = \/healthz \{[^}]*return 200/);
      expect(obj(nginx, "livenessProbe", "tcpSocket")).toEqual({ port: "http" });
      expect(probeWindow(obj(nginx, "livenessProbe"))).toBeGreaterThanOrEqual(60);
    }

    // Every Service's targetPort names a port of the pods it selects; every Ingress backend names a Service port.
    const workloads = r.objects.filter((o) => o.kind === "Deployment");
    for (const service of r.objects.filter((o) => o.kind === "Service")) {
      const selector = obj(service, "spec", "selector");
      const target = workloads.find((w) =>
        Object.entries(selector).every(([k, v]) => obj(w, "spec", "template", "metadata", "labels")[k] === v),
      );
      if (!target) throw new Error(`Service ${service.metadata.name} selects no Deployment`);
      for (const port of arr(service, "spec", "ports").map((p) => obj(p))) {
        expect(() => containerPort(containers(target)[0] ?? {}, str(port, "targetPort"))).not.toThrow();
      }
    }
    const ingress = find(r, "Ingress", "");
    if (ingress) {
      for (const path of arr(ingress, "spec", "rules", "0", "http", "paths").map((p) => obj(p, "backend", "service"))) {
        const service = r.objects.find((o) => o.kind === "Service" && o.metadata.name === path.name);
        if (!service) throw new Error(`Ingress backend ${String(path.name)} is not a rendered Service`);
        const names = arr(service, "spec", "ports").map((p) => obj(p).name);
        expect(names).toContain(str(path, "port", "name"));
      }
      expect(arr(ingress, "spec", "rules", "0", "http", "paths").map((p) => obj(p).path)).toEqual(
        expect.arrayContaining(["/ws", "/api"]),
      );
    }
  });

  it.each(SCENARIOS)("%s: the gateway's grace period covers preStop plus the worst-case drain", (file) => {
    const r = render(file);
    const deployment = mustFind(r, "Deployment", "-gateway");
    const config = obj(mustFind(r, "ConfigMap", "-gateway"), "data");
    const batch = Number(config.PARLEY_DRAIN_BATCH);
    const intervalMs = Number(config.PARLEY_DRAIN_INTERVAL_MS);
    const connections = num(r.values, "gateway", "drain", "maxConnectionsPerPod");
    // Batches every interval, jittered up to +50 % (gateway/src drain): the slowest possible drain.
    const drainSeconds = (Math.ceil(connections / batch) * intervalMs * 1.5) / 1000;
    const [container] = containers(deployment);
    const preStop = arr(container, "lifecycle", "preStop", "exec", "command");
    expect(preStop[0]).toBe("sleep");
    const preStopSeconds = Number(preStop[1]);
    const grace = num(podSpec(deployment), "terminationGracePeriodSeconds");
    expect(grace).toBeGreaterThan(preStopSeconds + drainSeconds);
    // Rolling updates add pods before removing any, so drained clients find room.
    expect(obj(deployment, "spec", "strategy", "rollingUpdate").maxUnavailable).toBe(0);
    const pdb = mustFind(r, "PodDisruptionBudget", "-gateway");
    expect(obj(pdb, "spec", "selector", "matchLabels")).toEqual(obj(deployment, "spec", "selector", "matchLabels"));
  });

  it.each(SCENARIOS)("%s: the ingress keeps idle WebSockets open longer than the gateway's ping interval", (file) => {
    const r = render(file);
    const ingress = find(r, "Ingress", "");
    if (!ingress) return;
    const idle = Number(
      obj(mustFind(r, "ConfigMap", "-gateway"), "data").PARLEY_IDLE_TIMEOUT_SECONDS ??
        /PARLEY_IDLE_TIMEOUT_SECONDS: env\.int\((\d+)/.exec(source("gateway/src/config.ts"))?.[1],
    );
    expect(idle).toBeGreaterThan(0);
    const notes = annotations(ingress);
    for (const key of ["proxy-read-timeout", "proxy-send-timeout"]) {
      expect(Number(str(notes, `nginx.ingress.kubernetes.io/${key}`)), key).toBeGreaterThan(2 * idle);
    }
  });

  it.each(SCENARIOS)("%s: the HTTPRoute routes like the Ingress, to rendered Services, under its parents", (file) => {
    const r = render(file);
    const routeValues = obj(r.values, "gatewayApi", "httpRoute");
    const gatewayValues = obj(r.values, "gatewayApi", "gateway");
    const routes = r.objects.filter((o) => o.kind === "HTTPRoute");
    const gateway = find(r, "Gateway", "");
    if (routeValues.enabled !== true) {
      expect(routes).toEqual([]);
      expect(gateway).toBeUndefined();
      return;
    }
    const route = routes.find((o) => !o.metadata.name.endsWith("-redirect"));
    if (!route) throw new Error("gatewayApi.httpRoute is enabled but no HTTPRoute is rendered");
    expect(route.apiVersion).toBe("gateway.networking.k8s.io/v1");
    expect(arr(route, "spec", "hostnames")).toEqual(arr(routeValues, "hostnames"));
    const parents = arr(route, "spec", "parentRefs").map((p) => obj(p));
    expect(parents.length).toBeGreaterThan(0);
    for (const parent of arr(routeValues, "parentRefs")) expect(parents).toContainEqual(parent);

    // Each rule: its path match and the Service port it sends to; every backend is a rendered Service's port.
    const routing = arr(route, "spec", "rules").map((rule) => {
      const [match] = arr(rule, "matches");
      const [backend] = arr(rule, "backendRefs").map((b) => obj(b));
      const service = r.objects.find((o) => o.kind === "Service" && o.metadata.name === str(backend, "name"));
      if (!service) throw new Error(`HTTPRoute backend ${String(backend?.name)} is not a rendered Service`);
      const port = arr(service, "spec", "ports")
        .map((p) => obj(p))
        .find((p) => p.port === num(backend, "port"));
      if (!port) throw new Error(`Service ${service.metadata.name} has no port ${String(backend?.port)}`);
      return `${str(match, "path", "type")} ${str(match, "path", "value")} -> ${service.metadata.name}:${str(port, "name")}`;
    });
    expect(routing).toEqual([
      "Exact /ws -> parley-gateway:http",
      "PathPrefix /api -> parley-gateway:http",
      ...(obj(r.values, "web").enabled === true ? ["PathPrefix / -> parley-web:http"] : []),
    ]);
    // Named rules, so an implementation's policy can target the WebSocket rule alone; no request timeouts on it.
    expect(arr(route, "spec", "rules").map((rule) => str(rule, "name"))[0]).toBe("websocket");
    for (const rule of arr(route, "spec", "rules")) expect(obj(rule)).not.toHaveProperty("timeouts");

    if (gatewayValues.enabled !== true) {
      expect(gateway).toBeUndefined();
      expect(routes).toHaveLength(1);
      return;
    }
    if (!gateway) throw new Error("gatewayApi.gateway is enabled but no Gateway is rendered");
    expect(str(gateway, "spec", "gatewayClassName")).toBe(str(gatewayValues, "className"));
    const listeners = Object.fromEntries(arr(gateway, "spec", "listeners").map((l) => [str(l, "name"), obj(l)]));
    const https = obj(gatewayValues, "https");
    if (https.enabled === true) {
      const listener = listeners.https;
      if (!listener) throw new Error("the https listener is enabled but not rendered");
      expect(listener).toMatchObject({ protocol: "HTTPS", port: num(https, "port") });
      expect(str(listener, "tls", "mode")).toBe("Terminate");
      expect(arr(listener, "tls", "certificateRefs")).toEqual([
        { group: "", kind: "Secret", name: str(https, "certificateSecret") },
      ]);
    }
    const own = parents.find((p) => p.kind === "Gateway" && p.name === gateway.metadata.name && !p.namespace);
    if (!own) throw new Error("the HTTPRoute is not attached to the chart's Gateway");
    const redirect = routes.find((o) => o.metadata.name.endsWith("-redirect"));
    if (listeners.http && listeners.https && obj(gatewayValues, "http").redirectToHttps === true) {
      // Plain HTTP only redirects: the chat is attached to the https listener, the redirect to the http one.
      expect(own.sectionName).toBe("https");
      if (!redirect) throw new Error("no redirect HTTPRoute for the http listener");
      expect(arr(redirect, "spec", "parentRefs")).toEqual([{ ...own, sectionName: "http" }]);
      expect(arr(redirect, "spec", "rules", "0", "filters")).toEqual([
        { type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } },
      ]);
      expect(obj(arr(redirect, "spec", "rules")[0])).not.toHaveProperty("backendRefs");
    } else {
      expect(redirect).toBeUndefined();
    }
  });

  it("the HTTPRoute's paths are the Ingress's, and send to the same Service ports", () => {
    const both = [
      "--set",
      "ingress.enabled=true",
      "--set",
      "gatewayApi.httpRoute.enabled=true",
      "--set",
      "gatewayApi.httpRoute.parentRefs[0].name=public",
    ];
    const objects = parseYaml(helmTemplate(["charts/parley/ci/minimal-values.yaml"], both)).map((o) => obj(o));
    const servicePort = (name: string, port: { name?: Json; number?: Json }) => {
      const service = objects.find((o) => o.kind === "Service" && str(o, "metadata", "name") === name);
      const found = arr(service, "spec", "ports")
        .map((p) => obj(p))
        .find((p) => p.name === port.name || p.port === port.number);
      return `${name}:${str(found, "name")}`;
    };
    const ingress = objects.find((o) => o.kind === "Ingress");
    const fromIngress = arr(ingress, "spec", "rules", "0", "http", "paths").map((p) => {
      const service = obj(p, "backend", "service");
      const type = { Exact: "Exact", Prefix: "PathPrefix" }[str(p, "pathType")];
      return `${type} ${str(p, "path")} -> ${servicePort(str(service, "name"), { name: str(service, "port", "name") })}`;
    });
    const route = objects.find((o) => o.kind === "HTTPRoute");
    expect(arr(route, "spec", "parentRefs")).toEqual([{ name: "public" }]);
    const fromRoute = arr(route, "spec", "rules").map((rule) => {
      const backend = obj(arr(rule, "backendRefs")[0]);
      const path = obj(arr(rule, "matches")[0], "path");
      return `${str(path, "type")} ${str(path, "value")} -> ${servicePort(str(backend, "name"), { number: num(backend, "port") })}`;
    });
    expect(fromRoute).toEqual(fromIngress);
    expect(fromRoute).toHaveLength(3);
  });

  it.each([
    [["--set", "gatewayApi.httpRoute.enabled=true"], "set parentRefs or enable gatewayApi.gateway"],
    [
      ["--set", "gatewayApi.gateway.enabled=true", "--set", "gatewayApi.gateway.className=eg"],
      "needs gatewayApi.httpRoute.enabled",
    ],
    [
      ["--set", "gatewayApi.httpRoute.enabled=true", "--set", "gatewayApi.gateway.enabled=true"],
      "className is required",
    ],
    [
      [
        "--set",
        "gatewayApi.httpRoute.enabled=true",
        "--set",
        "gatewayApi.gateway.enabled=true",
        "--set",
        "gatewayApi.gateway.className=eg",
        "--set",
        "gatewayApi.gateway.https.enabled=true",
      ],
      "certificateSecret is required",
    ],
    [
      ["--set", "gatewayApi.httpRoute.enabled=true", "--set", "gatewayApi.httpRoute.hostnames[0]=Chat_Example"],
      "hostnames",
    ],
  ])("refuses Gateway API values %j", (set, message) => {
    const result = helmTemplateResult(["charts/parley/ci/minimal-values.yaml"], set);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(message);
  });

  it("a scenario renders the Gateway API kinds, so they are validated strictly too", () => {
    const kinds = new Set(SCENARIOS.flatMap((file) => render(file).objects.map((o) => `${o.apiVersion} ${o.kind}`)));
    expect(kinds).toContain("gateway.networking.k8s.io/v1 HTTPRoute");
    expect(kinds).toContain("gateway.networking.k8s.io/v1 Gateway");
  });

  it("refuses a gateway grace period shorter than the drain", () => {
    const result = helmTemplateResult(
      ["charts/parley/ci/minimal-values.yaml"],
      ["--set", "gateway.terminationGracePeriodSeconds=8"],
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("terminationGracePeriodSeconds must exceed");
  });

  it("refuses more persister replicas than partitions", () => {
    const result = helmTemplateResult(["charts/parley/ci/minimal-values.yaml"], ["--set", "persister.replicaCount=13"]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("must not exceed kafka.partitions");
  });

  it.each(SCENARIOS)("%s: every pod runs as non-root with a read-only root filesystem and resources", (file) => {
    const r = render(file);
    const workloads = podWorkloads(r);
    expect(workloads.length).toBeGreaterThanOrEqual(2);
    for (const workload of workloads) {
      const security = obj(podSpec(workload), "securityContext");
      expect(security.runAsNonRoot, workload.metadata.name).toBe(true);
      expect(num(security, "runAsUser"), workload.metadata.name).toBeGreaterThan(0);
      expect(podSpec(workload).automountServiceAccountToken).toBe(false);
      for (const container of containers(workload)) {
        const context = obj(container, "securityContext");
        expect(context.allowPrivilegeEscalation).toBe(false);
        expect(context.readOnlyRootFilesystem).toBe(true);
        expect(arr(context, "capabilities", "drop")).toEqual(["ALL"]);
        expect(obj(container, "resources", "requests")).toHaveProperty("memory");
        expect(obj(container, "resources", "limits")).toHaveProperty("memory");
      }
    }
  });

  it.each(SCENARIOS)("%s: the migration hook runs before the Deployments and can read its secret", (file) => {
    const r = render(file);
    const job = find(r, "Job", "-migrate");
    if (obj(r.values, "migrations").enabled !== true) {
      expect(job).toBeUndefined();
      return;
    }
    if (!job) throw new Error("migrations are enabled but no Job is rendered");
    const hooks = str(annotations(job), "helm.sh/hook").split(",");
    expect(hooks).toEqual(expect.arrayContaining(["pre-install", "pre-upgrade"]));
    // Regular resources (the Deployments) are applied only after every pre-install/pre-upgrade hook succeeded.
    for (const deployment of r.objects.filter((o) => o.kind === "Deployment")) {
      expect(annotations(deployment)).not.toHaveProperty("helm.sh/hook");
    }
    const [container] = containers(job);
    expect(arr(container, "command")).toContain("persister/dist/migrate.js");
    expect(existsSync(`${ROOT}persister/src/migrate.ts`)).toBe(true);
    expect(str(container, "image")).toBe(str(containers(mustFind(r, "Deployment", "-persister"))[0], "image"));
    // Its Secret exists when it runs: an existing one, or a hook created before it (lower weight).
    const secretName = str(
      arr(container, "env")
        .map((e) => obj(e))
        .find((e) => e.name === "PARLEY_DATABASE_URL"),
      "valueFrom",
      "secretKeyRef",
      "name",
    );
    const secret = r.objects.find((o) => o.kind === "Secret" && o.metadata.name === secretName);
    if (r.values.existingSecret) {
      expect(secretName).toBe(r.values.existingSecret);
    } else {
      if (!secret) throw new Error(`the Job's Secret ${secretName} is not rendered`);
      expect(str(annotations(secret), "helm.sh/hook").split(",")).toEqual(expect.arrayContaining(hooks));
      expect(Number(str(annotations(secret), "helm.sh/hook-weight"))).toBeLessThan(
        Number(str(annotations(job), "helm.sh/hook-weight")),
      );
    }
    // Its NetworkPolicy exists when it runs: regular policies are applied only after the pre-install hooks, so it is
    // a hook of the same events created before the Job, selecting the Job's pods and admitting nothing.
    const policy = find(r, "NetworkPolicy", "-migrate");
    if (obj(r.values, "networkPolicy").enabled !== true) {
      expect(policy).toBeUndefined();
      return;
    }
    if (!policy) throw new Error("network policies are enabled but none covers the migration Job");
    expect(str(annotations(policy), "helm.sh/hook").split(",")).toEqual(expect.arrayContaining(hooks));
    expect(Number(str(annotations(policy), "helm.sh/hook-weight"))).toBeLessThan(
      Number(str(annotations(job), "helm.sh/hook-weight")),
    );
    expect(str(annotations(policy), "helm.sh/hook-delete-policy")).toContain("before-hook-creation");
    expect(selects(obj(policy, "spec", "podSelector"), obj(job, "spec", "template", "metadata", "labels"))).toBe(true);
    expect(arr(policy, "spec", "policyTypes")).toContain("Ingress");
    expect(arr(policy, "spec", "ingress")).toEqual([]);
  });

  it.each(SCENARIOS)("%s: with network policies on, every pod is covered by one that exists before it runs", (file) => {
    const r = render(file);
    const policies = r.objects.filter((o) => o.kind === "NetworkPolicy");
    if (obj(r.values, "networkPolicy").enabled !== true) {
      expect(policies).toEqual([]);
      return;
    }
    for (const workload of podWorkloads(r)) {
      const labels = obj(workload, "spec", "template", "metadata", "labels");
      const covering = policies.filter((p) => selects(obj(p, "spec", "podSelector"), labels));
      expect(covering.length, `${workload.metadata.name} is selected by no NetworkPolicy`).toBeGreaterThan(0);
      for (const policy of covering) expect(arr(policy, "spec", "policyTypes")).toContain("Ingress");
      if (workload.kind !== "Job") continue;
      // A hook's pods run before the regular resources exist: only hook policies of lower weight protect them.
      const before = covering.filter(
        (p) =>
          at(p, ["metadata", "annotations", "helm.sh/hook"]) !== undefined &&
          hookEvents(workload).every((h) => hookEvents(p).includes(h)) &&
          hookWeight(p) < hookWeight(workload),
      );
      expect(
        before.map((p) => p.metadata.name),
        workload.metadata.name,
      ).not.toEqual([]);
    }
  });

  it.each(SCENARIOS)("%s: PodDisruptionBudgets cover the components that can have several pods", (file) => {
    const r = render(file);
    const { gateway, persister, web } = {
      gateway: obj(r.values, "gateway"),
      persister: obj(r.values, "persister"),
      web: obj(r.values, "web"),
    };
    const expected = {
      gateway: obj(gateway, "pdb").enabled === true,
      persister:
        obj(persister, "pdb").enabled === true &&
        (obj(persister, "keda").enabled === true || num(persister, "replicaCount") > 1),
      web: web.enabled === true && obj(web, "pdb").enabled === true,
    };
    const budgets = r.objects.filter((o) => o.kind === "PodDisruptionBudget");
    expect(budgets.map((b) => b.metadata.name.replace(/^.*-/, "")).sort()).toEqual(
      Object.entries(expected)
        .filter(([, on]) => on)
        .map(([component]) => component)
        .sort(),
    );
    for (const budget of budgets) {
      const component = budget.metadata.name.replace(/^.*-/, "");
      const deployment = mustFind(r, "Deployment", `-${component}`);
      const values = obj(r.values, component, "pdb");
      expect(obj(budget, "spec", "selector")).toEqual(obj(deployment, "spec", "selector"));
      expect(num(budget, "spec", "maxUnavailable")).toBe(num(values, "maxUnavailable"));
      expect(num(budget, "spec", "maxUnavailable")).toBeGreaterThanOrEqual(1);
      expect(obj(budget, "spec")).not.toHaveProperty("minAvailable");
      // Not-ready pods serve nothing: they must never hold a node drain up (the chart's default).
      expect(str(budget, "spec", "unhealthyPodEvictionPolicy")).toBe(str(values, "unhealthyPodEvictionPolicy"));
    }
    const chartDefaults = obj(parseYaml(readFileSync(`${CHART}/values.yaml`, "utf8"))[0]);
    for (const component of ["gateway", "persister", "web"]) {
      expect(str(chartDefaults, component, "pdb", "unhealthyPodEvictionPolicy")).toBe("AlwaysAllow");
    }
  });

  it.each([
    [[] as string[], ["gateway", "web"]],
    [
      ["--set", "persister.replicaCount=2"],
      ["gateway", "persister", "web"],
    ],
    [
      ["--set", "persister.keda.enabled=true"],
      ["gateway", "persister", "web"],
    ],
    [
      ["--set", "persister.replicaCount=2", "--set", "persister.pdb.enabled=false"],
      ["gateway", "web"],
    ],
    [["--set", "web.pdb.enabled=false", "--set", "gateway.pdb.enabled=false"], []],
    [["--set", "web.enabled=false"], ["gateway"]],
  ])("PodDisruptionBudgets with %j: %j", (set, components) => {
    const objects = parseYaml(helmTemplate(["charts/parley/ci/minimal-values.yaml"], set)).map((o) => obj(o));
    const names = objects.filter((o) => o.kind === "PodDisruptionBudget").map((o) => str(o, "metadata", "name"));
    expect(names.sort()).toEqual(components.map((c) => `parley-${c}`));
  });

  it("the eviction policy of a PodDisruptionBudget is configurable and validated", () => {
    const yaml = helmTemplate(
      ["charts/parley/ci/minimal-values.yaml"],
      ["--set", "gateway.pdb.unhealthyPodEvictionPolicy=IfHealthyBudget"],
    );
    const pdb = parseYaml(yaml)
      .map((o) => obj(o))
      .find((o) => o.kind === "PodDisruptionBudget" && str(o, "metadata", "name") === "parley-gateway");
    expect(str(pdb, "spec", "unhealthyPodEvictionPolicy")).toBe("IfHealthyBudget");
    const refused = helmTemplateResult(
      ["charts/parley/ci/minimal-values.yaml"],
      ["--set", "web.pdb.unhealthyPodEvictionPolicy=Sometimes"],
    );
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("unhealthyPodEvictionPolicy");
  });

  it.each(SCENARIOS)("%s: persister replicas stay within the partitions and KEDA owns them when enabled", (file) => {
    const r = render(file);
    const deployment = mustFind(r, "Deployment", "-persister");
    const partitions = Number(obj(mustFind(r, "ConfigMap", "-persister"), "data").PARLEY_KAFKA_PARTITIONS);
    const scaled = find(r, "ScaledObject", "-persister");
    if (scaled) {
      expect(obj(deployment, "spec")).not.toHaveProperty("replicas");
      expect(str(scaled, "spec", "scaleTargetRef", "name")).toBe(deployment.metadata.name);
      expect(num(scaled, "spec", "maxReplicaCount")).toBeLessThanOrEqual(partitions);
      const trigger = obj(arr(scaled, "spec", "triggers")[0], "metadata");
      expect(trigger.consumerGroup).toBe(obj(mustFind(r, "ConfigMap", "-persister"), "data").PARLEY_KAFKA_GROUP);
    } else {
      expect(num(deployment, "spec", "replicas")).toBeLessThanOrEqual(partitions);
    }
  });

  it.each(SCENARIOS)(
    "%s: configuration names only variables the services know, and config changes roll pods",
    (file) => {
      const r = render(file);
      for (const service of ["gateway", "persister"] as const) {
        const known = knownVariables(service);
        const deployment = mustFind(r, "Deployment", `-${service}`);
        const names = [
          ...Object.keys(obj(mustFind(r, "ConfigMap", `-${service}`), "data")),
          ...arr(containers(deployment)[0], "env").map((e) => str(e, "name")),
        ];
        for (const name of names) expect(known, `${service}: ${name}`).toContain(name);
        expect(obj(deployment, "spec", "template", "metadata", "annotations")).toHaveProperty("checksum/config");
      }
    },
  );

  it.each(SCENARIOS)("%s: the persister reaches the gateways' Redis, as they do, to announce watermarks", (file) => {
    const r = render(file);
    const [gateway, persister] = (["gateway", "persister"] as const).map((service) => {
      const container = containers(mustFind(r, "Deployment", `-${service}`))[0];
      const url = arr(container, "env").find((e) => str(e, "name") === "PARLEY_REDIS_URL");
      const { PARLEY_REDIS_PREFIX, PARLEY_REDIS_CLUSTER } = obj(mustFind(r, "ConfigMap", `-${service}`), "data");
      return { url: url && obj(url, "valueFrom", "secretKeyRef"), PARLEY_REDIS_PREFIX, PARLEY_REDIS_CLUSTER };
    });
    expect(persister).toEqual(gateway);
    expect(gateway?.url).toMatchObject({ key: "redis-url" });
    expect(gateway?.PARLEY_REDIS_CLUSTER).toBe(String(obj(r.values, "redis").cluster));
  });

  it.each(SCENARIOS)("%s: alerts, dashboards and the ServiceMonitor use metrics that exist", (file) => {
    const r = render(file);
    const metrics = exportedMetrics();
    const used = (text: string) => [...text.matchAll(/\bparley_[a-z_]+/g)].map((m) => m[0]);
    const rule = find(r, "PrometheusRule", "");
    if (rule) {
      const expressions = arr(rule, "spec", "groups").flatMap((g) => arr(g, "rules").map((x) => str(x, "expr")));
      expect(expressions.length).toBeGreaterThanOrEqual(5);
      for (const name of expressions.flatMap(used)) expect(metrics, name).toContain(name);
      const all = expressions.join("\n");
      for (const needed of [
        "parley_gateway_ack_latency_seconds_bucket",
        "parley_persister_dead_lettered_total",
        "parley_gateway_error_frames_total",
        "parley_persister_retries_total",
        "parley_gateway_draining",
      ]) {
        expect(all).toContain(needed);
      }
    }
    for (const dashboard of r.objects.filter(
      (o) => o.kind === "ConfigMap" && o.metadata.name.includes("-dashboard-"),
    )) {
      for (const text of Object.values(obj(dashboard, "data"))) {
        expect(typeof text).toBe("string");
        const parsed = obj(JSON.parse(String(text)));
        expect(arr(parsed, "panels").length).toBeGreaterThan(0);
        for (const name of used(String(text))) expect(metrics, name).toContain(name);
      }
    }
    const monitor = find(r, "ServiceMonitor", "");
    if (monitor) {
      const port = str(arr(monitor, "spec", "endpoints")[0], "port");
      const scraped = r.objects.filter(
        (o) =>
          o.kind === "Service" &&
          arr(o, "spec", "ports")
            .map((p) => obj(p).name)
            .includes(port),
      );
      expect(scraped.map((s) => s.metadata.name.replace(/^.*-/, "")).sort()).toEqual(["gateway", "persister"]);
    }
  });

  it("documents every value with a ## @param line and types it in values.schema.json", () => {
    const text = readFileSync(`${CHART}/values.yaml`, "utf8");
    const documented = new Set([...text.matchAll(/^\s*## @param (\S+) \S/gm)].map((m) => m[1]));
    const schema = obj(JSON.parse(readFileSync(`${CHART}/values.schema.json`, "utf8")));
    const leaves: string[] = [];
    const walk = (value: unknown, path: string[]) => {
      // A documented map (annotations, env, resources) is one value; its keys are the user's.
      if (path.length > 0 && documented.has(path.join("."))) return leaves.push(path.join("."));
      if (isObject(value) && Object.keys(value).length > 0) {
        for (const [key, child] of Object.entries(value)) walk(child, [...path, key]);
      } else leaves.push(path.join("."));
    };
    walk(parseYaml(text)[0], []);
    expect(leaves.length).toBeGreaterThan(60);
    for (const leaf of leaves) {
      expect(documented, `values.yaml: ${leaf} has no ## @param`).toContain(leaf);
      let node: unknown = schema;
      for (const key of leaf.split(".")) node = obj(node, "properties")[key];
      expect(node, `values.schema.json: ${leaf}`).toBeDefined();
    }
    for (const param of documented) expect(leaves, `@param ${param} documents no value`).toContain(param);
  });

  it("values.schema.json and the README's parameter tables are generated from values.yaml as committed", () => {
    const result = run(process.execPath, [`${ROOT}scripts/chart-docs.mjs`, "--check"]);
    expect(result.status, result.stderr).toBe(0);
  });

  it.each([
    ["auth.mode=anyone", "/auth/mode"],
    ["gateway.autoscaling.connections.averageValue=0", "averageValue"],
    ["gateway.env.PARLEY_DRAIN_BATCH=1", "PARLEY_DRAIN_BATCH"],
    ["gateway.env.NOT_PARLEY=1", "NOT_PARLEY"],
    ["gatway.replicaCount=3", "gatway"],
  ])("values.schema.json rejects --set %s", (set, mention) => {
    const result = helmTemplateResult(["charts/parley/ci/minimal-values.yaml"], ["--set", set]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(mention);
  });

  describe("file sharing", () => {
    const MINIMAL = "charts/parley/ci/minimal-values.yaml";
    const S3 = [
      "--set",
      "files.enabled=true",
      "--set",
      "files.s3.bucket=parley-files",
      "--set",
      "files.s3.endpoint=http://seaweedfs-s3.storage.svc:8333",
    ];
    const objectsOf = (set: string[], file = MINIMAL) =>
      parseYaml(helmTemplate([file], set)).map((o) => obj(o) as unknown as K8sObject);
    const named = (objects: K8sObject[], kind: string, name: string) => {
      const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
      if (!found) throw new Error(`no ${kind} ${name} rendered`);
      return found;
    };
    const envOf = (objects: K8sObject[], component: string) =>
      arr(containers(named(objects, "Deployment", `parley-${component}`))[0], "env").map((e) => obj(e));
    const fileVariables = (names: string[]) => names.filter((n) => /^PARLEY_(FILES|S3)(_|$)/.test(n));
    /** The Secret each S3 credential variable of the gateway is read from, as `name/key`. */
    const s3Credentials = (objects: K8sObject[]) =>
      envOf(objects, "gateway")
        .filter((e) => String(e.name).startsWith("PARLEY_S3_"))
        .map((e) => {
          const ref = obj(e, "valueFrom", "secretKeyRef");
          return `${String(e.name)}=${str(ref, "name")}/${str(ref, "key")}`;
        });

    it.each(SCENARIOS)("%s: file settings reach the gateway only, its key pair never from a ConfigMap", (file) => {
      const r = render(file);
      const files = obj(r.values, "files");
      const s3 = obj(files, "s3");
      const gateway = obj(mustFind(r, "ConfigMap", "-gateway"), "data");
      for (const service of ["persister"]) {
        const names = [
          ...Object.keys(obj(mustFind(r, "ConfigMap", `-${service}`), "data")),
          ...arr(containers(mustFind(r, "Deployment", `-${service}`))[0], "env").map((e) => str(e, "name")),
        ];
        expect(fileVariables(names), service).toEqual([]);
      }
      for (const configMap of r.objects.filter((o) => o.kind === "ConfigMap")) {
        const text = JSON.stringify(configMap.data ?? {});
        expect(text).not.toContain("PARLEY_S3_ACCESS_KEY_ID");
        expect(text).not.toContain("PARLEY_S3_SECRET_ACCESS_KEY");
        if (s3.secretAccessKey) expect(text).not.toContain(str(s3, "secretAccessKey"));
      }
      const credentials = s3Credentials(r.objects);
      if (files.enabled !== true) {
        expect(gateway.PARLEY_FILES).toBe("off");
        expect(fileVariables(Object.keys(gateway))).toEqual(["PARLEY_FILES"]);
        expect(credentials).toEqual([]);
        expect(find(r, "ConfigMap", "-web-headers")).toBeUndefined();
        return;
      }
      expect(gateway).toMatchObject({
        PARLEY_FILES: "s3",
        PARLEY_FILES_MAX_BYTES: String(files.maxBytes),
        PARLEY_FILES_PER_MESSAGE: String(files.perMessage),
        PARLEY_FILES_URL_SECONDS: String(files.urlSeconds),
        PARLEY_FILES_UNATTACHED_SECONDS: String(files.unattachedSeconds),
        PARLEY_S3_BUCKET: str(s3, "bucket"),
        PARLEY_S3_REGION: str(s3, "region"),
        PARLEY_S3_FORCE_PATH_STYLE: String(s3.forcePathStyle),
      });
      expect(gateway.PARLEY_FILES_TYPES).toBe(
        arr(files, "types").length > 0 ? arr(files, "types").join(",") : undefined,
      );
      expect(gateway.PARLEY_S3_ENDPOINT).toBe(s3.endpoint || undefined);
      expect(gateway.PARLEY_S3_PUBLIC_ENDPOINT).toBe(s3.publicEndpoint || undefined);
      expect(gateway.PARLEY_S3_PREFIX).toBe(s3.prefix || undefined);
      const secret = s3.existingSecret || (s3.accessKeyId ? `parley-credentials` : "");
      expect(credentials).toEqual(
        secret
          ? [
              `PARLEY_S3_ACCESS_KEY_ID=${String(secret)}/s3-access-key-id`,
              `PARLEY_S3_SECRET_ACCESS_KEY=${String(secret)}/s3-secret-access-key`,
            ]
          : [],
      );
      const own = find(r, "Secret", "-credentials");
      if (secret && secret === own?.metadata.name) {
        expect(obj(own, "stringData")).toMatchObject({
          "s3-access-key-id": str(s3, "accessKeyId"),
          "s3-secret-access-key": str(s3, "secretAccessKey"),
        });
      } else if (own) {
        expect(Object.keys(obj(own, "stringData"))).not.toContain("s3-access-key-id");
      }
    });

    it("disabled, the gateway gets PARLEY_FILES=off and nothing of S3, even with S3 values set", () => {
      const objects = objectsOf([
        "--set",
        "files.s3.bucket=parley-files",
        "--set",
        "files.s3.accessKeyId=AKIAEXAMPLE",
        "--set",
        "files.s3.secretAccessKey=shh",
      ]);
      const data = obj(named(objects, "ConfigMap", "parley-gateway"), "data");
      expect(fileVariables(Object.keys(data))).toEqual(["PARLEY_FILES"]);
      expect(data.PARLEY_FILES).toBe("off");
      expect(s3Credentials(objects)).toEqual([]);
      expect(Object.keys(obj(named(objects, "Secret", "parley-credentials"), "stringData")).sort()).toEqual([
        "database-url",
        "jwt-secret",
        "redis-url",
      ]);
      expect(objects.find((o) => o.metadata.name === "parley-web-headers")).toBeUndefined();
      const web = named(objects, "Deployment", "parley-web");
      expect(arr(podSpec(web), "volumes").map((v) => str(v, "name"))).toEqual(["tmp"]);
    });

    it.each([
      [[] as string[], []],
      [
        ["--set", "files.s3.accessKeyId=AKIAEXAMPLE", "--set", "files.s3.secretAccessKey=shh"],
        [
          "PARLEY_S3_ACCESS_KEY_ID=parley-credentials/s3-access-key-id",
          "PARLEY_S3_SECRET_ACCESS_KEY=parley-credentials/s3-secret-access-key",
        ],
      ],
      [
        [
          "--set",
          "files.s3.existingSecret=parley-s3",
          "--set",
          "files.s3.accessKeyId=ignored",
          "--set",
          "files.s3.secretAccessKey=ignored",
        ],
        [
          "PARLEY_S3_ACCESS_KEY_ID=parley-s3/s3-access-key-id",
          "PARLEY_S3_SECRET_ACCESS_KEY=parley-s3/s3-secret-access-key",
        ],
      ],
    ])("the S3 key pair with %j: %j", (set, expected) => {
      const objects = objectsOf([...S3, ...set]);
      expect(s3Credentials(objects)).toEqual(expected);
      const stringData = obj(named(objects, "Secret", "parley-credentials"), "stringData");
      if (expected[0]?.includes("parley-credentials")) {
        expect(stringData).toMatchObject({ "s3-access-key-id": "AKIAEXAMPLE", "s3-secret-access-key": "shh" });
      } else {
        expect(Object.keys(stringData)).not.toContain("s3-access-key-id");
        expect(Object.keys(stringData)).not.toContain("s3-secret-access-key");
      }
      // A rotated key rolls the gateways, as any change of the chart's Secret does.
      const annotationsOf = (o: K8sObject[]) =>
        obj(named(o, "Deployment", "parley-gateway"), "spec", "template", "metadata", "annotations");
      if (expected[0]?.includes("parley-credentials")) {
        const rotated = objectsOf([...S3, ...set, "--set", "files.s3.secretAccessKey=rotated"]);
        expect(annotationsOf(rotated)["checksum/secret"]).not.toBe(annotationsOf(objects)["checksum/secret"]);
      }
      const report = kubeconform(helmTemplate([MINIMAL], [...S3, ...set]));
      expect(report.resources.filter((v) => v.status !== "statusValid")).toEqual([]);
    });

    it.each([
      [["--set", "files.enabled=true"], "files.enabled needs files.s3.bucket"],
      [
        ["--set", "files.enabled=true", "--set", "files.s3.bucket=b-1", "--set", "files.s3.accessKeyId=AKIA"],
        "set both accessKeyId and secretAccessKey, or neither",
      ],
      [
        ["--set", "files.enabled=true", "--set", "files.s3.bucket=b-1", "--set", "files.s3.secretAccessKey=shh"],
        "set both accessKeyId and secretAccessKey, or neither",
      ],
      [
        [
          ...S3,
          "--set",
          "existingSecret=parley",
          "--set",
          "files.s3.accessKeyId=a",
          "--set",
          "files.s3.secretAccessKey=b",
        ],
        "put the pair in a Secret named by files.s3.existingSecret",
      ],
      [
        [...S3, "--set", "files.s3.endpoint=http:///parley-files"],
        "files.s3.endpoint must be an http(s) URL with a host",
      ],
      [
        [...S3, "--set", "files.s3.publicEndpoint=https://key:secret@files.example.com"],
        "files.s3.publicEndpoint must be an http(s) URL with a host",
      ],
      [
        ["--set", "networkPolicy.enabled=false", "--set", "networkPolicy.egress.enabled=true"],
        "needs networkPolicy.enabled",
      ],
    ])("refuses file sharing values %j", (set, message) => {
      const result = helmTemplateResult([MINIMAL], set);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(message);
    });

    it.each([
      ["files.enabled=yes", "/files/enabled"],
      ["files.s3.endpoint=ftp://files.example.com", "/files/s3/endpoint"],
      ["files.s3.publicEndpoint=files.example.com", "/files/s3/publicEndpoint"],
      ["files.s3.bucket=Parley_Files", "/files/s3/bucket"],
      ["files.types[0]=pdf", "/files/types/0"],
      ["files.maxBytes=0", "/files/maxBytes"],
      ["files.perMessage=33", "/files/perMessage"],
      ["files.urlSeconds=5", "/files/urlSeconds"],
      ["files.unattachedSeconds=30", "/files/unattachedSeconds"],
      ["files.urlSeconds=604801", "/files/urlSeconds"],
      ["files.s3.egressPort=65536", "/files/s3/egressPort"],
      ["files.s3.secretKey=x", "secretKey"],
      ["gateway.env.PARLEY_S3_BUCKET=other", "PARLEY_S3_BUCKET"],
      ["networkPolicy.egress.rules=none", "/networkPolicy/egress/rules"],
    ])("values.schema.json rejects --set %s", (set, mention) => {
      const result = helmTemplateResult([MINIMAL], ["--set", set]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(mention);
    });

    /** The add_header lines of an nginx include, comments left out. */
    const headerLines = (text: string) =>
      text
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "" && !line.startsWith("#"));

    it.each([
      [["--set", "files.s3.publicEndpoint=https://files.chat.example.com"], "https://files.chat.example.com"],
      [["--set", "files.s3.publicEndpoint=https://Files.Example.com:9443/s3/"], "https://files.example.com:9443"],
      [[] as string[], "http://seaweedfs-s3.storage.svc:8333"],
      [["--set", "files.s3.forcePathStyle=false"], "http://parley-files.seaweedfs-s3.storage.svc:8333"],
      [["--set", "files.s3.endpoint=", "--set", "files.s3.region=eu-west-1"], "https://s3.eu-west-1.amazonaws.com"],
      [
        ["--set", "files.s3.endpoint=", "--set", "files.s3.region=eu-west-1", "--set", "files.s3.forcePathStyle=false"],
        "https://parley-files.s3.eu-west-1.amazonaws.com",
      ],
      [
        [
          "--set",
          "files.s3.endpoint=",
          "--set",
          "files.s3.bucket=parley.files",
          "--set",
          "files.s3.forcePathStyle=false",
        ],
        "https://s3.us-east-1.amazonaws.com",
      ],
      [
        ["--set", "files.s3.publicEndpoint=http://192.0.2.10:8333", "--set", "files.s3.forcePathStyle=false"],
        "http://192.0.2.10:8333",
      ],
    ])(
      "with %j the web client's CSP admits %s to img-src and connect-src, and is the image's otherwise",
      (set, origin) => {
        const objects = objectsOf([...S3, ...set]);
        const text = str(named(objects, "ConfigMap", "parley-web-headers"), "data", "parley-headers.conf");
        const lines = headerLines(text);
        const image = headerLines(source("web/nginx/parley-headers.conf"));
        // Without the origin, byte for byte what the web image sends (which images.test.ts holds equal to the
        // gateway's policy): the chart adds to the policy, it does not fork it.
        expect(lines.map((line) => line.replaceAll(` ${origin}`, ""))).toEqual(image);
        const policy = /^add_header Content-Security-Policy "([^"]*)" always;$/.exec(lines[0] ?? "")?.[1] ?? "";
        const directives = Object.fromEntries(
          policy.split(";").map((d) => {
            const [name = "", ...sources] = d.trim().split(/\s+/);
            return [name, sources];
          }),
        );
        expect(directives["img-src"]).toEqual(["'self'", "data:", origin]);
        expect(directives["connect-src"]).toEqual(["'self'", "ws:", "wss:", origin]);
        expect(policy.split(origin)).toHaveLength(3);
        // Mounted over the image's file, where every location includes it, and the pods roll when it changes.
        const web = named(objects, "Deployment", "parley-web");
        const mount = arr(containers(web)[0], "volumeMounts")
          .map((m) => obj(m))
          .find((m) => m.mountPath === "/etc/nginx/parley-headers.conf");
        expect(mount).toMatchObject({ subPath: "parley-headers.conf", readOnly: true });
        const volume = arr(podSpec(web), "volumes")
          .map((v) => obj(v))
          .find((v) => v.name === mount?.name);
        expect(str(volume, "configMap", "name")).toBe("parley-web-headers");
        expect(source("Dockerfile")).toContain("COPY web/nginx/parley-headers.conf /etc/nginx/parley-headers.conf");
        expect(source("web/nginx/default.conf")).toContain("include /etc/nginx/parley-headers.conf;");
        const checksum = str(web, "spec", "template", "metadata", "annotations", "checksum/headers");
        const other = objectsOf([...S3, ...set, "--set", "files.s3.publicEndpoint=https://elsewhere.example.com"]);
        expect(
          str(
            named(other, "Deployment", "parley-web"),
            "spec",
            "template",
            "metadata",
            "annotations",
            "checksum/headers",
          ),
        ).not.toBe(checksum);
      },
    );

    it("the schema bounds file settings as the gateway does", () => {
      const schema = obj(JSON.parse(source("charts/parley/values.schema.json")), "properties", "files", "properties");
      const max = /MAX_ATTACHMENTS = (\d+);/.exec(source("protocol/src/message.ts"))?.[1];
      expect(num(schema, "perMessage", "maximum")).toBe(Number(max));
    });

    it("the chart's policy template is the web image's, the origin aside", () => {
      // parley.web.contentSecurityPolicy is the one copy of the policy in the chart; the image's must read the same.
      const helpers = source("charts/parley/templates/_helpers.tpl");
      const template = /define "parley\.web\.contentSecurityPolicy"[\s\S]*?\n(default-src[^\n]*)\n/.exec(helpers)?.[1];
      const image = /Content-Security-Policy "([^"]*)"/.exec(source("web/nginx/parley-headers.conf"))?.[1];
      expect(template?.replaceAll("{{ $extra }}", "")).toBe(image);
    });

    const EGRESS = [
      "--set",
      "networkPolicy.egress.enabled=true",
      "--set-json",
      'networkPolicy.egress.rules=[{"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"db"}}}],"ports":[{"port":5432},{"port":6379},{"port":9092}]}]',
    ];
    const DNS = {
      ports: [
        { port: 53, protocol: "UDP" },
        { port: 53, protocol: "TCP" },
      ],
    };
    const DB = {
      to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "db" } } }],
      ports: [{ port: 5432 }, { port: 6379 }, { port: 9092 }],
    };
    const policies = (objects: K8sObject[]) =>
      Object.fromEntries(
        objects
          .filter((o) => o.kind === "NetworkPolicy")
          .map((o) => [o.metadata.name.replace(/^parley-/, ""), obj(o, "spec")]),
      );

    it("egress stays unrestricted unless networkPolicy.egress.enabled, files or not", () => {
      for (const set of [[], S3]) {
        for (const [name, spec] of Object.entries(policies(objectsOf(set)))) {
          expect(arr(spec, "policyTypes"), name).toEqual(["Ingress"]);
          expect(spec, name).not.toHaveProperty("egress");
        }
      }
    });

    it("networkPolicy.egress.enabled: DNS and the listed rules; S3 for the gateway alone; nothing for the web pods", () => {
      const egressTo = [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "storage" } },
          podSelector: { matchLabels: { "app.kubernetes.io/name": "seaweedfs" } },
        },
      ];
      const yaml = helmTemplate(
        [MINIMAL],
        [...S3, ...EGRESS, "--set-json", `files.s3.egressTo=${JSON.stringify(egressTo)}`],
      );
      const report = kubeconform(yaml);
      expect(report.resources.filter((v) => v.status !== "statusValid")).toEqual([]);
      const all = policies(parseYaml(yaml).map((o) => obj(o) as unknown as K8sObject));
      expect(Object.keys(all).sort()).toEqual(["gateway", "migrate", "persister", "web"]);
      for (const [name, spec] of Object.entries(all))
        expect(arr(spec, "policyTypes"), name).toEqual(["Ingress", "Egress"]);
      expect(arr(all.gateway, "egress")).toEqual([DNS, DB, { ports: [{ port: 8333, protocol: "TCP" }], to: egressTo }]);
      expect(arr(all.persister, "egress")).toEqual([DNS, DB]);
      expect(arr(all.migrate, "egress")).toEqual([DNS, DB]);
      expect(arr(all.web, "egress")).toEqual([]);
      // Without files the gateway has no S3 rule; the rest is the same.
      const without = policies(objectsOf(EGRESS));
      expect(arr(without.gateway, "egress")).toEqual([DNS, DB]);
    });

    it.each([
      [["--set", "files.s3.endpoint=http://seaweedfs-s3.storage.svc:8333"], 8333],
      [["--set", "files.s3.endpoint=https://minio.example.com"], 443],
      [["--set", "files.s3.endpoint=http://minio.storage"], 80],
      [["--set", "files.s3.endpoint="], 443],
      [["--set", "files.s3.egressPort=9000"], 9000],
    ])("the gateway's S3 egress rule with %j is on port %d, to any address without egressTo", (set, port) => {
      const gateway = policies(objectsOf([...S3, ...EGRESS, ...set])).gateway;
      expect(arr(gateway, "egress").at(-1)).toEqual({ ports: [{ port, protocol: "TCP" }] });
    });

    it("a scenario installs file sharing with restricted egress on the control plane", () => {
      // control-plane.test.ts installs every ci/ file: these keep the feature's objects in front of a real API server.
      const values = SCENARIOS.filter((f) => f.includes("/ci/")).map((file) => mergedValues(file));
      expect(
        values.some((v) => obj(v, "files").enabled === true && obj(v, "networkPolicy", "egress").enabled === true),
      ).toBe(true);
      expect(values.some((v) => obj(v, "files").enabled === true && obj(v, "files", "s3").existingSecret)).toBeTruthy();
    });
  });

  it("the dev services in k8s/ validate against the Kubernetes schemas, with persistent volumes", () => {
    const files = readdirSync(`${ROOT}k8s/dev`).filter((f) => f.endsWith(".yaml"));
    expect(files.sort()).toEqual(["kafka.yaml", "postgres.yaml", "redis.yaml"]);
    for (const file of files) {
      const yaml = readFileSync(`${ROOT}k8s/dev/${file}`, "utf8");
      const report = kubeconform(yaml);
      const problems = report.resources.filter((v) => v.status !== "statusValid");
      expect(problems, `${file}: ${JSON.stringify(problems, null, 2)}`).toEqual([]);
      const objects = parseYaml(yaml).map((o) => obj(o));
      const statefulSet = objects.find((o) => o.kind === "StatefulSet");
      expect(arr(statefulSet, "spec", "volumeClaimTemplates").length, file).toBe(1);
    }
    const kafka = parseYaml(readFileSync(`${ROOT}k8s/dev/kafka.yaml`, "utf8")).map((o) => obj(o));
    const env = arr(
      kafka.find((o) => o.kind === "StatefulSet"),
      "spec",
      "template",
      "spec",
      "containers",
      "0",
      "env",
    );
    expect(env.map((e) => obj(e))).toContainEqual({ name: "KAFKA_PROCESS_ROLES", value: "broker,controller" });
    // The dev values reach the dev services by their Service names.
    const dev = mergedValues("k8s/values-dev.yaml");
    const services = ["redis", "postgres", "kafka"].map((name) => `parley-${name}`);
    const addresses = [
      str(dev, "redis", "url"),
      str(dev, "database", "url"),
      ...arr(dev, "kafka", "brokers").map(String),
    ];
    for (const service of services) expect(addresses.join(" "), service).toContain(`${service}:`);
    const kind = obj(parseYaml(readFileSync(`${ROOT}k8s/kind-cluster.yaml`, "utf8"))[0]);
    expect(kind.kind).toBe("Cluster");
    expect(JSON.stringify(kind)).toContain("ingress-ready=true");
  });

  it("skaffold.yaml builds the three images and deploys k8s/dev (profile dev only), then the chart", () => {
    // charts/test/skaffold.test.ts checks both files against skaffold's v4beta13 schema; this is what they deploy.
    const [config] = parseYaml(source("skaffold.yaml")).map((o) => obj(o));
    const artifacts = arr(config, "build", "artifacts").map((a) => obj(a));
    expect(artifacts.map((a) => a.image).sort()).toEqual(["parley-gateway", "parley-persister", "parley-web"]);
    for (const artifact of artifacts) {
      const context = str(artifact, "context");
      expect(existsSync(`${ROOT}${context}`)).toBe(true);
      expect(existsSync(`${ROOT}${context}/${str(artifact, "docker", "dockerfile")}`), String(artifact.image)).toBe(
        true,
      );
    }
    const [release] = arr(config, "deploy", "helm", "releases").map((r) => obj(r));
    expect(existsSync(`${ROOT}${str(release, "chartPath")}/Chart.yaml`)).toBe(true);
    const templates = obj(release, "setValueTemplates");
    for (const artifact of artifacts) {
      const key = String(artifact.image).replace(/-/g, "_");
      const component = String(artifact.image).replace(/^parley-/, "");
      expect(templates[`${component}.image.repository`]).toBe(`{{.IMAGE_REPO_${key}}}`);
      expect(templates[`${component}.image.tag`]).toBe(`{{.IMAGE_TAG_${key}}}`);
    }
    const profiles = arr(config, "profiles").map((p) => obj(p));
    expect(profiles.map((p) => p.name)).toEqual(["dev", "cluster"]);
    expect(arr(profiles[0], "activation")).toContainEqual({ command: "dev" });
    const valuesFiles = [
      ...arr(release, "valuesFiles"),
      ...profiles.flatMap((p) => (p.patches ? arr(p, "patches").flatMap((x) => arr(x, "value")) : [])),
    ].map(String);
    for (const file of valuesFiles) expect(SCENARIOS, `${file} is rendered and validated here`).toContain(file);

    // What gets deployed, in order, by skaffold's rules (docs-v2 design/config.md, "Configuration dependencies"):
    // each required config before the one requiring it; in a required config, a profile of `activeProfiles` is on
    // when its `activatedBy` names an active profile here (auto-activated or `-p`) or is empty, and so is a `-p`
    // profile that config defines (--propagate-profiles); a profile's fields are laid over the config's; paths are
    // relative to the required file.
    const deployed = (named: string[], autoActivated: string[] = []) => {
      const active = [...autoActivated, ...named];
      const steps: string[] = [];
      for (const dependency of arr(config, "requires").map((d) => obj(d))) {
        const path = str(dependency, "path");
        const required = obj(parseYaml(source(path))[0]);
        const defined = arr(required, "profiles").map((p) => str(p, "name"));
        const on = [
          ...arr(dependency, "activeProfiles")
            .map((p) => obj(p))
            .filter((p) => !p.activatedBy || arr(p, "activatedBy").some((name) => active.includes(String(name))))
            .map((p) => str(p, "name")),
          ...named.filter((name) => defined.includes(name)),
        ];
        let rawYaml = at(required, ["manifests", "rawYaml"]);
        let kubectl = at(required, ["deploy", "kubectl"]);
        for (const profile of arr(required, "profiles").map((p) => obj(p))) {
          if (!on.includes(str(profile, "name"))) continue;
          rawYaml = at(profile, ["manifests", "rawYaml"]) ?? rawYaml;
          kubectl = at(profile, ["deploy", "kubectl"]) ?? kubectl;
        }
        const manifests = rawYaml === undefined ? [] : arr(rawYaml).map(String);
        if (manifests.length > 0) expect(kubectl, `${path} applies its manifests with kubectl`).toEqual({});
        steps.push(...manifests.map((file) => `${path.replace(/[^/]*$/, "")}${file}`));
      }
      steps.push(`helm ${str(release, "name")} ${str(release, "chartPath")}`);
      return steps;
    };
    const devServices = ["k8s/dev/redis.yaml", "k8s/dev/kafka.yaml", "k8s/dev/postgres.yaml"];
    const devFiles = readdirSync(`${ROOT}k8s/dev`)
      .filter((file) => file.endsWith(".yaml"))
      .map((file) => `k8s/dev/${file}`);
    expect([...devServices].sort()).toEqual(devFiles.sort());
    // `skaffold dev` (profile dev auto-activated): the dev services, then the chart whose migration Job needs them.
    expect(deployed([], ["dev"])).toEqual([...devServices, "helm parley charts/parley"]);
    // `skaffold run -p cluster`: the chart alone, against the cluster's own Redis, Kafka and PostgreSQL.
    expect(deployed(["cluster"])).toEqual(["helm parley charts/parley"]);
    // With its profile off the required config has no manifests; skaffold's default, k8s/*.yaml, is for a single
    // config only, and relative to k8s/skaffold.yaml it would be k8s/k8s/*.yaml, which must stay empty.
    expect(existsSync(`${ROOT}k8s/k8s`)).toBe(false);

    for (const forward of arr(config, "portForward").map((f) => obj(f))) {
      const service = helmTemplate(["k8s/values-dev.yaml"]).includes(`name: ${String(forward.resourceName)}\n`);
      expect(service, `port-forward to ${String(forward.resourceName)}`).toBe(true);
    }
  });
});
