/**
 * The Dockerfile and its three targets, checked without a Docker engine: the installed uWebSockets.js has a binary for the image's Node
 * ABI whose glibc requirement the image's Debian release meets, and the images are pinned, non-root, tini-wrapped,
 * production-only installs of files that exist. containers.test.ts builds and runs them.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ROOT } from "./tools.js";

const SERVICES = ["gateway", "persister", "web"] as const;

/** Node major version -> NODE_MODULE_VERSION (process.versions.modules), for the LTS lines the images may use. */
const NODE_ABI: Record<number, number> = { 20: 115, 22: 127, 24: 137 };
/** Debian release -> its glibc version (the node:*-<release>-slim images). */
const DEBIAN_GLIBC: Record<string, [number, number]> = { bullseye: [2, 31], bookworm: [2, 36], trixie: [2, 41] };
/** Debian release -> its major version (debian:<major>.<point>-slim). */
const DEBIAN_MAJOR: Record<string, number> = { bullseye: 11, bookworm: 12, trixie: 13 };

const DOCKERFILE = readFileSync(`${ROOT}Dockerfile`, "utf8");

/** The stages by name (`FROM base AS name`), each with its base and its instructions. */
const STAGES = new Map(
  DOCKERFILE.split(/^(?=FROM )/m)
    .slice(1)
    .map((text) => {
      const [, base, name] = /^FROM (\S+) AS (\S+)$/m.exec(text) ?? [];
      if (!base || !name) throw new Error(`a stage without a name: ${text.split("\n")[0]}`);
      return [name, { base, text }] as const;
    }),
);

/** A stage's instructions, its ancestors' first: what the image of that target is built from. */
function stage(name: string): string {
  const found = STAGES.get(name);
  if (!found) throw new Error(`no stage ${name}`);
  return STAGES.has(found.base) ? `${stage(found.base)}${found.text}` : found.text;
}

/** The default of `ARG name=...` in a Dockerfile. */
function arg(text: string, name: string): string {
  const match = new RegExp(`^ARG ${name}=(\\S+)$`, "m").exec(text);
  if (!match?.[1]) throw new Error(`no ARG ${name} with a default`);
  return match[1];
}

/** Highest GLIBC_x.y symbol version an ELF shared object requires: readelf when installed, else its string table. */
function requiredGlibc(file: string): [number, number] {
  const readelf = spawnSync("readelf", ["--version-info", "--wide", file], { encoding: "utf8" });
  const text = readelf.status === 0 ? readelf.stdout : readFileSync(file).toString("latin1");
  const versions = [...text.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m): [number, number] => [Number(m[1]), Number(m[2])]);
  if (versions.length === 0) throw new Error(`${file} names no GLIBC version`);
  return versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a));
}

