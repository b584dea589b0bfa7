#!/usr/bin/env bash
# Real Redis (standalone and a Redis Cluster), PostgreSQL, Apache Kafka (KRaft) and an S3 server (SeaweedFS) for
# Parley's tests and local runs, as plain processes on loopback: no Docker engine on our machines. Installs what is missing
# (Debian packages, as root; Kafka's jars from Maven Central), keeps data and logs under .parley/ at the
# repo root, and is idempotent: `up` with everything running only checks that each service answers.
#
#   scripts/services.sh up|start [svc ...]                     start (default: all), wait until ready, print env
#   scripts/services.sh down|stop [svc ...]                    stop cleanly, wait for the process to exit
#   scripts/services.sh restart [svc ...]                      down then up (a restarted Redis is empty)
#   scripts/services.sh status                                 running/stopped, address and pid of each
#   scripts/services.sh env                                    eval-able exports: eval "$(scripts/services.sh env)"
#
# svc is redis, redis-cluster (3 masters, no replicas; rebuilt empty whenever started), postgres, kafka or s3
# (SeaweedFS, built from the Go module proxy by scripts/tools.sh the first time: about 3 minutes).
#
# Ports, all on 127.0.0.1, each moved by PARLEY_SERVICES_PORT_OFFSET (a whole number, default 0), so that two
# checkouts, or another program, can share a machine; `env` prints the moved addresses, which the tests read:
#   redis 16379, redis-cluster 16380 16381 16382 and their cluster buses 26380 26381 26382,
#   postgres 15432, kafka 19092 and its controller 19093, s3 18333 (and SeaweedFS's own servers on 18334..18342).
# Use the same offset for every command: while services started with one run, the others refuse another.
#
# Progress goes to stderr and the env lines to stdout, so `eval "$(scripts/services.sh up)"` works. A failed
# `up` stops what it started (and nothing that ran before it) and names the service and its log.
set -euo pipefail

readonly SCRIPT=services.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
readonly SERVICES=(redis redis-cluster postgres kafka s3)
# The lowest port is postgres's 15432, the highest the last cluster bus, 26382.
port_offset 15432 26382
readonly REDIS_PORT=$((16379 + OFFSET))
readonly REDIS_CLUSTER_PORTS=($((16380 + OFFSET)) $((16381 + OFFSET)) $((16382 + OFFSET)))
readonly REDIS_CLUSTER_BUS=10000 # each node's cluster bus is on its port + 10000 (Redis's default, set explicitly)
readonly PG_PORT=$((15432 + OFFSET))
readonly KAFKA_PORT=$((19092 + OFFSET))
readonly KAFKA_CONTROLLER_PORT=$((19093 + OFFSET))
readonly S3_PORT=$((18333 + OFFSET)) # and the next 9 ports: scripts/services/s3.sh
readonly HOST=127.0.0.1
readonly KAFKA_READY_TIMEOUT=120

readonly PARLEY="$ROOT/.parley"
readonly REDIS_DIR="$PARLEY/redis"
readonly REDIS_CLUSTER_DIR="$PARLEY/redis-cluster"
readonly KAFKA_DIR="$PARLEY/kafka"
readonly KAFKA_POM="$SCRIPTS_DIR/kafka/pom.xml"
readonly KAFKA_LOG4J="$SCRIPTS_DIR/kafka/log4j2.xml"

IS_ROOT=false
[[ $(id -u) -eq 0 ]] && IS_ROOT=true
readonly IS_ROOT

# stop_pid NAME PID_FILE TIMEOUT LOG PID: a service's process stopped (SIGTERM, SIGKILL after TIMEOUT seconds) and its
# pid file removed; an empty PID means it was not running.
stop_pid() {
  local name=$1 pid_file=$2 timeout=$3 log=$4 pid=$5
  if [[ -n $pid ]]; then terminate "$name" "$pid" "$timeout" "$log"; fi
  rm -f -- "$pid_file"
  say "$name: stopped${pid:+ (was pid $pid)}"
}

# One file per service, each with its <svc>_up and <svc>_down (redis_cluster_up for redis-cluster).
# shellcheck source=scripts/services/redis.sh
. "$SCRIPTS_DIR/services/redis.sh"
# shellcheck source=scripts/services/redis-cluster.sh
. "$SCRIPTS_DIR/services/redis-cluster.sh"
# shellcheck source=scripts/services/postgres.sh
. "$SCRIPTS_DIR/services/postgres.sh"
# shellcheck source=scripts/services/kafka.sh
. "$SCRIPTS_DIR/services/kafka.sh"
# shellcheck source=scripts/services/s3.sh
. "$SCRIPTS_DIR/services/s3.sh"

