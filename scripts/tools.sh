#!/usr/bin/env bash
# Pinned tools for the chart tests, built from the Go module proxy (no GitHub access on our machines) and cached
# per user (${XDG_CACHE_HOME:-~/.cache}/parley/tools, or PARLEY_TOOLS_CACHE) so that only the first run on a machine
# pays for the build, whichever clone it comes from; every entry is named by its version:
#
#   helm         helm.sh/helm/v3, lint and template the chart
#   k6           go.k6.io/k6, the load generator of loadtest/ (its smoke runs in the test command)
#   kubeconform  validates rendered manifests against local JSON schemas (never fetches them)
#   yaml2json    scripts/yaml2json: YAML streams to JSON with sigs.k8s.io/yaml, for the tests and the CRD schemas
#   kubernetes   kube-apiserver, kube-controller-manager, kube-scheduler and kubectl of k8s.io/kubernetes, etcd and
#                kwok (simulated nodes), pinned by the Go modules in scripts/control-plane/: scripts/control-plane.sh
#   crds         the CRDs the chart may render (prometheus-operator, KEDA, Gateway API), for the control plane
#   schemas      JSON schemas generated offline from the OpenAPI v3 spec inside the k8s.io/kubernetes module and from
#                the CRDs above (scripts/k8s-schemas.mjs)
#   centrifugo   github.com/centrifugal/centrifugo/v6, a peer in the fan-out benchmark (loadtest/src/centrifugo.ts);
#                a benchmark tool only, so `all` (which the test command runs) leaves it out: build it by name
#                (4 to 6 minutes on 2 cores)
#   seaweedfs    github.com/seaweedfs/seaweedfs's `weed`, the S3-compatible server of the object-store tests
#                (scripts/services/s3.sh); about 3 minutes on 2 cores
#
#   scripts/tools.sh [all|helm|k6|kubeconform|yaml2json|kubernetes|crds|schemas|seaweedfs|centrifugo]
#                             build what is missing (default: all), then print the env
#   scripts/tools.sh env      eval-able exports: PARLEY_HELM, PARLEY_K6, PARLEY_KUBECONFORM, PARLEY_YAML2JSON,
#                             PARLEY_KUBERNETES (a folder of the control plane's binaries), PARLEY_CRDS,
#                             PARLEY_SCHEMAS, PARLEY_SEAWEEDFS, PARLEY_CENTRIFUGO: where each tool is once built, printed whether it is
#                             built yet or not (so the benchmark checks that PARLEY_CENTRIFUGO exists)
#
# Progress goes to stderr and the env lines to stdout, like scripts/services.sh. A version bump below is a new cache
# entry; delete the cache folder to start over.
set -euo pipefail

readonly HELM_VERSION=v3.22.0
# What helm's own Makefile stamps into a release build (from its k8s.io/client-go v0.37): the default Kubernetes
# version of `helm template`/`install --dry-run` and of lint's deprecation checks. Without it a source build assumes
# Kubernetes 1.20 and refuses charts that require newer (ours: kubeVersion >= 1.27).
readonly HELM_K8S_MINOR=37
readonly K6_VERSION=v1.8.1
readonly KUBECONFORM_VERSION=v0.7.0
readonly PROMETHEUS_OPERATOR_VERSION=v0.85.0
readonly KEDA_VERSION=v2.21.0
readonly KWOK_VERSION=v0.8.0
readonly GATEWAY_API_VERSION=v1.6.3
readonly CENTRIFUGO_VERSION=v6.9.1
# SeaweedFS tags no Go module releases: the proxy serves this pseudo-version of its master (9 November 2026).
readonly SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6

