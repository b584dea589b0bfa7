#!/usr/bin/env node
// Generates strict, standalone JSON schemas for kubeconform, offline, from:
//   --openapi DIR  the OpenAPI v3 documents the Kubernetes project ships in k8s.io/kubernetes (api/openapi-spec/v3)
//   --crd FILE     CustomResourceDefinition YAML files (their openAPIV3Schema), converted with --yaml2json BIN
// into OUT/<group>/<kind>_<version>.json (the core group is "v1"), which kubeconform finds with
//   -schema-location 'OUT/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'
// "Strict" means what `kubectl apply --validate=strict` means: a field the API does not know is an error, so every
// object schema without additionalProperties (and not marked x-kubernetes-preserve-unknown-fields) gets
// additionalProperties: false. Usage: k8s-schemas.mjs OUT --yaml2json BIN --openapi DIR [--crd FILE ...]
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [out, ...rest] = process.argv.slice(2);
const openapiDirs = [];
const crdFiles = [];
let yaml2json = "";
for (let i = 0; i < rest.length; i += 2) {
  const [flag, value] = [rest[i], rest[i + 1]];
  if (value === undefined) usage(`missing value after ${flag}`);
  if (flag === "--openapi") openapiDirs.push(value);
  else if (flag === "--crd") crdFiles.push(value);
  else if (flag === "--yaml2json") yaml2json = value;
  else usage(`unknown flag ${flag}`);
}
if (!out || openapiDirs.length === 0 || (crdFiles.length > 0 && !yaml2json)) usage("missing arguments");

function usage(message) {
  console.error(
    `k8s-schemas.mjs: ${message}\nusage: k8s-schemas.mjs OUT --yaml2json BIN --openapi DIR [--crd FILE ...]`,
  );
  process.exit(2);
}

const COMPONENTS = "#/components/schemas/";

/** Rewrites one schema node: definitions refs, strict objects, OpenAPI's nullable; drops prose. */
function convert(node) {
  if (Array.isArray(node)) return node.map(convert);
  if (node === null || typeof node !== "object") return node;
  const result = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "description") continue;
    if (key === "$ref" && typeof value === "string" && value.startsWith(COMPONENTS)) {
      result.$ref = `#/definitions/${value.slice(COMPONENTS.length)}`;
    } else if (key === "properties" || key === "patternProperties" || key === "definitions") {
      result[key] = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, convert(schema)]));
    } else {
      result[key] = convert(value);
    }
  }
  if (result.nullable === true && typeof result.type === "string") result.type = [result.type, "null"];
  delete result.nullable;
  if (
    result.properties !== undefined &&
    result.additionalProperties === undefined &&
    result["x-kubernetes-preserve-unknown-fields"] !== true
  ) {
    result.additionalProperties = false;
  }
  return result;
}

/** Names of every components schema reachable from `name`. */
function closure(name, schemas, seen = new Set()) {
  if (seen.has(name)) return seen;
  seen.add(name);
  const visit = (node) => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node !== null && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "$ref" && typeof value === "string" && value.startsWith(COMPONENTS)) {
          closure(value.slice(COMPONENTS.length), schemas, seen);
        } else visit(value);
      }
    }
  };
  if (schemas[name] === undefined) throw new Error(`unresolved reference ${name}`);
  visit(schemas[name]);
  return seen;
}

function write(group, kind, version, schema) {
  const dir = join(out, group === "" ? "v1" : group);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${kind.toLowerCase()}_${version}.json`), `${JSON.stringify(schema)}\n`);
}

let count = 0;
for (const dir of openapiDirs) {
  const schemas = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    Object.assign(schemas, JSON.parse(readFileSync(join(dir, file), "utf8")).components?.schemas ?? {});
  }
  for (const [name, schema] of Object.entries(schemas)) {
    for (const gvk of schema["x-kubernetes-group-version-kind"] ?? []) {
      // Only top-level kinds that are objects (not the shared meta types every group lists, like DeleteOptions).
      if (gvk.kind === "DeleteOptions" || gvk.kind === "WatchEvent" || gvk.kind === "Status") continue;
      if (!name.toLowerCase().endsWith(`.${gvk.kind.toLowerCase()}`)) continue;
      const definitions = {};
      for (const ref of closure(name, schemas)) definitions[ref] = convert(schemas[ref]);
      write(gvk.group, gvk.kind, gvk.version, { $ref: `#/definitions/${name}`, definitions });
      count++;
    }
  }
}

for (const file of crdFiles) {
  const docs = JSON.parse(execFileSync(yaml2json, { input: readFileSync(file), maxBuffer: 256 << 20 }).toString());
  for (const crd of docs) {
    if (crd.kind !== "CustomResourceDefinition") continue;
    for (const version of crd.spec.versions) {
      const schema = convert(version.schema.openAPIV3Schema);
      write(crd.spec.group, crd.spec.names.kind, version.name, schema);
      count++;
    }
  }
}

if (count === 0) usage("no schemas found");
console.error(`k8s-schemas.mjs: wrote ${count} schemas to ${out}`);
