/**
 * The chart on a real control plane (scripts/control-plane.sh: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, kwok's simulated nodes): what offline rendering cannot catch. Admission (Pod Security
 * `restricted` in every namespace), defaulting, immutable fields on `helm upgrade`, hooks run and awaited, and the
 * real controllers acting on the objects: Deployments and ReplicaSets roll, the Job completes, the HPA and the
 * PodDisruptionBudgets are reconciled, the garbage collector and the namespace controller clean up.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { uniqueName, waitFor } from "@parley/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  controlPlane,
  deleteNamespace,
  getItems,
  getObject,
  helm,
  helmOk,
  kubectl,
  kubectlOk,
  restrictedNamespace,
  type WatchEvent,
  watch,
} from "./control-plane.js";
import { at, isObject, type JsonObject, num, obj, str } from "./json.js";
import { CHART, type K8sObject, parseYaml, ROOT, TOOLS_TIMEOUT_MS } from "./tools.js";

const SCENARIOS = readdirSync(`${CHART}/ci`).filter((file) => file.endsWith(".yaml"));

/** The chart as last released (`helm package` of main before this chart version): what users upgrade from. */
const RELEASES = `${ROOT}charts/test/releases`;
const PREVIOUS = join(
  RELEASES,
  readdirSync(RELEASES).find((file) => file.endsWith(".tgz")) ?? "no packaged release in charts/test/releases",
);

/** Enough for the slowest install here (HPA, KEDA, three web pods), far below a stuck hook's wait. */
const WAIT = "120s";
const LIFECYCLE_TIMEOUT_MS = 300_000;

const deployments = (namespace: string) => getItems(["deployments", "-n", namespace]);

/** The Deployments' selectors, by name. */
function selectors(namespace: string): Record<string, unknown> {
  return Object.fromEntries(deployments(namespace).map((d) => [d.metadata.name, at(d, ["spec", "selector"])]));
}

function podTemplateAnnotations(namespace: string, name: string): JsonObject {
  const deployment = getObject(["deployment", name, "-n", namespace]);
  return obj(deployment, "spec", "template", "metadata", "annotations");
}

function secretData(namespace: string, name: string): Record<string, string> {
  const data = obj(getObject(["secret", name, "-n", namespace]), "data");
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, Buffer.from(str(value), "base64").toString()]),
  );
}

function condition(object: unknown, type: string): JsonObject | undefined {
  const conditions = at(object, ["status", "conditions"]);
  if (!Array.isArray(conditions)) return undefined;
  return conditions.find((c): c is JsonObject => isObject(c) && c.type === type);
}

const ready = (pod: K8sObject) =>
  at(pod, ["metadata", "deletionTimestamp"]) === undefined && condition(pod, "Ready")?.status === "True";

/**
 * Every namespaced object left in `namespace`, except what Kubernetes itself puts in every namespace (the
 * `default` ServiceAccount, the `kube-root-ca.crt` ConfigMap) and Events.
 */
function leftovers(namespace: string): string[] {
  const types = kubectlOk(["api-resources", "--verbs=list", "--namespaced", "-o", "name"])
    .split("\n")
    .filter((type) => type !== "" && !type.startsWith("events"));
  return kubectlOk(["get", types.join(","), "-n", namespace, "-o", "name", "--ignore-not-found"])
    .split("\n")
    .filter((name) => name !== "" && name !== "serviceaccount/default" && name !== "configmap/kube-root-ca.crt");
}

/**
 * What `existingSecret`, `files.s3.existingSecret` and `serviceAccount.create: false` ask the user to create before
 * installing; returns them as `kubectl get -o name` names them.
 */
function prerequisites(namespace: string, values: unknown): string[] {
  const created: string[] = [];
  const existingSecret = at(values, ["existingSecret"]);
  if (typeof existingSecret === "string") {
    kubectlOk([
      "create",
      "secret",
      "generic",
      existingSecret,
      "-n",
      namespace,
      "--from-literal=database-url=postgres://parley:secret@postgres.db.svc:5432/parley",
      "--from-literal=redis-url=redis://redis.db.svc:6379/0",
      "--from-literal=jwt-secret=change-me-to-32-random-bytes",
    ]);
    created.push(`secret/${existingSecret}`);
  }
  const s3Secret = at(values, ["files", "s3", "existingSecret"]);
  if (at(values, ["files", "enabled"]) === true && typeof s3Secret === "string" && s3Secret !== "") {
    kubectlOk([
      "create",
      "secret",
      "generic",
      s3Secret,
      "-n",
      namespace,
      "--from-literal=s3-access-key-id=parley",
      "--from-literal=s3-secret-access-key=change-me-too",
    ]);
    created.push(`secret/${s3Secret}`);
  }
  const serviceAccount = at(values, ["serviceAccount", "name"]);
  if (at(values, ["serviceAccount", "create"]) === false && typeof serviceAccount === "string") {
    kubectlOk(["create", "serviceaccount", serviceAccount, "-n", namespace]);
    created.push(`serviceaccount/${serviceAccount}`);
  }
  return created;
}

