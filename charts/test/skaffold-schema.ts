/**
 * A strict model of the skaffold/v4beta13 config types that skaffold.yaml and k8s/skaffold.yaml use, written from
 * skaffold's published schema (docs-v2/content/en/schemas/v4beta13.json in GoogleContainerTools/skaffold), and a check
 * that refuses what skaffold's parser refuses, with skaffold's message.
 *
 * The skaffold Go module is not on the Go module proxy, so the tests cannot run skaffold itself. What its parser does
 * (pkg/skaffold/schema/versions.go): it decodes each document into a map, drops the top-level keys starting with `.`
 * (YAML anchors), encodes the result again with gopkg.in/yaml.v3 (comments gone, mapping keys sorted), and decodes that
 * text into the version's Go structs with `KnownFields(true)`. yaml.v3 then lists every problem as
 * `line N: field X not found in type v4beta13.T`, N counted in the re-encoded text, which is why the line skaffold
 * names is rarely the line of the file. {@link checkSkaffoldConfig} does the same steps.
 *
 * Every type in the model lists all the properties the schema gives it, so a valid field we do not use yet is not
 * refused; types the two files do not use are accepted as any mapping ({@link loose}). Unknown fields and wrong value
 * types are reported in yaml.v3's words (the Go type of a mismatch as the schema implies it, pointers left out).
 * Missing required fields, two builders on one artifact and values outside an enum are refused by skaffold's
 * validation after parsing, not by yaml.v3, so those messages are worded here.
 */
import { isMap, isNode, isScalar, isSeq, LineCounter, type Node, type Pair, parseAllDocuments, stringify } from "yaml";

/** The only config version modelled here; skaffold >= 2.15.0 reads it (schemas/version-mappings/v4beta13-version.json). */
export const SKAFFOLD_API_VERSION = "skaffold/v4beta13";
const GO_PACKAGE = "v4beta13";

/** What a field holds, with the Go type yaml.v3 names in a mismatch. */
type Field =
  | { kind: "string" | "int" | "bool" | "intOrString" | "any" }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "list"; of: Field }
  | { kind: "stringMap" }
  | { kind: "loose"; type: string }
  | Struct;

interface Struct {
  kind: "struct";
  type: string;
  fields: Readonly<Record<string, Field>>;
  required: readonly string[];
  /** At most one of these may be set (the schema's `anyOf` variants, e.g. the builder of an artifact). */
  oneOf: readonly string[];
}

const string: Field = { kind: "string" };
const int: Field = { kind: "int" };
const bool: Field = { kind: "bool" };
/** No type in the schema (free-form values: `setValueTemplates`, a patch's `value`, …). */
const any: Field = { kind: "any" };
const strings: Field = { kind: "list", of: string };
const stringMap: Field = { kind: "stringMap" };
const list = (of: Field): Field => ({ kind: "list", of });
/** A type neither file uses: any mapping is accepted, its fields unchecked. */
const loose = (type: string): Field => ({ kind: "loose", type });
const struct = (
  type: string,
  fields: Record<string, Field>,
  { required = [], oneOf = [] }: { required?: string[]; oneOf?: string[] } = {},
): Struct => ({ kind: "struct", type, fields, required, oneOf });

const Metadata = struct("Metadata", { name: string, labels: stringMap, annotations: stringMap });

const ProfileDependency = struct("ProfileDependency", { name: string, activatedBy: strings }, { required: ["name"] });

const ConfigDependency = struct("ConfigDependency", {
  configs: strings,
  path: string,
  git: loose("GitInfo"),
  googleCloudStorage: loose("GoogleCloudStorageInfo"),
  googleCloudBuildRepoV2: loose("GoogleCloudBuildRepoV2Info"),
  activeProfiles: list(ProfileDependency),
});

const GitTagger = struct("GitTagger", {
  variant: { kind: "enum", values: ["Tags", "CommitSha", "AbbrevCommitSha", "TreeSha", "AbbrevTreeSha"] },
  prefix: string,
  ignoreChanges: bool,
});

const TagPolicy = struct("TagPolicy", {
  gitCommit: GitTagger,
  sha256: loose("ShaTagger"),
  envTemplate: loose("EnvTemplateTagger"),
  dateTime: loose("DateTimeTagger"),
  customTemplate: loose("CustomTemplateTagger"),
  inputDigest: loose("InputDigest"),
});

