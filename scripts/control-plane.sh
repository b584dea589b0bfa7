#!/usr/bin/env bash
# A real Kubernetes control plane for the chart's lifecycle tests (charts/test/control-plane.test.ts), as plain
# processes on loopback: etcd, kube-apiserver (Pod Security admission, RBAC), kube-controller-manager and
# kube-scheduler, built from the Go module proxy by `scripts/tools.sh kubernetes`, and kwok, which plays the
# kubelets of three simulated nodes (zones a, b and c): scheduled pods go Running and Ready, Job pods complete,
# deleted pods go away. No container runs: the controllers, admission and Helm meet real objects, the images are
# never pulled. The CRDs the chart may render (ServiceMonitor, PrometheusRule, ScaledObject, the Gateway API's) are
# installed from their projects' modules. State (etcd data, certificates, logs) lives in .parley/control-plane/;
# like scripts/services.sh it is idempotent: `up` with everything running only checks that each part answers.
#
#   scripts/control-plane.sh up       build what is missing, start what is stopped, wait until ready, print env
#   scripts/control-plane.sh down     stop every part (etcd keeps its data for the next `up`)
#   scripts/control-plane.sh reset    down, then forget the cluster's data (the certificates stay)
#   scripts/control-plane.sh status   running/stopped, address and pid of each part
#   scripts/control-plane.sh env      eval-able exports: PARLEY_KUBECONFIG (cluster-admin) and PARLEY_KUBECTL
#
# Use it like any cluster: `eval "$(scripts/control-plane.sh env)"; $PARLEY_KUBECTL --kubeconfig
# "$PARLEY_KUBECONFIG" get nodes`, or `helm --kubeconfig "$PARLEY_KUBECONFIG" install ...`.
#
# Ports, all on 127.0.0.1, moved like scripts/services.sh's by PARLEY_SERVICES_PORT_OFFSET: etcd 12379 (peers
# 12380), kube-apiserver 16443, kube-controller-manager 16444, kube-scheduler 16445, kwok 16446.
set -euo pipefail

readonly SCRIPT=control-plane.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
port_offset 12379 16446
readonly ETCD_PORT=$((12379 + OFFSET)) ETCD_PEER_PORT=$((12380 + OFFSET))
readonly APISERVER_PORT=$((16443 + OFFSET)) CONTROLLER_MANAGER_PORT=$((16444 + OFFSET))
readonly SCHEDULER_PORT=$((16445 + OFFSET)) KWOK_PORT=$((16446 + OFFSET))
readonly PARTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
readonly NODES=(a b c)
readonly SERVICE_CIDR=10.96.0.0/16
readonly READY_TIMEOUT=120

readonly DIR="$ROOT/.parley/control-plane"
readonly PKI="$DIR/pki"
readonly ADMIN_KUBECONFIG="$DIR/admin.kubeconfig"
TOOLS_ENV=$("$SCRIPTS_DIR/tools.sh" env)
KUBERNETES=$(sed -n 's/^export PARLEY_KUBERNETES=//p' <<<"$TOOLS_ENV")
CRDS=$(sed -n 's/^export PARLEY_CRDS=//p' <<<"$TOOLS_ENV")
readonly TOOLS_ENV KUBERNETES CRDS

kubectl() { "$KUBERNETES/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

pid_of() { # pid_of PART: the pid of our PART, if it runs (whichever tools cache its binary came from)
  local pid
  pid=$(read_pidfile "$DIR/$1.pid")
  if pid_matches "$pid" "/$1 " "$DIR/"; then printf '%s' "$pid"; fi
}

port_of() {
  case $1 in
    etcd) echo "$ETCD_PORT" ;;
    kube-apiserver) echo "$APISERVER_PORT" ;;
    kube-controller-manager) echo "$CONTROLLER_MANAGER_PORT" ;;
    kube-scheduler) echo "$SCHEDULER_PORT" ;;
    kwok) echo "$KWOK_PORT" ;;
  esac
}

# ---------------------------------------------------------------------------------------------------
# Certificates: one CA; the API server's serving certificate; a client certificate per user. The controller
# manager and the scheduler are the users RBAC's bootstrap roles name; kwok and the tests are cluster-admins.

# cert NAME SUBJECT [EXTENSIONS]: a key and a certificate signed by the CA, once.
cert() {
  local name=$1 subject=$2 extensions=${3:-extendedKeyUsage=clientAuth}
  [[ -s $PKI/$name.crt ]] && return 0
  openssl req -new -newkey rsa:2048 -nodes -subj "$subject" -keyout "$PKI/$name.key" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 \
    -extfile <(printf '%s\n' "$extensions") -out "$PKI/$name.crt" 2>/dev/null
  rm -f -- "$PKI/$name.csr"
}