readonly SCRIPT=tools.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
readonly TOOLS="${PARLEY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools}"
readonly BIN="$TOOLS/bin"
readonly HELM="$BIN/helm-$HELM_VERSION-k8s1.$HELM_K8S_MINOR"
readonly K6="$BIN/k6-$K6_VERSION"
readonly KUBECONFORM="$BIN/kubeconform-$KUBECONFORM_VERSION"
readonly YAML2JSON="$BIN/yaml2json-$(cat "$SCRIPTS_DIR/yaml2json/main.go" "$SCRIPTS_DIR/yaml2json/go.sum" | sha256sum | cut -c1-12)"
readonly CONTROL_PLANE="$SCRIPTS_DIR/control-plane"
# k8s.io/kubernetes's and etcd's versions are the ones their modules require; the schemas are Kubernetes's too.
module_version() { sed -n "s|^[[:space:]]*$1 \\(v[0-9.]*\\).*|\\1|p" "$CONTROL_PLANE/$2/go.mod"; }
KUBE_RELEASE=$(module_version k8s.io/kubernetes kubernetes)
ETCD_RELEASE=$(module_version go.etcd.io/etcd/server/v3 etcd)
readonly KUBE_RELEASE ETCD_RELEASE
readonly KUBERNETES="$BIN/kubernetes-$KUBE_RELEASE-etcd-$ETCD_RELEASE-kwok-$KWOK_VERSION-$(cat "$CONTROL_PLANE"/*/go.* | sha256sum | cut -c1-12)"
readonly CRDS="$TOOLS/crds/po-$PROMETHEUS_OPERATOR_VERSION-keda-$KEDA_VERSION-gateway-api-$GATEWAY_API_VERSION"
readonly SCHEMAS="$TOOLS/schemas/k8s-$KUBE_RELEASE-po-$PROMETHEUS_OPERATOR_VERSION-keda-$KEDA_VERSION-gateway-api-$GATEWAY_API_VERSION"
readonly CENTRIFUGO="$BIN/centrifugo-$CENTRIFUGO_VERSION"
readonly SEAWEEDFS="$BIN/weed-$SEAWEEDFS_VERSION"


go_bin() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '%s\n' /usr/local/go/bin/go
  else
    say "tools.sh: Go is needed to build helm and kubeconform (https://go.dev/dl/, or apt-get install golang)"
    exit 1
  fi
}

# Everything Go downloads or compiles stays in the cache folder, so the next run is a cache hit.
go_env() {
  export GOPATH="$TOOLS/go" GOCACHE="$TOOLS/go-build" GOMODCACHE="$TOOLS/go/pkg/mod"
  export GOFLAGS="-buildvcs=false -modcacherw" GOTOOLCHAIN=local CGO_ENABLED=0
  export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
}

