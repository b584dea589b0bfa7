#!/usr/bin/env bash
# Pinned tools for the chart tests, built from the Go module proxy (no GitHub access on our machines) and cached
# per user (${XDG_CACHE_HOME:-~/.cache}/parley/tools, or PARLEY_TOOLS_CACHE) so that only the first run on a machine
# pays for the build, whichever clone it comes from; every entry is named by its version:
#
#   helm         helm.sh/helm/v3, lint and template the chart
#   k6           go.k6.io/k6, the load generator of loadtest/ (its smoke runs in the test command)
#   kubeconform  validates rendered manifests against local JSON schemas (never fetches them)
#   yaml2json    scripts/yaml2json: YAML streams to JSON with sigs.k8s.io/yaml, for the tests and the CRD schemas
#   schemas      JSON schemas generated offline from the OpenAPI v3 spec inside the k8s.io/kubernetes module and from
#                the CRDs shipped in the prometheus-operator and KEDA modules (scripts/k8s-schemas.mjs)
#
#   scripts/tools.sh [all|helm|k6|kubeconform|yaml2json|schemas]   build what is missing (default: all), print the env
#   scripts/tools.sh env      eval-able exports: PARLEY_HELM, PARLEY_K6, PARLEY_KUBECONFORM, PARLEY_YAML2JSON,
#                             PARLEY_SCHEMAS
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
readonly KUBERNETES_VERSION=v1.36.3
readonly PROMETHEUS_OPERATOR_VERSION=v0.85.0
readonly KEDA_VERSION=v2.21.0

readonly SCRIPT=tools.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
readonly TOOLS="${PARLEY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/parley/tools}"
readonly BIN="$TOOLS/bin"
readonly HELM="$BIN/helm-$HELM_VERSION-k8s1.$HELM_K8S_MINOR"
readonly K6="$BIN/k6-$K6_VERSION"
readonly KUBECONFORM="$BIN/kubeconform-$KUBECONFORM_VERSION"
readonly YAML2JSON="$BIN/yaml2json-$(cat "$SCRIPTS_DIR/yaml2json/main.go" "$SCRIPTS_DIR/yaml2json/go.sum" | sha256sum | cut -c1-12)"
readonly SCHEMAS="$TOOLS/schemas/k8s-$KUBERNETES_VERSION-po-$PROMETHEUS_OPERATOR_VERSION-keda-$KEDA_VERSION"


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

build_schemas() {
  [[ -f $SCHEMAS/.complete ]] && return 0
  build_yaml2json
  local started k8s po keda
  started=$(now_ms)
  say "tools.sh: generating Kubernetes $KUBERNETES_VERSION and CRD JSON schemas"
  k8s=$(mod_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")
  po=$(mod_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  keda=$(mod_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
  rm -rf "$SCHEMAS"
  node "$SCRIPTS_DIR/k8s-schemas.mjs" "$SCHEMAS" --yaml2json "$YAML2JSON" \
    --openapi "$k8s/api/openapi-spec/v3" \
    --crd "$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    --crd "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
    --crd "$keda/config/crd/bases/keda.sh_scaledobjects.yaml"
  touch "$SCHEMAS/.complete"
  say "tools.sh: schemas ready in $(elapsed "$started")"
}

print_env() {
  printf 'export PARLEY_HELM=%q\n' "$HELM"
  printf 'export PARLEY_K6=%q\n' "$K6"
  printf 'export PARLEY_KUBECONFORM=%q\n' "$KUBECONFORM"
  printf 'export PARLEY_YAML2JSON=%q\n' "$YAML2JSON"
  printf 'export PARLEY_SCHEMAS=%q\n' "$SCHEMAS"
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
    build_schemas
    ;;
  helm) build_helm ;;
  k6) build_k6 ;;
  kubeconform) build_kubeconform ;;
  yaml2json) build_yaml2json ;;
  schemas) build_schemas ;;
  env) ;;
  -h | --help | help)
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    return 0
    ;;
  *)
    say "tools.sh: unknown command '$what' (all|helm|k6|kubeconform|yaml2json|schemas|env)"
    exit 2
    ;;
  esac
  print_env
}

main "$@"