# kubeconfig NAME USER: a kubeconfig for USER's client certificate.
kubeconfig() {
  local file="$DIR/$1.kubeconfig"
  [[ -s $file ]] && return 0
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: parley
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority: $PKI/ca.crt
users:
  - name: $2
    user:
      client-certificate: $PKI/$2.crt
      client-key: $PKI/$2.key
contexts:
  - name: parley
    context: { cluster: parley, user: $2 }
current-context: parley
EOF
  mv "$file.tmp" "$file"
}

ensure_pki() {
  mkdir -p "$PKI"
  if [[ ! -s $PKI/ca.crt ]]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -days 3650 -subj "/CN=parley-control-plane-ca" \
      -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  fi
  cert apiserver "/CN=kube-apiserver" \
    "$(printf '%s\n' "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,IP:${SERVICE_CIDR%.0/*}.1,DNS:localhost,DNS:kubernetes.default.svc")"
  cert admin "/O=system:masters/CN=parley-admin"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  [[ -s $PKI/service-accounts.key ]] || openssl genrsa -out "$PKI/service-accounts.key" 2048 2>/dev/null
  [[ -s $PKI/service-accounts.pub ]] ||
    openssl rsa -in "$PKI/service-accounts.key" -pubout -out "$PKI/service-accounts.pub" 2>/dev/null
  # Rewritten on every `up`: the kubeconfigs name this offset's API server port.
  rm -f -- "$DIR"/*.kubeconfig
  kubeconfig admin admin
  kubeconfig controller-manager controller-manager
  kubeconfig scheduler scheduler
}

# ---------------------------------------------------------------------------------------------------
# Parts

args_of() { # args_of PART: its command line (after the binary)
  local stages=$KUBERNETES/stages
  case $1 in
    etcd)
      printf '%s\n' --name=parley --data-dir="$DIR/etcd" \
        --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster="parley=http://127.0.0.1:$ETCD_PEER_PORT" \
        --quota-backend-bytes=$((1 << 30)) --log-level=warn
      ;;
    kube-apiserver)
      printf '%s\n' --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --client-ca-file="$PKI/ca.crt" --authorization-mode=Node,RBAC \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-account-key-file="$PKI/service-accounts.pub" \
        --service-account-signing-key-file="$PKI/service-accounts.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" --endpoint-reconciler-type=none
      ;;
    kube-controller-manager)
      printf '%s\n' --kubeconfig="$DIR/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$DIR/controller-manager.kubeconfig" \
        --authorization-kubeconfig="$DIR/controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$CONTROLLER_MANAGER_PORT" --leader-elect=false \
        --use-service-account-credentials --service-account-private-key-file="$PKI/service-accounts.key" \
        --root-ca-file="$PKI/ca.crt" --service-cluster-ip-range="$SERVICE_CIDR" \
        --cert-dir="$DIR/controller-manager-certs" --horizontal-pod-autoscaler-sync-period=5s
      ;;
    kube-scheduler)
      printf '%s\n' --kubeconfig="$DIR/scheduler.kubeconfig" \
        --authentication-kubeconfig="$DIR/scheduler.kubeconfig" \
        --authorization-kubeconfig="$DIR/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false \
        --cert-dir="$DIR/scheduler-certs"
      ;;
    kwok)
      printf '%s\n' --kubeconfig="$ADMIN_KUBECONFIG" --manage-all-nodes=false \
        --manage-nodes-with-label-selector=type=kwok --node-ip=127.0.0.1 --cidr=10.244.0.0/16 \
        --server-address="127.0.0.1:$KWOK_PORT" --node-lease-duration-seconds=40
      for stage in "$stages"/*.yaml; do printf -- '--config=%s\n' "$stage"; done
      ;;
  esac
}

# ready PART: true when PART answers its health check.
ready() {
  case $1 in
    etcd) curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"' ;;
    kube-apiserver)
      curl -fsS --max-time 2 --cacert "$PKI/ca.crt" "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1
      ;;
    kube-controller-manager | kube-scheduler)
      curl -fsSk --max-time 2 "https://127.0.0.1:$(port_of "$1")/healthz" >/dev/null 2>&1
      ;;
    kwok) curl -fsS --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz" >/dev/null 2>&1 ;;
  esac
}

LAUNCHED=()
start_part() {
  local part=$1 started pid deadline log="$DIR/$1.log" args=()
  started=$(now_ms)
  pid=$(pid_of "$part")
  if [[ -z $pid ]]; then
    port_open "$(port_of "$part")" &&
      fail "$part" "port $(port_of "$part") is taken by another process: stop it, or move every port with PARLEY_SERVICES_PORT_OFFSET=<n>"
    mapfile -t args < <(args_of "$part")
    LAUNCHED+=("$part")
    # setsid: the part outlives this script and the terminal; fd 9 (the lock) is not inherited.
    setsid "$KUBERNETES/$part" "${args[@]}" </dev/null >>"$log" 2>&1 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$DIR/$part.pid"
  fi
  deadline=$(($(date +%s) + READY_TIMEOUT))
  until ready "$part"; do
    alive "$pid" || fail "$part" "exited before it was ready" "$log"
    (($(date +%s) < deadline)) || fail "$part" "not ready after $READY_TIMEOUT s" "$log"
    sleep 0.2
  done
  say "$part: ready on 127.0.0.1:$(port_of "$part") (pid $pid) in $(elapsed "$started")"
}

stop_part() {
  local pid
  pid=$(pid_of "$1")
  if [[ -n $pid ]]; then
    terminate "$1" "$pid" 30 "$DIR/$1.log"
    say "$1: stopped (was pid $pid)"
  fi
  rm -f -- "$DIR/$1.pid"
}

# What this `up` launched: if it fails, it stops those and nothing that ran before it.
stop_launched() {
  local status=$? i
  ((status != 0 && ${#LAUNCHED[@]} > 0)) || return 0
  say "$SCRIPT: up failed: stopping what it started: ${LAUNCHED[*]}"
  for ((i = ${#LAUNCHED[@]} - 1; i >= 0; i--)); do stop_part "${LAUNCHED[i]}" || true; done
}

# ---------------------------------------------------------------------------------------------------
# Cluster contents: the CRDs and the simulated nodes.

apply_crds() {
  kubectl apply --server-side --force-conflicts -f "$CRDS" >/dev/null
  kubectl wait --for=condition=Established --timeout=60s crd --all >/dev/null
}

# Three nodes in three zones, enough room for every scenario; kwok marks them Ready and renews their Leases (the
# heartbeat the node lifecycle controller watches: without it, nodes go NotReady after 50 s and their pods with them).
ensure_nodes() {
  local zone
  for zone in "${NODES[@]}"; do
    kubectl apply --server-side -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-$zone
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-$zone
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-$zone
status:
  allocatable: { cpu: "16", memory: 64Gi, pods: "110" }
  capacity: { cpu: "16", memory: 64Gi, pods: "110" }
EOF
  done
  kubectl wait --for=condition=Ready --timeout=60s node -l type=kwok >/dev/null ||
    fail kwok "the simulated nodes did not go Ready" "$DIR/kwok.log"
}

# ---------------------------------------------------------------------------------------------------
# Commands

print_env() {
  printf 'export PARLEY_KUBECONFIG=%q\n' "$ADMIN_KUBECONFIG"
  printf 'export PARLEY_KUBECTL=%q\n' "$KUBERNETES/kubectl"
}

# Parts started with another offset listen elsewhere and hold etcd's data: refuse another offset while any runs.
check_offset() {
  local recorded=0 part
  [[ ! -r $DIR/port-offset ]] || recorded=$(<"$DIR/port-offset")
  [[ $recorded != "$OFFSET" ]] || return 0
  for part in "${PARTS[@]}"; do
    [[ -z $(pid_of "$part") ]] ||
      fail "$SCRIPT" "the control plane runs with PARLEY_SERVICES_PORT_OFFSET=$recorded, not $OFFSET: use that, or stop it first: PARLEY_SERVICES_PORT_OFFSET=$recorded scripts/control-plane.sh down"
  done
}

cmd_up() {
  local part started
  started=$(now_ms)
  check_offset
  printf '%s\n' "$OFFSET" >"$DIR/port-offset"
  "$SCRIPTS_DIR/tools.sh" kubernetes >/dev/null
  "$SCRIPTS_DIR/tools.sh" crds >/dev/null
  ensure_pki
  trap stop_launched EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  for part in "${PARTS[@]}"; do
    start_part "$part"
    [[ $part != kube-apiserver ]] || apply_crds
  done
  ensure_nodes
  say "$SCRIPT: control plane ready in $(elapsed "$started"): kubeconfig $ADMIN_KUBECONFIG"
  print_env
}

cmd_down() {
  local i
  for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do stop_part "${PARTS[i]}"; done
}

cmd_status() {
  local part pid
  for part in "${PARTS[@]}"; do
    pid=$(pid_of "$part")
    if [[ -n $pid ]]; then
      printf '%-24s running  127.0.0.1:%-5s  pid %s\n' "$part" "$(port_of "$part")" "$pid"
    else
      printf '%-24s stopped  127.0.0.1:%-5s  -\n' "$part" "$(port_of "$part")"
    fi
  done
}

main() {
  local command=${1:-}
  mkdir -p "$DIR"
  case $command in
    up | down | reset)
      exec 9>"$DIR/.lock"
      flock 9
      ;;
  esac
  case $command in
    up) cmd_up ;;
    down) cmd_down ;;
    reset)
      cmd_down
      rm -rf -- "$DIR/etcd"
      ;;
    status) cmd_status ;;
    env) print_env ;;
    -h | --help | help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" ;;
    *)
      say "$SCRIPT: unknown command '$command' (up|down|reset|status|env; help for more)"
      exit 2
      ;;
  esac
}

main "$@"