# ---------------------------------------------------------------------------------------------------
# Commands

redis_url() { printf 'redis://%s:%s' "$HOST" "$REDIS_PORT"; }
redis_cluster_urls() { redis_cluster_addresses redis://; }
database_url() { printf 'postgres://parley:parley@%s:%s/parley' "$HOST" "$PG_PORT"; }
kafka_brokers() { printf '%s:%s' "$HOST" "$KAFKA_PORT"; }
s3_endpoint() { printf 'http://%s:%s' "$HOST" "$S3_PORT"; }

print_env() {
  printf 'export REDIS_URL=%s\n' "$(redis_url)"
  printf 'export REDIS_CLUSTER_URLS=%s\n' "$(redis_cluster_urls)"
  printf 'export DATABASE_URL=%s\n' "$(database_url)"
  printf 'export KAFKA_BROKERS=%s\n' "$(kafka_brokers)"
  printf 'export S3_ENDPOINT=%s\n' "$(s3_endpoint)"
  printf 'export S3_BUCKET=%s\n' "$S3_BUCKET"
  printf 'export S3_REGION=%s\n' "$S3_REGION"
  printf 'export S3_ACCESS_KEY_ID=%s\n' "$S3_ACCESS_KEY"
  printf 'export S3_SECRET_ACCESS_KEY=%s\n' "$S3_SECRET_KEY"
  # The processes, for benchmarks that count their CPU (loadtest/src/cpu.ts); empty when a service is not running.
  printf 'export PARLEY_REDIS_PID=%s\n' "$(redis_pid)"
  pg_find_home
  printf 'export PARLEY_POSTGRES_PID=%s\n' "$(pg_pid)"
  printf 'export PARLEY_KAFKA_PID=%s\n' "$(kafka_pid)"
  printf 'export PARLEY_S3_PID=%s\n' "$(s3_pid)"
}

usage() {
  sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
}

# Validates service names into WANTED; no names means all of them.
WANTED=()
select_services() {
  local name
  WANTED=()
  (($# > 0)) || set -- "${SERVICES[@]}"
  for name in "$@"; do
    case $name in
      redis | redis-cluster | postgres | kafka | s3) WANTED+=("$name") ;;
      *)
        say "services.sh: unknown service '$name' (expected: ${SERVICES[*]})"
        exit 2
        ;;
    esac
  done
}

# Services started with another offset would be looked for on the wrong ports (and a second set started): refuse
# another offset while any of them runs. No record means offset 0 (services started before there was one).
readonly OFFSET_FILE="$PARLEY/port-offset"
check_offset() {
  local recorded=0
  [[ ! -r $OFFSET_FILE ]] || recorded=$(<"$OFFSET_FILE")
  if [[ $recorded != "$OFFSET" &&
    $(PARLEY_SERVICES_PORT_OFFSET=$recorded "${BASH_SOURCE[0]}" status) == *" running "* ]]; then
    say "services.sh: this checkout's services run with PARLEY_SERVICES_PORT_OFFSET=$recorded, not $OFFSET: use that," \
      "or stop them first: PARLEY_SERVICES_PORT_OFFSET=$recorded scripts/services.sh down"
    exit 1
  fi
}

# check_port PORT WHAT: records PORT in TAKEN when another process listens on it.
TAKEN=()
check_port() { if port_open "$1"; then TAKEN+=("$1 ($2)"); fi; }

# Fails, before anything starts, when a port that a wanted service needs is taken (ports held by our own
# running services are not checked: `up` keeps those).
check_ports() {
  local svc port list
  for svc in "${WANTED[@]}"; do
    case $svc in
      redis) [[ -n $(redis_pid) ]] || check_port "$REDIS_PORT" redis ;;
      redis-cluster)
        for port in "${REDIS_CLUSTER_PORTS[@]}"; do
          if [[ -z $(redis_cluster_pid "$port") ]]; then
            check_port "$port" redis-cluster
            check_port $((port + REDIS_CLUSTER_BUS)) "redis-cluster bus of $port"
          fi
        done
        ;;
      postgres)
        [[ ! -e $PARLEY/postgres ]] || pg_resolve_home
        [[ -n $(pg_pid) ]] || check_port "$PG_PORT" postgres
        ;;
      kafka)
        if [[ -z $(kafka_pid) ]]; then
          check_port "$KAFKA_PORT" kafka
          check_port "$KAFKA_CONTROLLER_PORT" "kafka controller"
        fi
        ;;
      s3)
        if [[ -z $(s3_pid) ]]; then
          for port in $(seq "$S3_PORT" $((S3_PORT + 9))); do check_port "$port" s3; done
        fi
        ;;
    esac
  done
  ((${#TAKEN[@]} > 0)) || return 0
  printf -v list '%s, ' "${TAKEN[@]}"
  list=${list%, }
  if ((${#TAKEN[@]} == 1)); then list="port $list is taken by another process"; else list="ports $list are taken"; fi
  say "services.sh: $list: another checkout's services, or something else; stop that," \
    "or move every port with PARLEY_SERVICES_PORT_OFFSET=<n> (e.g. $((OFFSET + 100))). Nothing was started."
  exit 1
}

# What this `up` launched, in order: if it fails, it stops those (newest first) and nothing that ran before
# it, and exits with the original status.
LAUNCHED=()
stop_launched() {
  local status=$? i
  ((status != 0 && ${#LAUNCHED[@]} > 0)) || return 0
  say "services.sh: up failed: stopping what it started: ${LAUNCHED[*]}"
  for ((i = ${#LAUNCHED[@]} - 1; i >= 0; i--)); do ("${LAUNCHED[i]/-/_}_down") || true; done
}

cmd_up() {
  local svc
  select_services "$@"
  check_ports
  printf '%s\n' "$OFFSET" >"$OFFSET_FILE"
  trap stop_launched EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # Kafka's JVM is the slowest to start: launch it first, wait for it last.
  for svc in "${WANTED[@]}"; do [[ $svc != kafka ]] || kafka_start; done
  for svc in "${WANTED[@]}"; do [[ $svc == kafka ]] || "${svc/-/_}_up"; done
  for svc in "${WANTED[@]}"; do [[ $svc != kafka ]] || kafka_up; done
  print_env
}

cmd_down() {
  local svc
  select_services "$@"
  for svc in "${WANTED[@]}"; do "${svc/-/_}_down"; done
}

cmd_status() {
  local pid port
  pid=$(redis_pid)
  status_line redis "$REDIS_PORT" "$pid"
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    pid=$(redis_cluster_pid "$port")
    status_line redis-cluster "$port" "$pid" \
      "bus $((port + REDIS_CLUSTER_BUS))${pid:+, cluster_state:$(redis_cluster_state "$port")}"
  done
  pg_find_bin || true
  pg_find_home
  pid=$(pg_pid)
  status_line postgres "$PG_PORT" "$pid"
  pid=$(kafka_pid)
  status_line kafka "$KAFKA_PORT" "$pid" "controller $KAFKA_CONTROLLER_PORT, Kafka $(kafka_version)"
  status_line s3 "$S3_PORT" "$(s3_pid)" "SeaweedFS, bucket $S3_BUCKET"
  if ((OFFSET != 0)); then printf 'every port moved by PARLEY_SERVICES_PORT_OFFSET=%s\n' "$OFFSET"; fi
}

status_line() {
  local name=$1 port=$2 pid=$3 extra=${4:+(${4})}
  if [[ -n $pid ]]; then
    printf '%-13s running  %s:%-5s  pid %-7s %s\n' "$name" "$HOST" "$port" "$pid" "$extra"
  else
    printf '%-13s stopped  %s:%-5s  %-11s %s\n' "$name" "$HOST" "$port" "-" "$extra"
  fi
}

# Serialises concurrent invocations (parallel test workers restarting services) on fd 9; every process
# started from here closes fd 9 so that no daemon keeps holding the lock.
take_lock() {
  mkdir -p "$PARLEY"
  exec 9>"$PARLEY/.services.lock"
  flock 9
}

main() {
  local command=${1:-}
  (($# > 0)) && shift
  case $command in
    up | start | down | stop | restart | status | env) check_offset ;;
  esac
  case $command in
    up | start)
      take_lock
      cmd_up "$@"
      ;;
    down | stop)
      take_lock
      cmd_down "$@"
      ;;
    restart)
      take_lock
      cmd_down "$@"
      cmd_up "$@"
      ;;
    status) cmd_status ;;
    env) print_env ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