/** The resourceVersion of an event: etcd's revision, one global counter, so it orders writes across kinds. */
const revision = (event: WatchEvent) => BigInt(str(event.object.metadata.resourceVersion));

describe("the chart on a real control plane", () => {
  beforeAll(() => {
    controlPlane();
  }, TOOLS_TIMEOUT_MS);

  describe.each(SCENARIOS)("ci/%s", (scenario) => {
    const namespace = uniqueName(basename(scenario, "-values.yaml"));
    const file = `${CHART}/ci/${scenario}`;
    const values = parseYaml(readFileSync(file, "utf8"))[0];
    afterAll(() => deleteNamespace(namespace), LIFECYCLE_TIMEOUT_MS);

    it(
      "installs under Pod Security restricted, its hook done before any Deployment, and uninstalls without a trace",
      async () => {
        restrictedNamespace(namespace);
        const theirs = prerequisites(namespace, values);
        const jobs = await watch(`/apis/batch/v1/namespaces/${namespace}/jobs`);
        const rollouts = await watch(`/apis/apps/v1/namespaces/${namespace}/deployments`);
        try {
          const install = await helm([
            "install",
            "parley",
            CHART,
            "-n",
            namespace,
            "-f",
            file,
            "--wait",
            "--timeout",
            WAIT,
          ]);
          expect(install.status, install.stderr).toBe(0);
          // The namespace's `warn` label makes the API server send a warning for every pod template that
          // `restricted` would refuse; Helm prints them.
          expect(install.stderr).not.toMatch(/PodSecurity/);

          const created = rollouts.events.filter((e) => e.type === "ADDED").map(revision);
          expect(created.length).toBeGreaterThan(0);
          if (at(values, ["migrations", "enabled"]) === false) {
            expect(jobs.events).toEqual([]);
          } else {
            const completed = jobs.events.find((e) => condition(e.object, "Complete")?.status === "True");
            expect(completed, "the migrations Job completed").toBeDefined();
            if (completed === undefined) return;
            for (const deployment of created) expect(deployment).toBeGreaterThan(revision(completed));
            // hook-succeeded: Helm deletes the Job once it is done.
            await waitFor(() => jobs.events.at(-1)?.type === "DELETED", "the watch seeing the Job deleted");
          }
        } finally {
          jobs.stop();
          rollouts.stop();
        }

        // Helm waited for the Deployments as it applied them; an HPA may then raise one to its minReplicas.
        await waitFor(
          () => {
            const settled = deployments(namespace).every(
              (d) => at(d, ["status", "availableReplicas"]) === num(d, "spec", "replicas"),
            );
            const pods = getItems(["pods", "-n", namespace]);
            return settled && pods.length > 0 && pods.every(ready);
          },
          "every Deployment available, every pod Ready",
          { timeoutMs: 60_000, intervalMs: 250 },
        );

        // Every PodDisruptionBudget, reconciled by the disruption controller over all of its component's pods,
        // allows exactly maxUnavailable of them down while all are healthy.
        for (const { metadata } of getItems(["pdb", "-n", namespace])) {
          const covered = (p: K8sObject) => {
            const labels = Object.entries(obj(p, "spec", "selector", "matchLabels"));
            return getItems(["pods", "-n", namespace, "-l", labels.map(([k, v]) => `${k}=${str(v)}`).join(",")]).length;
          };
          // The controller's status lags the pods: wait until it counts all of them, healthy.
          const pdb = await waitFor(
            () => {
              const p = getObject(["pdb", metadata.name, "-n", namespace]);
              const s = obj(p, "status");
              return s.expectedPods === covered(p) && s.currentHealthy === s.expectedPods ? p : undefined;
            },
            `${metadata.name} counting every pod it covers`,
            { timeoutMs: 60_000, intervalMs: 250 },
          );
          expect(num(pdb, "status", "disruptionsAllowed"), metadata.name).toBe(num(pdb, "spec", "maxUnavailable"));
        }

        // The HPA is reconciled by the real controller: a valid spec that waits for the metrics APIs, which this
        // cluster does not serve (a broken spec would say FailedGetScale, InvalidSelector or InvalidMetricSourceType).
        for (const hpa of getItems(["hpa", "-n", namespace])) {
          const active = await waitFor(
            () => condition(getObject(["hpa", hpa.metadata.name, "-n", namespace]), "ScalingActive"),
            `${hpa.metadata.name}'s ScalingActive condition`,
            { timeoutMs: 60_000, intervalMs: 500 },
          );
          expect(active.status).toBe("False");
          expect(str(active, "reason")).toMatch(/^FailedGet(Resource|Pods)Metric$/);
          expect(str(active, "message")).toMatch(/metrics\.k8s\.io|custom\.metrics\.k8s\.io/);
          expect(condition(getObject(["hpa", hpa.metadata.name, "-n", namespace]), "AbleToScale")?.status).toBe("True");
        }

        const uninstall = await helm(["uninstall", "parley", "-n", namespace, "--wait", "--timeout", WAIT]);
        expect(uninstall.status, uninstall.stderr).toBe(0);
        // Pods go with their ReplicaSets through the garbage collector, after Helm returns.
        const ours = () => leftovers(namespace).filter((name) => !theirs.includes(name));
        await waitFor(() => ours().length === 0, "nothing of the release left", {
          timeoutMs: 60_000,
          intervalMs: 500,
        }).catch((error: unknown) => {
          throw new Error(`${String(error)}; left: ${ours().join(", ")}`);
        });
      },
      LIFECYCLE_TIMEOUT_MS,
    );
  });
});