const LocalBuild = struct("LocalBuild", {
  push: bool,
  tryImportMissing: bool,
  useDockerCLI: bool,
  useBuildkit: bool,
  concurrency: int,
});

const DockerArtifact = struct("DockerArtifact", {
  dockerfile: string,
  target: string,
  buildArgs: stringMap,
  network: string,
  addHost: strings,
  cacheFrom: strings,
  cacheTo: strings,
  cliFlags: strings,
  pullParent: bool,
  noCache: bool,
  squash: bool,
  secrets: list(loose("DockerSecret")),
  ssh: string,
});

const BUILDERS = ["docker", "bazel", "ko", "jib", "kaniko", "buildpacks", "custom"];
const Artifact = struct(
  "Artifact",
  {
    image: string,
    context: string,
    sync: loose("Sync"),
    requires: list(loose("ArtifactDependency")),
    hooks: loose("BuildHooks"),
    platforms: strings,
    runtimeType: string,
    docker: DockerArtifact,
    bazel: loose("BazelArtifact"),
    ko: loose("KoArtifact"),
    jib: loose("JibArtifact"),
    kaniko: loose("KanikoArtifact"),
    buildpacks: loose("BuildpackArtifact"),
    custom: loose("CustomArtifact"),
  },
  { required: ["image"], oneOf: BUILDERS },
);

const BuildConfig = struct(
  "BuildConfig",
  {
    hooks: loose("BuildHooks"),
    artifacts: list(Artifact),
    insecureRegistries: strings,
    tagPolicy: TagPolicy,
    platforms: strings,
    local: LocalBuild,
    googleCloudBuild: loose("GoogleCloudBuild"),
    cluster: loose("ClusterDetails"),
  },
  { oneOf: ["local", "googleCloudBuild", "cluster"] },
);

const RenderConfig = struct("RenderConfig", {
  rawYaml: strings,
  remoteManifests: list(loose("RemoteManifest")),
  kustomize: loose("Kustomize"),
  helm: loose("Helm"),
  kpt: strings,
  hooks: loose("RenderHooks"),
  transform: any,
  validate: any,
  output: string,
});

const HelmRelease = struct(
  "HelmRelease",
  {
    name: string,
    chartPath: string,
    remoteChart: string,
    valuesFiles: strings,
    namespace: string,
    version: string,
    setValues: any,
    setValueTemplates: any,
    setFiles: stringMap,
    createNamespace: bool,
    wait: bool,
    recreatePods: bool,
    skipBuildDependencies: bool,
    skipTests: bool,
    useHelmSecrets: bool,
    repo: string,
    upgradeOnChange: bool,
    overrides: any,
    packaged: loose("HelmPackaged"),
    dependsOn: strings,
  },
  { required: ["name"] },
);

/** `deploy.helm`: the schema's definition is LegacyHelmDeploy (RenderConfig's `helm` is the Helm type). */
const LegacyHelmDeploy = struct("LegacyHelmDeploy", {
  concurrency: int,
  releases: list(HelmRelease),
  flags: loose("HelmDeployFlags"),
  hooks: loose("DeployHooks"),
});

const KubectlDeploy = struct("KubectlDeploy", {
  flags: loose("KubectlFlags"),
  remoteManifests: strings,
  defaultNamespace: string,
  hooks: loose("DeployHooks"),
});

const DeployConfig = struct("DeployConfig", {
  docker: loose("DockerDeploy"),
  helm: LegacyHelmDeploy,
  kpt: loose("KptDeploy"),
  kubectl: KubectlDeploy,
  cloudrun: loose("CloudRunDeploy"),
  statusCheck: bool,
  statusCheckDeadlineSeconds: int,
  tolerateFailuresUntilDeadline: bool,
  kubeContext: string,
  logs: loose("LogsConfig"),
});

const PortForwardResource = struct("PortForwardResource", {
  resourceType: string,
  resourceName: string,
  namespace: string,
  port: { kind: "intOrString" },
  address: string,
  localPort: int,
});

const Activation = struct("Activation", { env: string, kubeContext: string, command: string });

const JSONPatch = struct("JSONPatch", { op: string, path: string, from: string, value: any }, { required: ["path"] });