describe("the Dockerfile", () => {
  const nodeImage = arg(DOCKERFILE, "NODE_IMAGE");

  it("builds on a pinned Node LTS image", () => {
    // An exact version (or a digest), never a floating tag like node:24 or latest.
    expect(nodeImage).toMatch(/^node:\d+\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/);
  });

  it("the web image runs on the Debian release under the Node image, pinned to a point release", () => {
    const release = /^node:\d+\.\d+\.\d+-([a-z]+)-slim/.exec(nodeImage)?.[1] ?? "";
    const debian = /^debian:(\d+)\.\d+-slim$/.exec(arg(DOCKERFILE, "DEBIAN_IMAGE"));
    expect(debian, "DEBIAN_IMAGE=debian:<major>.<point>-slim").not.toBeNull();
    expect(DEBIAN_MAJOR[release], `Debian major of ${release}`).toBe(Number(debian?.[1]));
    expect(STAGES.get("web")?.base).toMatch(/^\$\{DEBIAN_IMAGE\}$/);
  });

  it("uWebSockets.js ships a binary for the image's Node ABI whose glibc the image's Debian release provides", () => {
    const match = /^node:(\d+)\.\d+\.\d+-([a-z]+)-slim/.exec(nodeImage);
    const major = Number(match?.[1]);
    const release = match?.[2] ?? "";
    const abi = NODE_ABI[major];
    const glibc = DEBIAN_GLIBC[release];
    if (abi === undefined) throw new Error(`unknown ABI of Node ${major}: add it to NODE_ABI`);
    if (glibc === undefined) throw new Error(`unknown glibc of Debian ${release}: add it to DEBIAN_GLIBC`);
    // The local Node is a different major at times; the table is checked against it when they agree.
    if (Number(process.versions.node.split(".")[0]) === major) expect(Number(process.versions.modules)).toBe(abi);
    for (const arch of ["x64", "arm64"]) {
      const binary = `${ROOT}node_modules/uWebSockets.js/uws_linux_${arch}_${abi}.node`;
      expect(existsSync(binary), binary).toBe(true);
      const [major2, minor] = requiredGlibc(binary);
      expect(
        major2 < glibc[0] || (major2 === glibc[0] && minor <= glibc[1]),
        `${binary} needs GLIBC_${major2}.${minor}; Debian ${release} has ${glibc.join(".")}`,
      ).toBe(true);
    }
  });

  it("the glibc check can fail: bookworm would not run this uWebSockets.js on Node 24", () => {
    const [major, minor] = requiredGlibc(`${ROOT}node_modules/uWebSockets.js/uws_linux_x64_137.node`);
    const bookworm = DEBIAN_GLIBC.bookworm ?? [0, 0];
    expect(major > bookworm[0] || (major === bookworm[0] && minor > bookworm[1])).toBe(true);
  });

  it("installs from every workspace's manifest and copies only files that exist", () => {
    // npm ci needs every workspace's package.json: the lock file lists them all.
    const workspaces = (JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { workspaces: string[] }).workspaces;
    for (const workspace of workspaces) {
      expect(stage("deps")).toContain(`COPY ${workspace}/package.json ${workspace}/`);
    }
    for (const [, from] of DOCKERFILE.matchAll(/^COPY (?!--from|<<)(\S+)/gm)) {
      if (from) expect(existsSync(`${ROOT}${from}`), `the Dockerfile copies ${from}`).toBe(true);
    }
    expect(DOCKERFILE).not.toMatch(/^HEALTHCHECK/m);
    // The last stage is what a plain `docker build .` gives.
    expect([...STAGES.keys()].at(-1)).toBe("gateway");
  });

  it.each(SERVICES)("%s: a target of its own, run as a numeric non-root user", (service) => {
    const user = [...stage(service).matchAll(/^USER (\d+)(:\d+)?$/gm)].at(-1);
    expect(Number(user?.[1]), "numeric non-root USER, so runAsNonRoot can verify it").toBeGreaterThan(0);
  });

  it.each(["gateway", "persister"])(
    "%s: production dependencies only, tini as PID 1, a command that is built",
    (service) => {
      const text = stage(service);
      expect(readFileSync(`${ROOT}scripts/images/runtime-tree.sh`, "utf8")).toContain(
        'npm ci --workspace "$service" --omit=dev',
      );
      expect(text).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
      expect(text).toContain(`COPY --from=${service}-tree /out/ ./`);
      expect(text).toContain(`CMD ["node", "${service}/dist/main.js"]`);
      expect(existsSync(`${ROOT}${service}/src/main.ts`)).toBe(true);
    },
  );

  it("the web image sends the same Content-Security-Policy as the gateway serving the client", () => {
    const policy = /CONTENT_SECURITY_POLICY =\s*([\s\S]*?);\n/.exec(
      readFileSync(`${ROOT}gateway/src/static-files.ts`, "utf8"),
    );
    const gateway = [...(policy?.[1] ?? "").matchAll(/"([^"]*)"/g)].map((m) => m[1]).join("");
    expect(gateway).toContain("default-src 'self'");
    const headers = readFileSync(`${ROOT}web/nginx/parley-headers.conf`, "utf8");
    expect(headers).toContain(`add_header Content-Security-Policy "${gateway.trim()}" always;`);
    expect(stage("web")).toContain("COPY web/nginx/parley-headers.conf /etc/nginx/parley-headers.conf");
    // Every location but the health check sends them (an add_header in a location drops the inherited ones).
    const server = readFileSync(`${ROOT}web/nginx/default.conf`, "utf8");
    const locations = [...server.matchAll(/^\s*(location [^{]+)\{([^}]*)/gm)].filter(
      ([, name]) => !name?.includes("healthz"),
    );
    expect(locations.map(([, name]) => name?.trim())).toEqual(
      expect.arrayContaining(["location /assets/", "location /", "location @page", "location @not_found"]),
    );
    for (const [, name, block] of locations) expect(block, name).toContain("include /etc/nginx/parley-headers.conf;");
  });

  it("the web image's nginx runs unprivileged on a read-only root: port 8080, pid and temp files under /tmp", () => {
    const text = stage("web");
    expect(text).toMatch(/^USER 101:101$/m);
    expect(text).toMatch(/^EXPOSE 8080$/m);
    expect(text).toContain("COPY web/nginx/nginx.conf /etc/nginx/nginx.conf");
    expect(text).toContain("COPY web/nginx/default.conf /etc/nginx/conf.d/default.conf");
    // Buildah (Debian's podman) reads no heredocs: the config lives in files.
    expect(DOCKERFILE).not.toContain("<<");
    const conf = readFileSync(`${ROOT}web/nginx/nginx.conf`, "utf8");
    expect(conf).not.toMatch(/^\s*user\s/m);
    expect(conf).toMatch(/^pid \/tmp\/\S+;$/m);
    for (const [, path] of conf.matchAll(/^\s*\w+_temp_path (\S+);$/gm)) expect(path).toMatch(/^\/tmp\//);
    expect([...conf.matchAll(/_temp_path /g)].length).toBe(5);
    expect(readFileSync(`${ROOT}web/nginx/default.conf`, "utf8")).toMatch(/^\s*listen 8080;$/m);
  });

  it.each(["gateway", "persister"])(
    "%s: the runtime tree holds every workspace it imports, nested node_modules too",
    (service) => {
      // Workspace directories by package name, and the @parley/* runtime dependencies of each.
      const workspaces = (JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { workspaces: string[] })
        .workspaces;
      const manifests = new Map(
        workspaces.map((dir) => {
          const manifest = JSON.parse(readFileSync(`${ROOT}${dir}/package.json`, "utf8")) as {
            name: string;
            dependencies?: Record<string, string>;
          };
          return [manifest.name, { dir, deps: Object.keys(manifest.dependencies ?? {}) }];
        }),
      );
      const needed = new Set<string>();
      const visit = (name: string) => {
        const workspace = manifests.get(name);
        if (!workspace || needed.has(workspace.dir)) return;
        needed.add(workspace.dir);
        for (const dep of workspace.deps) visit(dep);
      };
      visit(`@parley/${service}`);
      const [, named, workspacesOfTree] =
        /^RUN runtime-tree\.sh (\S+) ([a-z ]+)$/m.exec(stage(`${service}-tree`)) ?? [];
      expect(named).toBe(service);
      expect(workspacesOfTree?.split(" ").sort()).toEqual([...needed].sort());
      // npm nests a dependency under the workspace when the root cannot hold it (kysely under persister/, today).
      expect(readFileSync(`${ROOT}scripts/images/runtime-tree.sh`, "utf8")).toContain(
        'if [ -d "$w/node_modules" ]; then cp -a "$w/node_modules" "/out/$w/"; fi',
      );
    },
  );

  it(".dockerignore keeps local installs, builds and service data out of the build context", () => {
    const lines = readFileSync(`${ROOT}.dockerignore`, "utf8").split("\n");
    for (const entry of ["**/node_modules", "**/dist", ".parley", ".git"]) expect(lines).toContain(entry);
  });
});
