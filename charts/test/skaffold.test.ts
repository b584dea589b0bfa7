/**
 * Both skaffold configs checked the way skaffold v2's parser reads them (charts/test/skaffold-schema.ts: a strict
 * model of skaffold's published v4beta13 schema), since skaffold itself cannot be built here. What the configs deploy
 * is asserted in chart.test.ts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkSkaffoldConfig, yamlV3Less } from "./skaffold-schema.js";
import { ROOT } from "./tools.js";

const source = (path: string) => readFileSync(`${ROOT}${path}`, "utf8");

describe("skaffold configs against skaffold's v4beta13 schema", () => {
  it("refuses commit 1fe8783's skaffold.yaml with the message skaffold v2.24.0 gives", () => {
    // `requires` in a profile; skaffold names line 54 of its re-encoded copy (sorted keys, no comments), not line 61.
    expect(checkSkaffoldConfig(source("charts/test/skaffold-1fe8783.yaml"))).toEqual([
      "line 54: field requires not found in type v4beta13.Profile",
    ]);
  });

  it("accepts skaffold.yaml and k8s/skaffold.yaml", () => {
    expect(checkSkaffoldConfig(source("skaffold.yaml"))).toEqual([]);
    expect(checkSkaffoldConfig(source("k8s/skaffold.yaml"))).toEqual([]);
  });

  it("counts lines as skaffold does: after sorting keys and dropping comments and top-level `.` anchors", () => {
    const config = [
      "# a comment",
      "kind: Config",
      ".images: &image {image: a}", // an anchor key, dropped before the strict decode
      "apiVersion: skaffold/v4beta13",
      "build:",
      "  artifacts:",
      "    - *image",
      "    - image: b",
      "      dockerfile: Dockerfile", // belongs under docker:
    ].join("\n");
    // Re-encoded: apiVersion (1), build (2), artifacts (3), - image: a (4), - dockerfile (5), image: b (6), kind (7).
    expect(checkSkaffoldConfig(config)).toEqual(["line 5: field dockerfile not found in type v4beta13.Artifact"]);
  });

  it("refuses unknown fields at any depth, wrong value types, missing required fields and two builders", () => {
    const config = `
apiVersion: skaffold/v4beta13
kind: Config
build:
  artifacts:
    - image: a
      docker: {dockerfile: Dockerfile, buildArg: {}}
      custom: {}
    - context: .
  local: {push: maybe, concurrency: two}
deploy:
  helm:
    releases:
      - chartPath: charts/parley
        valuesFiles: k8s/values-dev.yaml
profiles:
  - name: dev
    patches: [{op: replace}]
`;
    // Re-encoded: apiVersion (1), build (2), artifacts (3), - custom (4), docker (5), buildArg (6), dockerfile (7),
    // image (8), - context (9), local (10), concurrency (11), push (12), deploy (13) … patches (21), - op (22).
    expect(checkSkaffoldConfig(config)).toEqual([
      "line 6: field buildArg not found in type v4beta13.DockerArtifact",
      "line 4: v4beta13.Artifact takes only one of docker, custom",
      "line 9: v4beta13.Artifact requires image",
      "line 11: cannot unmarshal !!str `two` into int",
      "line 12: cannot unmarshal !!str `maybe` into bool",
      "line 17: cannot unmarshal !!str `k8s/val...` into []string",
      "line 16: v4beta13.HelmRelease requires name",
      "line 22: v4beta13.JSONPatch requires path",
    ]);
  });

  it("accepts valid v4beta13 fields that our configs do not use", () => {
    const config = `
apiVersion: skaffold/v4beta13
kind: Config
metadata: {name: x, labels: {team: chat}, annotations: {a: b}}
requires:
  - configs: [deps]
    git: {repo: https://example.com/deps.git, ref: main}
    activeProfiles: [{name: p}]
build:
  platforms: [linux/amd64]
  insecureRegistries: [localhost:5000]
  tagPolicy: {gitCommit: {variant: AbbrevCommitSha, prefix: v, ignoreChanges: true}}
  local: {tryImportMissing: true, useDockerCLI: true, concurrency: 2}
  artifacts:
    - image: a
      platforms: [linux/arm64]
      sync: {infer: ["**/*.ts"]}
      docker: {target: runtime, buildArgs: {A: b}, cacheFrom: [a], noCache: true, secrets: [{id: s}], ssh: default}
manifests: {rawYaml: [a.yaml], output: out}
deploy:
  kubeContext: kind-parley
  statusCheck: true
  tolerateFailuresUntilDeadline: true
  logs: {prefix: container}
  kubectl: {defaultNamespace: chat, remoteManifests: [a], flags: {apply: [--server-side]}}
  helm:
    concurrency: 0
    releases:
      - {name: r, remoteChart: x, repo: https://example.com, namespace: chat, createNamespace: true, dependsOn: [d],
         setValues: {a: 1}, setFiles: {a: b}, upgradeOnChange: false, skipBuildDependencies: true, version: "1.0.0"}
portForward: [{resourceType: deployment, resourceName: a, namespace: chat, port: http, address: 0.0.0.0}]
profiles:
  - name: p
    requiresAllActivations: true
    activation: [{env: CI=true, kubeContext: kind, command: run}]
    patches: [{op: add, path: /build/artifacts/0/context, from: /x, value: {a: [1]}}]
    manifests: {kustomize: {paths: [k8s]}}
`;
    expect(checkSkaffoldConfig(config)).toEqual([]);
  });

  it("sorts keys in yaml.v3's order, which decides the line numbers", () => {
    // A non-letter before a letter and before a digit run, digit runs by value, then letters by code point.
    const sorted = ["a", "a_b", "a1", "a2", "a10", "aB", "ab", "b", "statusCheck", "statusCheckDeadlineSeconds"];
    const shuffled = [...sorted].reverse();
    expect(shuffled.sort((x, y) => (yamlV3Less(x, y) ? -1 : yamlV3Less(y, x) ? 1 : 0))).toEqual(sorted);
  });
});