/** What a profile may override; `requires` is not among them (it exists only at the top level of a config). */
/** The fields a config and a profile share (a profile's are laid over the config's). */
const pipeline = {
  build: BuildConfig,
  test: list(loose("TestCase")),
  manifests: RenderConfig,
  deploy: DeployConfig,
  portForward: list(PortForwardResource),
  resourceSelector: loose("ResourceSelectorConfig"),
  verify: list(loose("VerifyTestCase")),
  customActions: list(loose("Action")),
};

const Profile = struct(
  "Profile",
  {
    name: string,
    activation: list(Activation),
    requiresAllActivations: bool,
    patches: list(JSONPatch),
    ...pipeline,
  },
  { required: ["name"] },
);

const SkaffoldConfig = struct(
  "SkaffoldConfig",
  {
    apiVersion: string,
    kind: string,
    metadata: Metadata,
    requires: list(ConfigDependency),
    ...pipeline,
    profiles: list(Profile),
  },
  { required: ["apiVersion", "kind"] },
);

/**
 * Problems skaffold would report for this skaffold.yaml text (one or more documents), in yaml.v3's format
 * (`line 54: field requires not found in type v4beta13.Profile`); empty when skaffold's parser accepts it.
 */
export function checkSkaffoldConfig(text: string): string[] {
  // Step 1, as skaffold's removeYamlAnchors: each document to a map, top-level `.` keys dropped, encoded again.
  const encoded: string[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) return document.errors.map((error) => `unable to parse YAML: ${error.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || Array.isArray(value)) {
      return [
        `unable to parse YAML: a document is not a mapping but ${Array.isArray(value) ? "a list" : typeof value}`,
      ];
    }
    const kept = Object.fromEntries(Object.entries(value).filter(([key]) => !key.startsWith(".")));
    // yaml.v3's encoder: sorted keys (its own order, below), no folding of long lines.
    encoded.push(stringify(kept, { sortMapEntries: byYamlV3KeyOrder, lineWidth: 0, indent: 4 }));
  }
  // Step 2: the re-encoded stream decoded strictly, line numbers counted in it.
  const lineCounter = new LineCounter();
  const problems: string[] = [];
  for (const document of parseAllDocuments(encoded.join("---\n"), { lineCounter })) {
    const line = (node: unknown): number => {
      const range = isNode(node) ? node.range : undefined;
      return range ? lineCounter.linePos(range[0]).line : 0;
    };
    const contents = document.contents;
    const apiVersion: unknown = isMap(contents) ? contents.get("apiVersion") : undefined;
    if (apiVersion !== SKAFFOLD_API_VERSION) {
      problems.push(`apiVersion is ${String(apiVersion)}: this check models ${SKAFFOLD_API_VERSION} only`);
      continue;
    }
    decode(contents, SkaffoldConfig, line, problems);
  }
  return problems;
}

/** yaml.v3's decoding of `node` into `field`, appending what it (or skaffold's validation) would refuse. */
function decode(node: unknown, field: Field, line: (node: unknown) => number, problems: string[]): void {
  // A null (or absent) value leaves any Go field at its zero value.
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) return;
  const mismatch = () => problems.push(cannotUnmarshal(node as Node, goType(field), line));
  switch (field.kind) {
    case "any":
      return;
    case "string":
    case "intOrString":
      // yaml.v3 sets a string from the text of any scalar.
      if (!isScalar(node)) mismatch();
      return;
    case "int":
      if (!isScalar(node) || typeof node.value !== "number" || !Number.isInteger(node.value)) mismatch();
      return;
    case "bool":
      // Into a typed bool, yaml.v3 also takes YAML 1.1's spellings.
      if (!isScalar(node) || !(typeof node.value === "boolean" || YAML11_BOOLEANS.has(String(node.value)))) mismatch();
      return;
    case "enum":
      if (!isScalar(node)) mismatch();
      else if (!field.values.includes(String(node.value))) {
        problems.push(`line ${line(node)}: ${String(node.value)} is not one of ${field.values.join(", ")}`);
      }
      return;
    case "list":
      if (!isSeq(node)) mismatch();
      else for (const item of node.items) decode(item, field.of, line, problems);
      return;
    case "stringMap":
      if (!isMap(node)) mismatch();
      else for (const pair of node.items) decode(pair.value, string, line, problems);
      return;
    case "loose":
      if (!isMap(node)) mismatch();
      return;
    case "struct": {
      if (!isMap(node)) {
        mismatch();
        return;
      }
      const present = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        present.add(key);
        const member = field.fields[key];
        if (member === undefined) {
          problems.push(`line ${line(pair.key)}: field ${key} not found in type ${GO_PACKAGE}.${field.type}`);
        } else {
          decode(pair.value, member, line, problems);
        }
      }
      for (const name of field.required) {
        if (!present.has(name)) problems.push(`line ${line(node)}: ${GO_PACKAGE}.${field.type} requires ${name}`);
      }
      const set = field.oneOf.filter((name) => present.has(name));
      if (set.length > 1) {
        problems.push(`line ${line(node)}: ${GO_PACKAGE}.${field.type} takes only one of ${set.join(", ")}`);
      }
      return;
    }
  }
}

/** The YAML 1.1 spellings yaml.v3 still takes into a Go bool (its decode.go). */
const YAML11_BOOLEANS = new Set([
  "y",
  "Y",
  "yes",
  "Yes",
  "YES",
  "on",
  "On",
  "ON",
  "n",
  "N",
  "no",
  "No",
  "NO",
  "off",
  "Off",
  "OFF",
]);

/** yaml.v3's `cannot unmarshal` message: the node's tag, a scalar's value (cut at 10 characters), the Go type. */
function cannotUnmarshal(node: Node, type: string, line: (node: unknown) => number): string {
  let tag = "!!map";
  let value = "";
  if (isSeq(node)) tag = "!!seq";
  else if (isScalar(node)) {
    const text = String(node.value);
    tag =
      typeof node.value === "boolean"
        ? "!!bool"
        : typeof node.value === "number"
          ? Number.isInteger(node.value)
            ? "!!int"
            : "!!float"
          : "!!str";
    value = text.length > 10 ? ` \`${text.slice(0, 7)}...\`` : ` \`${text}\``;
  }
  return `line ${line(node)}: cannot unmarshal ${tag}${value} into ${type}`;
}