describe("a release's life: upgraded from the last released chart, disrupted, rolled, rolled back", () => {
  const namespace = uniqueName("release");
  const dir = mkdtempSync(join(tmpdir(), "parley-release-"));
  const minimal = readFileSync(`${CHART}/ci/minimal-values.yaml`, "utf8");
  /** The first install: fixed replicas (no metrics API here to drive the HPA), so the PDB tests can scale. */
  const first = join(dir, "first.yaml");
  /** The upgrade changes the Secret (database password, JWT secret), the config (log level) and web's replicas. */
  const second = join(dir, "second.yaml");
  const fixed = "gateway:\n  autoscaling:\n    enabled: false\n  replicaCount: 3\n";
  writeFileSync(first, `${minimal}${fixed}logLevel: info\n`);
  writeFileSync(
    second,
    `${minimal.replace("parley:secret@", "parley:rotated@").replace("change-me-to-32-random-bytes", "rotated-to-32-random-bytes-xxxxxx")}${fixed}logLevel: debug\nweb:\n  replicaCount: 2\n`,
  );
  /** `helm upgrade` arguments for this release and `chart`, then these. */
  const upgrade = (chart: string, ...args: string[]) => ["upgrade", "parley", chart, "-n", namespace, ...args];
  const gatewayPods = () => getItems(["pods", "-n", namespace, "-l", "app.kubernetes.io/component=gateway"]);
  let installed: { selectors: Record<string, unknown>; gateway: JsonObject; persister: JsonObject; secret: object };

  beforeAll(() => {
    controlPlane();
    restrictedNamespace(namespace);
  }, TOOLS_TIMEOUT_MS);
  afterAll(() => {
    deleteNamespace(namespace);
    rmSync(dir, { recursive: true, force: true });
  }, LIFECYCLE_TIMEOUT_MS);

  it(
    `upgrades from ${basename(PREVIOUS)}: selectors kept, the changed Secret and config roll every pod`,
    async () => {
      await helmOk(["install", "parley", PREVIOUS, "-n", namespace, "-f", first, "--wait", "--timeout", WAIT]);
      installed = {
        selectors: selectors(namespace),
        gateway: podTemplateAnnotations(namespace, "parley-gateway"),
        persister: podTemplateAnnotations(namespace, "parley-persister"),
        secret: secretData(namespace, "parley-credentials"),
      };
      const before = new Set(gatewayPods().map((pod) => pod.metadata.name));

      await helmOk(upgrade(CHART, "-f", second, "--wait", "--timeout", WAIT));
      expect(selectors(namespace)).toEqual(installed.selectors);
      for (const [name, previous] of [
        ["parley-gateway", installed.gateway],
        ["parley-persister", installed.persister],
      ] as const) {
        const now = podTemplateAnnotations(namespace, name);
        expect(now["checksum/config"], name).not.toBe(previous["checksum/config"]);
        expect(now["checksum/secret"], name).not.toBe(previous["checksum/secret"]);
      }
      expect(secretData(namespace, "parley-credentials")["database-url"]).toContain("parley:rotated@");
      expect(str(getObject(["configmap", "parley-gateway", "-n", namespace]), "data", "PARLEY_LOG_LEVEL")).toBe(
        "debug",
      );
      // Helm waited for the new ReplicaSets; the old pods may still be terminating.
      await waitFor(
        () => {
          const pods = gatewayPods();
          return pods.length === 3 && pods.every((pod) => ready(pod) && !before.has(pod.metadata.name));
        },
        "three gateway pods, all new",
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(num(getObject(["deployment", "parley-web", "-n", namespace]), "status", "readyReplicas")).toBe(2);
    },
    LIFECYCLE_TIMEOUT_MS,
  );

  it(
    "allows one gateway disruption at 1, 2 and 3 replicas, and refuses an eviction beyond it",
    async () => {
      for (const replicas of [1, 2, 3]) {
        kubectlOk(["scale", "deployment", "parley-gateway", "-n", namespace, `--replicas=${replicas}`]);
        await waitFor(
          () => {
            const status = obj(getObject(["pdb", "parley-gateway", "-n", namespace]), "status");
            return status.expectedPods === replicas && status.currentHealthy === replicas ? status : undefined;
          },
          `the gateway PDB at ${replicas} replicas`,
          { timeoutMs: 60_000, intervalMs: 250 },
        ).then((status) => expect(status.disruptionsAllowed, `${replicas} replicas`).toBe(1));
      }

      const evict = (pod: string) =>
        kubectl(
          ["create", "--raw", `/api/v1/namespaces/${namespace}/pods/${pod}/eviction`, "-f", "-"],
          JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace } }),
        );
      // A node drain: cordoned nodes take no replacement, so the evicted pod's stays Pending.
      const nodes = getItems(["nodes"]).map((node) => node.metadata.name);
      kubectlOk(["cordon", ...nodes]);
      try {
        // Ready pods only: evicting one that is already terminating (from the scale-down) is always allowed.
        const [a, b] = gatewayPods()
          .filter(ready)
          .map((pod) => pod.metadata.name);
        if (a === undefined || b === undefined) throw new Error("expected three gateway pods");
        const allowed = evict(a);
        expect(allowed.status, allowed.stderr).toBe(0);
        const refused = evict(b);
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toMatch(/Cannot evict pod as it would violate the pod's disruption budget/);
      } finally {
        kubectlOk(["uncordon", ...nodes]);
      }
      await waitFor(
        () => num(getObject(["deployment", "parley-gateway", "-n", namespace]), "status", "availableReplicas") === 3,
        "the evicted gateway pod replaced",
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    },
    LIFECYCLE_TIMEOUT_MS,
  );

  it(
    "rolls the gateway without ever having fewer ready pods than replicas (maxUnavailable 0, within the PDB)",
    async () => {
      const deployment = await waitFor(
        () => {
          const d = getObject(["deployment", "parley-gateway", "-n", namespace]);
          return at(d, ["status", "availableReplicas"]) === num(d, "spec", "replicas") ? d : undefined;
        },
        "every gateway pod available before the rollout",
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      const replicas = num(deployment, "spec", "replicas");
      const maxUnavailable = at(deployment, ["spec", "strategy", "rollingUpdate", "maxUnavailable"]);
      const pdbMaxUnavailable = at(getObject(["pdb", "parley-gateway", "-n", namespace]), ["spec", "maxUnavailable"]);
      expect([maxUnavailable, pdbMaxUnavailable]).toEqual([0, 1]);
      const before = new Set(gatewayPods().map((pod) => pod.metadata.name));

      const pods = await watch(`/api/v1/namespaces/${namespace}/pods`, "app.kubernetes.io/component=gateway");
      try {
        await helmOk(upgrade(CHART, "--reset-then-reuse-values", "--set", "logLevel=warn"));
        // Replay the API server's events: the pods' readiness after each one, and the fewest ready at any point.
        const replay = () => {
          const readiness = new Map<string, boolean>();
          let fewest = Number.POSITIVE_INFINITY;
          for (const event of pods.events) {
            readiness.set(event.object.metadata.name, event.type !== "DELETED" && ready(event.object));
            if (readiness.size >= replicas) fewest = Math.min(fewest, [...readiness.values()].filter(Boolean).length);
          }
          const readyNow = [...readiness].filter(([, isReady]) => isReady).map(([name]) => name);
          return { fewest, readyNow };
        };
        await waitFor(
          () => {
            const { readyNow } = replay();
            return readyNow.length === replicas && readyNow.every((name) => !before.has(name));
          },
          "the watch seeing every gateway pod replaced by a Ready one",
          { timeoutMs: 120_000, intervalMs: 250 },
        );
        expect(replay().fewest).toBe(replicas);
      } finally {
        pods.stop();
      }
    },
    LIFECYCLE_TIMEOUT_MS,
  );

  it(
    "rolls back to the first revision: the previous chart's pods, Secret and objects",
    async () => {
      await helmOk(["rollback", "parley", "1", "-n", namespace, "--wait", "--timeout", WAIT]);
      expect(selectors(namespace)).toEqual(installed.selectors);
      for (const [name, previous] of [
        ["parley-gateway", installed.gateway],
        ["parley-persister", installed.persister],
      ] as const) {
        expect(podTemplateAnnotations(namespace, name)).toEqual(previous);
      }
      expect(secretData(namespace, "parley-credentials")).toEqual(installed.secret);
      const manifest = await helmOk(["get", "manifest", "parley", "-n", namespace, "--revision", "1"]);
      const declared = [...manifest.matchAll(/^kind: (PodDisruptionBudget)\n(?:.*\n)*?\s+name: (\S+)/gm)].map(
        (m) => m[2],
      );
      expect(getItems(["pdb", "-n", namespace]).map((pdb) => pdb.metadata.name)).toEqual(declared);
      const history = JSON.parse(await helmOk(["history", "parley", "-n", namespace, "-o", "json"])) as {
        revision: number;
        status: string;
        chart: string;
        description: string;
      }[];
      expect(history.at(-1)).toMatchObject({ status: "deployed", description: "Rollback to 1" });
      expect(history.at(-1)?.chart).toBe(basename(PREVIOUS, ".tgz"));
    },
    LIFECYCLE_TIMEOUT_MS,
  );

  /** The release's revision and each Deployment's generation: what an upgrade that changed nothing leaves alone. */
  const state = async () => ({
    revisions: (JSON.parse(await helmOk(["history", "parley", "-n", namespace, "-o", "json"])) as unknown[]).length,
    generations: Object.fromEntries(
      deployments(namespace).map((d) => [d.metadata.name, at(d, ["metadata", "generation"])]),
    ),
  });

  it(
    "refuses values that would change a Deployment selector (immutable), before anything is applied",
    async () => {
      const before = await state();
      const renamed = await helm(
        upgrade(CHART, "--reset-then-reuse-values", "--set", "fullnameOverride=parley,nameOverride=chat"),
      );
      expect(renamed.status).not.toBe(0);
      expect(renamed.stderr).toMatch(
        /Deployment parley-gateway: its selector .*"app.kubernetes.io\/name":"parley".* would become .*"app.kubernetes.io\/name":"chat".*immutable/,
      );
      expect(await state()).toEqual(before);
    },
    LIFECYCLE_TIMEOUT_MS,
  );

  it(
    "refuses an upgrade to a chart whose selectors changed, and without the chart's check the API server does too",
    async () => {
      const changed = mkdtempSync(join(tmpdir(), "parley-chart-"));
      try {
        cpSync(CHART, changed, { recursive: true });
        const helpers = join(changed, "templates/_helpers.tpl");
        const text = readFileSync(helpers, "utf8");
        const selector = "app.kubernetes.io/component: {{ .component }}\n{{- end }}";
        expect(text).toContain(selector);
        writeFileSync(
          helpers,
          text.replace(
            selector,
            "app.kubernetes.io/component: {{ .component }}\napp.kubernetes.io/part-of: parley\n{{- end }}",
          ),
        );
        const toChanged = upgrade(changed, "--reset-then-reuse-values");
        const before = await state();
        const refused = await helm(toChanged);
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toMatch(/Deployment parley-\w+: its selector .* would become .*immutable/);
        expect(await state()).toEqual(before);

        // The same commit without the check: the API server refuses the new selector, mid-upgrade.
        rmSync(join(changed, "templates/validate.yaml"));
        const failed = await helm([...toChanged, "--timeout", WAIT]);
        expect(failed.status).not.toBe(0);
        expect(failed.stderr).toMatch(/spec\.selector: Invalid value: .*field is immutable/);
      } finally {
        rmSync(changed, { recursive: true, force: true });
      }
    },
    LIFECYCLE_TIMEOUT_MS,
  );
});