# go_install MODULE@VERSION TARGET [LDFLAGS]: builds the command into a temporary GOBIN and moves it to TARGET.
go_install() {
  local pkg=$1 target=$2 ldflags=${3:-} go started tmp
  go=$(go_bin)
  go_env
  started=$(now_ms)
  tmp=$(mktemp -d "$TOOLS/gobin.XXXXXX")
  say "tools.sh: building $pkg (first run only; a few minutes on 2 cores)"
  GOBIN="$tmp" "$go" install -trimpath -ldflags="-s -w $ldflags" "$pkg"
  mkdir -p "$BIN"
  mv "$tmp"/* "$target"
  rmdir "$tmp"
  say "tools.sh: built $(basename "$target") in $(elapsed "$started")"
}

# mod_dir MODULE@VERSION: downloads a module zip (not its dependencies) and prints its extracted directory.
mod_dir() {
  local go
  go=$(go_bin)
  go_env
  "$go" mod download -json "$1" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const m = JSON.parse(s);
      if (m.Error) { console.error(m.Error); process.exit(1); }
      console.log(m.Dir);
    });'
}

build_helm() {
  local x=helm.sh/helm/v3
  [[ -x $HELM ]] || go_install "$x/cmd/helm@$HELM_VERSION" "$HELM" "-X $x/internal/version.version=$HELM_VERSION \
    -X $x/pkg/chartutil.k8sVersionMajor=1 -X $x/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR \
    -X $x/pkg/lint/rules.k8sVersionMajor=1 -X $x/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
}

build_k6() {
  [[ -x $K6 ]] || go_install "go.k6.io/k6@$K6_VERSION" "$K6"
}

# Stamped with the version as its .goreleaser.yml does (the tag without its "v"; unstamped it calls itself 0.0.0), so
# `centrifugo version` and its startup log name what a benchmark ran. The usage-stats endpoint and token that
# goreleaser also stamps stay empty: such a build sends no stats.
build_centrifugo() {
  [[ -x $CENTRIFUGO ]] || go_install "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION" "$CENTRIFUGO" \
    "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=${CENTRIFUGO_VERSION#v}"
}

# Its go.mod has replace directives, which `go install` refuses: build inside the downloaded module instead.
build_seaweedfs() {
  [[ -x $SEAWEEDFS ]] && return 0
  local go dir started
  go=$(go_bin)
  started=$(now_ms)
  say "tools.sh: building SeaweedFS $SEAWEEDFS_VERSION (first run only; about 3 minutes on 2 cores)"
  dir=$(mod_dir "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION")
  mkdir -p "$BIN"
  (cd "$dir" && "$go" build -trimpath -ldflags="-s -w" -o "$SEAWEEDFS.tmp" ./weed)
  mv "$SEAWEEDFS.tmp" "$SEAWEEDFS"
  say "tools.sh: built $(basename "$SEAWEEDFS") in $(elapsed "$started")"
}

build_kubeconform() {
  [[ -x $KUBECONFORM ]] || go_install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" "$KUBECONFORM"
}

build_yaml2json() {
  [[ -x $YAML2JSON ]] && return 0
  local go
  go=$(go_bin)
  go_env
  say "tools.sh: building scripts/yaml2json"
  mkdir -p "$BIN"
  (cd "$SCRIPTS_DIR/yaml2json" && "$go" build -trimpath -ldflags="-s -w" -o "$YAML2JSON.tmp" .)
  mv "$YAML2JSON.tmp" "$YAML2JSON"
}

# go_build_tools MODULE_DIR OUT LDFLAGS: builds every `tool` of the Go module in MODULE_DIR into the folder OUT.
go_build_tools() {
  local go
  go=$(go_bin)
  go_env
  (cd "$1" && "$go" build -trimpath -ldflags="-s -w $3" -o "$2/" tool)
}

# The control plane of scripts/control-plane.sh, in one folder named by every version in it.
build_kubernetes() {
  [[ -f $KUBERNETES/.complete ]] && return 0
  local started ldflags="" pkg
  started=$(now_ms)
  say "tools.sh: building Kubernetes $KUBE_RELEASE (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)," \
    "etcd $ETCD_RELEASE and kwok $KWOK_VERSION (first run only; about 12 minutes on 2 cores)"
  rm -rf "$KUBERNETES"
  mkdir -p "$KUBERNETES"
  # What hack/lib/version.sh stamps into a release build: without it the binaries call themselves v0.0.0 and
  # Helm refuses charts whose kubeVersion asks for more.
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_RELEASE -X $pkg.gitTreeState=clean"
    ldflags+=" -X $pkg.gitMajor=$(cut -d. -f1 <<<"${KUBE_RELEASE#v}") -X $pkg.gitMinor=$(cut -d. -f2 <<<"$KUBE_RELEASE")"
  done
  go_build_tools "$CONTROL_PLANE/kubernetes" "$KUBERNETES" "$ldflags"
  go_build_tools "$CONTROL_PLANE/etcd" "$KUBERNETES" ""
  # Go names the binary of go.etcd.io/etcd/server/v3 "server".
  mv "$KUBERNETES/server" "$KUBERNETES/etcd"
  [[ -x $KUBERNETES/kwok ]] || go_install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "$KUBERNETES/kwok"
  # kwok's "fast" stages, as its own kwokctl uses them: nodes go Ready and keep their leases; pods go Ready on
  # scheduling, Job pods complete, deleted pods go away.
  local kwok stage
  kwok=$(mod_dir "sigs.k8s.io/kwok@$KWOK_VERSION")/kustomize/stage
  mkdir -p "$KUBERNETES/stages"
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    cp "$kwok/$stage.yaml" "$KUBERNETES/stages/"
  done
  touch "$KUBERNETES/.complete"
  say "tools.sh: control plane built in $(elapsed "$started")"
}

# The CRDs of the kinds the chart may render: scripts/control-plane.sh installs them, build_schemas validates by them.
build_crds() {
  [[ -f $CRDS/.complete ]] && return 0
  local po keda gwapi kind
  po=$(mod_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")/example/prometheus-operator-crd
  keda=$(mod_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")/config/crd/bases
  gwapi=$(mod_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")/config/crd/standard
  rm -rf "$CRDS"
  mkdir -p "$CRDS"
  cp "$po/monitoring.coreos.com_servicemonitors.yaml" "$po/monitoring.coreos.com_prometheusrules.yaml" \
    "$keda/keda.sh_scaledobjects.yaml" "$CRDS/"
  for kind in gatewayclasses gateways httproutes referencegrants; do
    cp "$gwapi/gateway.networking.k8s.io_$kind.yaml" "$CRDS/"
  done
  touch "$CRDS/.complete"
}

build_schemas() {
  [[ -f $SCHEMAS/.complete ]] && return 0
  build_yaml2json
  build_crds
  local started k8s crd crds=()
  started=$(now_ms)
  say "tools.sh: generating Kubernetes $KUBE_RELEASE and CRD JSON schemas"
  k8s=$(mod_dir "k8s.io/kubernetes@$KUBE_RELEASE")
  for crd in "$CRDS"/*.yaml; do crds+=(--crd "$crd"); done
  rm -rf "$SCHEMAS"
  node "$SCRIPTS_DIR/k8s-schemas.mjs" "$SCHEMAS" --yaml2json "$YAML2JSON" --openapi "$k8s/api/openapi-spec/v3" "${crds[@]}"
  touch "$SCHEMAS/.complete"
  say "tools.sh: schemas ready in $(elapsed "$started")"
}

print_env() {
  printf 'export PARLEY_HELM=%q\n' "$HELM"
  printf 'export PARLEY_K6=%q\n' "$K6"
  printf 'export PARLEY_KUBECONFORM=%q\n' "$KUBECONFORM"
  printf 'export PARLEY_YAML2JSON=%q\n' "$YAML2JSON"
  printf 'export PARLEY_KUBERNETES=%q\n' "$KUBERNETES"
  printf 'export PARLEY_CRDS=%q\n' "$CRDS"
  printf 'export PARLEY_SCHEMAS=%q\n' "$SCHEMAS"
  printf 'export PARLEY_SEAWEEDFS=%q\n' "$SEAWEEDFS"
  printf 'export PARLEY_CENTRIFUGO=%q\n' "$CENTRIFUGO"
}

main() {
  local what=${1:-all}
  mkdir -p "$TOOLS"
  case $what in
  all)
    build_helm
    build_k6
    build_kubeconform
    build_yaml2json
    build_kubernetes
    build_crds
    build_schemas
    build_seaweedfs
    ;;
  helm) build_helm ;;
  k6) build_k6 ;;
  kubeconform) build_kubeconform ;;
  yaml2json) build_yaml2json ;;
  kubernetes) build_kubernetes ;;
  crds) build_crds ;;
  schemas) build_schemas ;;
  seaweedfs) build_seaweedfs ;;
  centrifugo) build_centrifugo ;;
  env) ;;
  -h | --help | help)
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
    return 0
    ;;
  *)
    say "tools.sh: unknown command '$what' (all|helm|k6|kubeconform|yaml2json|kubernetes|crds|schemas|seaweedfs|centrifugo|env)"
    exit 2
    ;;
  esac
  print_env
}

main "$@"