function goType(field: Field): string {
  switch (field.kind) {
    case "string":
    case "enum":
      return "string";
    case "int":
      return "int";
    case "bool":
      return "bool";
    case "intOrString":
      return "util.IntOrString";
    case "any":
      return "interface {}";
    case "list":
      return `[]${goType(field.of)}`;
    case "stringMap":
      return "map[string]string";
    case "loose":
      return `${GO_PACKAGE}.${field.type}`;
    case "struct":
      return `${GO_PACKAGE}.${field.type}`;
  }
}

function byYamlV3KeyOrder(a: Pair, b: Pair): number {
  const x = String(isScalar(a.key) ? a.key.value : a.key);
  const y = String(isScalar(b.key) ? b.key.value : b.key);
  if (x === y) return 0;
  return yamlV3Less(x, y) ? -1 : 1;
}

/**
 * Whether string key `a` comes before `b` in the order yaml.v3 encodes map keys (its sorter.go): at the first
 * difference, letters by code point, a non-letter before a letter (a letter first right after a digit), digit runs by
 * their value; a prefix before the longer key.
 */
export function yamlV3Less(a: string, b: string): boolean {
  const ar = [...a];
  const br = [...b];
  const isLetter = (c: string) => /\p{L}/u.test(c);
  const isDigit = (c: string | undefined) => c !== undefined && /\p{Nd}/u.test(c);
  // Go's `int64(r - '0')`, also for the other scripts' digits.
  const codePoint = (c: string | undefined) => c?.codePointAt(0) ?? 0;
  const digit = (c: string | undefined) => BigInt(codePoint(c) - 48);
  let digits = false;
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const ac = ar[i] as string;
    const bc = br[i] as string;
    if (ac === bc) {
      digits = isDigit(ac);
      continue;
    }
    const al = isLetter(ac);
    const bl = isLetter(bc);
    if (al && bl) return codePoint(ac) < codePoint(bc);
    if (al || bl) return digits ? al : bl;
    let an = 0n;
    let bn = 0n;
    if (ac === "0" || bc === "0") {
      for (let j = i - 1; j >= 0 && isDigit(ar[j]); j--) {
        if (ar[j] !== "0") {
          an = 1n;
          bn = 1n;
          break;
        }
      }
    }
    let ai = i;
    for (; ai < ar.length && isDigit(ar[ai]); ai++) an = an * 10n + digit(ar[ai]);
    let bi = i;
    for (; bi < br.length && isDigit(br[bi]); bi++) bn = bn * 10n + digit(br[bi]);
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return codePoint(ac) < codePoint(bc);
  }
  return ar.length < br.length;
}
