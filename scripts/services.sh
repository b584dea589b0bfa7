#!/usr/bin/env bash
# Real Redis (standalone and a Redis Cluster), PostgreSQL and Apache Kafka (KRaft) for Parley's tests and
# local runs, as plain processes on loopback: no Docker engine on our machines. Installs what is missing
# (Debian packages, as root; Kafka's jars from Maven Central), keeps data and logs under .parley/ at the
# repo root, and is idempotent: `up` with everything running only checks that each service answers.
#
#   scripts/services.sh up|start [svc ...]                     start (default: all), wait until ready, print env
#   scripts/services.sh down|stop [svc ...]                    stop cleanly, wait for the process to exit
#   scripts/services.sh restart [svc ...]                      down then up (a restarted Redis is empty)
#   scripts/services.sh status                                 running/stopped, address and pid of each
#   scripts/services.sh env                                    eval-able exports: eval "$(scripts/services.sh env)"
#
# svc is redis, redis-cluster (3 masters, no replicas; rebuilt empty whenever started), postgres or kafka.
#
# Ports, all on 127.0.0.1, each moved by PARLEY_SERVICES_PORT_OFFSET (a whole number, default 0), so that two
# checkouts, or another program, can share a machine; `env` prints the moved addresses, which the tests read:
#   redis 16379, redis-cluster 16380 16381 16382 and their cluster buses 26380 26381 26382,
#   postgres 15432, kafka 19092 and its controller 19093.
# Use the same offset for every command: while services started with one run, the others refuse another.
#
# Progress goes to stderr and the env lines to stdout, so `eval "$(scripts/services.sh up)"` works. A failed
# `up` stops what it started (and nothing that ran before it) and names the service and its log.
set -euo pipefail

readonly SCRIPT=services.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
readonly SERVICES=(redis redis-cluster postgres kafka)
# The lowest port is postgres's 15432, the highest the last cluster bus, 26382.
port_offset 15432 26382
readonly REDIS_PORT=$((16379 + OFFSET))
readonly REDIS_CLUSTER_PORTS=($((16380 + OFFSET)) $((16381 + OFFSET)) $((16382 + OFFSET)))
readonly REDIS_CLUSTER_BUS=10000 # each node's cluster bus is on its port + 10000 (Redis's default, set explicitly)
readonly PG_PORT=$((15432 + OFFSET))
readonly KAFKA_PORT=$((19092 + OFFSET))
readonly KAFKA_CONTROLLER_PORT=$((19093 + OFFSET))
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

# ---------------------------------------------------------------------------------------------------
# Redis: no persistence, so a restart is an empty Redis (tests use that to simulate data loss).

readonly REDIS_PID="$REDIS_DIR/redis.pid"
readonly REDIS_LOG="$REDIS_DIR/redis.log"

redis_pid() {
  local pid
  pid=$(read_pidfile "$REDIS_PID")
  if pid_matches "$pid" redis-server ":$REDIS_PORT"; then printf '%s' "$pid"; fi
}

redis_ping() { [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

# redis_ensure_installed SERVICE: redis and redis-cluster share Debian's redis-server package.
redis_ensure_installed() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install "$1" redis-server
  fi
}

redis_up() {
  local start pid deadline
  start=$(now_ms)
  redis_ensure_installed redis
  mkdir -p "$REDIS_DIR"
  pid=$(redis_pid)
  if [[ -n $pid ]] && redis_ping; then
    say "redis: running (pid $pid)"
    return
  fi
  if [[ -z $pid ]]; then
    LAUNCHED+=(redis)
    rm -f -- "$REDIS_PID"
    # Errors from before Redis opens its logfile (bad arguments) land in the same file.
    # shellcheck disable=SC2094
    redis-server --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes \
      --save "" --appendonly no --dir "$REDIS_DIR" \
      --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" </dev/null >>"$REDIS_LOG" 2>&1 9>&- ||
      fail redis "redis-server failed to start" "$REDIS_LOG"
  fi
  deadline=$(($(date +%s) + 30))
  until redis_ping; do
    (($(date +%s) < deadline)) || fail redis "not answering PING on $HOST:$REDIS_PORT after 30 s" "$REDIS_LOG"
    sleep 0.05
  done
  say "redis: ready on $HOST:$REDIS_PORT (pid $(redis_pid)) in $(elapsed "$start")"
}

redis_down() {
  local pid
  pid=$(redis_pid)
  if [[ -z $pid ]]; then
    rm -f -- "$REDIS_PID"
    say "redis: stopped"
    return
  fi
  terminate redis "$pid" 30 "$REDIS_LOG"
  rm -f -- "$REDIS_PID"
  say "redis: stopped (was pid $pid)"
}

# ---------------------------------------------------------------------------------------------------
# Redis Cluster: three masters without replicas, each in .parley/redis-cluster/<port>/ (data, nodes.conf,
# pid file, log). No persistence either, so it is not restarted but rebuilt: see redis_cluster_up.

# redis_cluster_pid PORT: the pid of our node on PORT, if it runs.
redis_cluster_pid() {
  local pid
  pid=$(read_pidfile "$REDIS_CLUSTER_DIR/$1/redis.pid")
  if pid_matches "$pid" redis-server ":$1" "[cluster]"; then printf '%s' "$pid"; fi
}

# The pids of the running nodes, space-separated.
redis_cluster_pids() {
  local port pid pids=()
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    pid=$(redis_cluster_pid "$port")
    if [[ -n $pid ]]; then pids+=("$pid"); fi
  done
  printf '%s' "${pids[*]}"
}

redis_cluster_addresses() { # redis_cluster_addresses [PREFIX] -> "PREFIX127.0.0.1:16380,PREFIX127.0.0.1:16381,..."
  local prefix=${1:-} port list=() IFS=,
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do list+=("$prefix$HOST:$port"); done
  printf '%s' "${list[*]}"
}

redis_cluster_ping() { [[ $(redis-cli -h "$HOST" -p "$1" ping 2>/dev/null) == PONG ]]; }

# redis_cluster_state PORT: the node's cluster_state (ok, fail), empty when it does not answer.
redis_cluster_state() {
  redis-cli -h "$HOST" -p "$1" cluster info 2>/dev/null | sed -n 's/^cluster_state:\([a-z]*\).*/\1/p' || true
}

# True when the node on PORT reports cluster_state:ok (every slot is served).
redis_cluster_state_ok() { [[ $(redis_cluster_state "$1") == ok ]]; }

# True when every node runs and reports cluster_state:ok.
redis_cluster_ok() {
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    if [[ -z $(redis_cluster_pid "$port") ]] || ! redis_cluster_state_ok "$port"; then return 1; fi
  done
}

# Fails fast when the node on PORT wrote its pid file and has exited since (bad argument, port taken).
redis_cluster_check_alive() {
  local port=$1 pid
  pid=$(read_pidfile "$REDIS_CLUSTER_DIR/$port/redis.pid")
  if [[ -n $pid ]] && ! alive "$pid"; then
    fail redis-cluster "the node on port $port exited" "$REDIS_CLUSTER_DIR/$port/redis.log"
  fi
}

# Stops the nodes of ours that run and removes the pid files; REDIS_CLUSTER_STOPPED lists the pids.
REDIS_CLUSTER_STOPPED=()
redis_cluster_stop_nodes() {
  local port pid dir
  REDIS_CLUSTER_STOPPED=()
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    dir="$REDIS_CLUSTER_DIR/$port"
    pid=$(redis_cluster_pid "$port")
    if [[ -n $pid ]]; then
      terminate redis-cluster "$pid" 30 "$dir/redis.log"
      REDIS_CLUSTER_STOPPED+=("$pid")
    fi
    rm -f -- "$dir/redis.pid"
  done
}

redis_cluster_up() {
  local start port dir deadline nodes=() create_log="$REDIS_CLUSTER_DIR/create.log"
  start=$(now_ms)
  redis_ensure_installed redis-cluster
  if redis_cluster_ok; then
    say "redis-cluster: running (pids $(redis_cluster_pids))"
    return
  fi
  redis_cluster_stop_nodes
  if ((${#REDIS_CLUSTER_STOPPED[@]} > 0)); then
    say "redis-cluster: a node was down or the cluster not ok: stopped pids ${REDIS_CLUSTER_STOPPED[*]} to rebuild it"
  fi
  LAUNCHED+=(redis-cluster)
  # Without persistence a stopped cluster has lost its data, and reviving the old nodes.conf files (a
  # cluster half created, or missing a node) is more fragile than starting over: rebuild from scratch.
  rm -rf -- "$REDIS_CLUSTER_DIR"
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    dir="$REDIS_CLUSTER_DIR/$port"
    mkdir -p "$dir"
    # Errors from before Redis opens its logfile (bad arguments) land in the same file.
    # shellcheck disable=SC2094
    redis-server --bind "$HOST" --port "$port" --protected-mode yes \
      --save "" --appendonly no --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-port $((port + REDIS_CLUSTER_BUS)) --cluster-node-timeout 5000 --dir "$dir" \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" </dev/null >>"$dir/redis.log" 2>&1 9>&- ||
      fail redis-cluster "redis-server failed to start on port $port" "$dir/redis.log"
    nodes+=("$HOST:$port")
  done
  deadline=$(($(date +%s) + 30))
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    until redis_cluster_ping "$port"; do
      redis_cluster_check_alive "$port"
      (($(date +%s) < deadline)) ||
        fail redis-cluster "not answering PING on $HOST:$port after 30 s" "$REDIS_CLUSTER_DIR/$port/redis.log"
      sleep 0.05
    done
  done
  # TERM=dumb: redis-cli colours its --cluster output on colour terminals, even into a file. Its wait for
  # the nodes to meet has no limit of its own.
  TERM=dumb timeout 60 redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
    </dev/null >>"$create_log" 2>&1 9>&- ||
    fail redis-cluster "redis-cli --cluster create failed or took over 60 s" "$create_log"
  deadline=$(($(date +%s) + 30))
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    until redis_cluster_state_ok "$port"; do
      redis_cluster_check_alive "$port"
      (($(date +%s) < deadline)) ||
        fail redis-cluster "$HOST:$port not reporting cluster_state:ok 30 s after creating the cluster" \
          "$REDIS_CLUSTER_DIR/$port/redis.log"
      sleep 0.1
    done
  done
  say "redis-cluster: ready on $(redis_cluster_addresses) (pids $(redis_cluster_pids)) in $(elapsed "$start")"
}

redis_cluster_down() {
  redis_cluster_stop_nodes
  if ((${#REDIS_CLUSTER_STOPPED[@]} > 0)); then
    say "redis-cluster: stopped (was pids ${REDIS_CLUSTER_STOPPED[*]})"
  else
    say "redis-cluster: stopped"
  fi
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL. It refuses to run as root, so as root it runs as the `postgres` system user of the Debian
# package. That user may not be able to reach the repo (e.g. under /root): the cluster then lives under
# /var/tmp, keyed by the repo path, and .parley/postgres is a symlink to it.

PG_BIN=""
PG_HOME=""

pg_find_bin() {
  local candidate
  candidate=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null | sort -V | tail -n 1)
  [[ -n $candidate ]] && PG_BIN=$(dirname -- "$candidate")
}

pg_ensure_installed() {
  if [[ -z $PG_BIN ]]; then pg_find_bin || true; fi
  if [[ -z $PG_BIN ]]; then
    apt_install postgres postgresql
    pg_find_bin || fail postgres "the postgresql package is installed but no /usr/lib/postgresql/*/bin/postgres was found"
  fi
}

# Runs a PostgreSQL tool as the cluster's owner, from / (initdb and pg_ctl fail in an unreadable cwd).
as_pg() {
  if $IS_ROOT; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

pg_resolve_home() {
  local link="$PARLEY/postgres" fallback
  if [[ -L $link ]]; then
    PG_HOME=$(readlink -- "$link")
  else
    PG_HOME=$link
  fi
  if [[ -d $PG_HOME ]] || ! $IS_ROOT; then
    mkdir -p "$PG_HOME"
    return
  fi
  # First run as root: pick a home the postgres user can reach.
  id postgres >/dev/null 2>&1 || fail postgres "the 'postgres' system user does not exist (reinstall the postgresql package)"
  mkdir -p "$PARLEY"
  if [[ -L $link ]]; then
    : # The symlinked home was removed (e.g. /var/tmp cleaned): recreate it where the link points.
  elif runuser -u postgres -- test -x "$PARLEY" 2>/dev/null; then
    PG_HOME=$link
  else
    fallback="/var/tmp/parley-postgres-$(printf '%s' "$ROOT" | sha256sum | cut -c1-16)"
    PG_HOME=$fallback
    # .parley/postgres did not exist, so a cluster left there belongs to an earlier, deleted .parley:
    # start afresh, unless that cluster is still running (then adopt it rather than pull its data away).
    [[ -n $(pg_pid) ]] || rm -rf -- "$fallback"
    ln -sfn -- "$fallback" "$link"
  fi
  mkdir -p "$PG_HOME"
  chown postgres: "$PG_HOME"
  chmod 700 "$PG_HOME"
}

pg_pid() {
  local pid
  [[ -n $PG_HOME ]] || return 0
  pid=$(read_pidfile "$PG_HOME/data/postmaster.pid")
  if pid_matches "$pid" postgres "$PG_HOME/data"; then printf '%s' "$pid"; fi
}

pg_query_ok() {
  PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -qAt -d "$(database_url)" -c 'select 1' >/dev/null 2>&1
}

pg_init() {
  local log="$PG_HOME/initdb.log"
  say "postgres: initialising a cluster in $PG_HOME/data"
  rm -rf -- "$PG_HOME/data"
  as_pg "$PG_BIN/initdb" -D "$PG_HOME/data" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >"$log" 2>&1 ||
    fail postgres "initdb failed" "$log"
  # Settings that depend on where the checkout is are rewritten on every start (parley.conf).
  printf "\ninclude_if_exists = 'parley.conf'\n" >>"$PG_HOME/data/postgresql.conf"
}

pg_write_conf() {
  local conf="$PG_HOME/data/parley.conf"
  mkdir -p "$PG_HOME/run"
  cat >"$conf" <<EOF
# Written by scripts/services.sh on every start; edits are lost.
listen_addresses = '$HOST'
port = $PG_PORT
max_connections = 200
unix_socket_directories = '$PG_HOME/run'
EOF
  if $IS_ROOT; then chown postgres: "$conf" "$PG_HOME/run"; fi
}

# Creates the `parley` role (superuser, so tests can create databases) and database, if missing.
pg_bootstrap() {
  local log="$PG_HOME/bootstrap.log"
  as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOME/run" -p "$PG_PORT" -U postgres -d postgres \
    >"$log" 2>&1 <<'SQL' || fail postgres "creating role and database 'parley' failed" "$log"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'parley') THEN
    CREATE ROLE parley LOGIN SUPERUSER PASSWORD 'parley';
  END IF;
END
$$;
SELECT 'CREATE DATABASE parley OWNER parley' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'parley')
\gexec
SQL
}

postgres_up() {
  local start pid log
  start=$(now_ms)
  pg_ensure_installed
  pg_resolve_home
  log="$PG_HOME/postgres.log"
  pid=$(pg_pid)
  if [[ -n $pid ]] && pg_query_ok; then
    say "postgres: running (pid $pid)"
    return
  fi
  if [[ -z $pid ]]; then
    LAUNCHED+=(postgres)
    [[ -f $PG_HOME/data/PG_VERSION ]] || pg_init
    pg_write_conf
    # pg_ctl's own messages go to a root-owned file: postgres.log must be created by the server's user.
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -l "$log" -w -t 60 start >"$PG_HOME/pg_ctl.log" 2>&1 9>&-; then
      cat -- "$PG_HOME/pg_ctl.log" >&2 || true
      fail postgres "pg_ctl start failed" "$log"
    fi
  fi
  pg_bootstrap
  "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 30 || fail postgres "pg_isready says not ready" "$log"
  pg_query_ok || fail postgres "cannot run a query as parley on $(database_url)" "$log"
  say "postgres: ready on $HOST:$PG_PORT (pid $(pg_pid)) in $(elapsed "$start")"
}

postgres_down() {
  local pid
  if [[ ! -e $PARLEY/postgres ]]; then
    say "postgres: stopped"
    return
  fi
  pg_find_bin || true
  pg_resolve_home
  pid=$(pg_pid)
  if [[ -z $pid ]]; then
    say "postgres: stopped"
    return
  fi
  [[ -n $PG_BIN ]] || fail postgres "running (pid $pid) but no pg_ctl was found to stop it"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
    terminate postgres "$pid" 30 "$PG_HOME/postgres.log"
  wait_gone "$pid" 30 || fail postgres "process $pid would not exit" "$PG_HOME/postgres.log"
  say "postgres: stopped (was pid $pid)"
}

# ---------------------------------------------------------------------------------------------------
# Kafka: one KRaft node that is both broker and controller, jars from Maven Central (scripts/kafka/pom.xml).

readonly KAFKA_PID="$KAFKA_DIR/kafka.pid"
readonly KAFKA_LOG="$KAFKA_DIR/kafka.log"
readonly KAFKA_CONF="$KAFKA_DIR/server.properties"
readonly KAFKA_LIBS="$KAFKA_DIR/libs"

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM"; }

kafka_pid() {
  local pid
  pid=$(read_pidfile "$KAFKA_PID")
  if pid_matches "$pid" kafka.Kafka "$KAFKA_CONF"; then printf '%s' "$pid"; fi
}

kafka_ensure_runtime() {
  local stamp log="$KAFKA_DIR/mvn.log"
  if ! command -v java >/dev/null; then apt_install kafka default-jre-headless; fi
  stamp="kafka $(kafka_version) pom $(sha256sum <"$KAFKA_POM" | cut -c1-16)"
  if [[ -f $KAFKA_LIBS/.stamp && $(<"$KAFKA_LIBS/.stamp") == "$stamp" ]]; then return; fi
  if ! command -v mvn >/dev/null; then apt_install kafka maven; fi
  say "kafka: resolving Kafka $(kafka_version) jars with Maven (cached in ~/.m2; log: $log)"
  rm -rf -- "$KAFKA_LIBS.tmp"
  mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$KAFKA_LIBS.tmp" </dev/null >"$log" 2>&1 9>&- ||
    fail kafka "mvn dependency:copy-dependencies failed" "$log"
  printf '%s\n' "$stamp" >"$KAFKA_LIBS.tmp/.stamp"
  rm -rf -- "$KAFKA_LIBS"
  mv -- "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

# Rewritten on every start so that a moved checkout still points at its own .parley/.
kafka_write_conf() {
  cat >"$KAFKA_CONF" <<EOF
# Written by scripts/services.sh on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_DIR/data
num.partitions=4
auto.create.topics.enable=false
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

# A cluster id is 16 random bytes in URL-safe base64 without padding; Kafka avoids a leading '-'.
kafka_cluster_id() {
  local file="$KAFKA_DIR/cluster.id" id
  if [[ ! -s $file ]]; then
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    printf '%s\n' "${id/#-/A}" >"$file"
  fi
  head -n 1 -- "$file"
}

kafka_format() {
  local log="$KAFKA_DIR/format.log"
  [[ -f $KAFKA_DIR/data/meta.properties ]] && return
  say "kafka: formatting storage in $KAFKA_DIR/data"
  java -Xmx256m -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool \
    format --ignore-formatted -t "$(kafka_cluster_id)" -c "$KAFKA_CONF" </dev/null >"$log" 2>&1 9>&- ||
    fail kafka "formatting the storage failed" "$log"
}

# Big-endian integers out of the byte array KAFKA_REPLY (decimal bytes).
int16_at() {
  local v=$((KAFKA_REPLY[$1] << 8 | KAFKA_REPLY[$1 + 1]))
  ((v < 32768)) || v=$((v - 65536))
  printf '%d' "$v"
}
int32_at() {
  local v=$((KAFKA_REPLY[$1] << 24 | KAFKA_REPLY[$1 + 1] << 16 | KAFKA_REPLY[$1 + 2] << 8 | KAFKA_REPLY[$1 + 3]))
  ((v < 2147483648)) || v=$((v - 4294967296))
  printf '%d' "$v"
}

# Sends a Metadata v4 request (no topics) and succeeds when the broker lists itself among the live
# brokers: the listener is up, request handling is on and the broker is registered and unfenced.
kafka_probe() {
  local fd size i count node port hostlen racklen found=false
  local -a KAFKA_REPLY
  exec {fd}<>"/dev/tcp/$HOST/$KAFKA_PORT" || return 1
  # size=27 | api_key=3 (Metadata) | api_version=4 | correlation_id=7 | client_id="parley-probe"
  # | topics=[] | allow_auto_topic_creation=false
  printf '\x00\x00\x00\x1b\x00\x03\x00\x04\x00\x00\x00\x07\x00\x0cparley-probe\x00\x00\x00\x00\x00' >&"$fd" ||
    { exec {fd}>&-; return 1; }
  # dd with bs=1 reads exactly what it is asked for, leaving nothing buffered.
  read -ra KAFKA_REPLY < <(timeout 3 dd bs=1 count=4 status=none <&"$fd" | od -An -v -tu1 | tr '\n' ' ') || true
  if ((${#KAFKA_REPLY[@]} != 4)); then exec {fd}>&-; return 1; fi
  size=$(int32_at 0)
  if ((size < 12 || size > 65536)); then exec {fd}>&-; return 1; fi
  read -ra KAFKA_REPLY < <(timeout 3 dd bs=1 count="$size" status=none <&"$fd" | od -An -v -tu1 | tr '\n' ' ') || true
  exec {fd}>&-
  ((${#KAFKA_REPLY[@]} == size)) || return 1
  # correlation_id | throttle_time_ms | brokers: [node_id, host, port, rack] | cluster_id | controller_id | topics
  (($(int32_at 0) == 7)) || return 1
  count=$(int32_at 8)
  i=12
  while ((count-- > 0)); do
    ((i + 10 <= size)) || return 1
    node=$(int32_at "$i")
    hostlen=$(int16_at $((i + 4)))
    i=$((i + 6 + hostlen))
    port=$(int32_at "$i")
    racklen=$(int16_at $((i + 4)))
    i=$((i + 6 + (racklen > 0 ? racklen : 0)))
    if ((node == 1 && port == KAFKA_PORT)); then found=true; fi
  done
  $found
}

kafka_launch() {
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$KAFKA_LOG4J")
  [[ -f $KAFKA_LOG ]] && mv -f -- "$KAFKA_LOG" "$KAFKA_LOG.1"
  rm -f -- "$KAFKA_PID"
  # setsid: the broker outlives the caller's process group (a test runner's, a terminal's). The inner
  # shell writes its own pid, which `exec` hands over to the JVM.
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  setsid bash -c 'printf "%s\n" "$$" >"$1"; shift; exec "$@"' kafka-launch "$KAFKA_PID" \
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF" </dev/null >"$KAFKA_LOG" 2>&1 9>&- &
}

kafka_wait() {
  local start=$1 deadline pid
  deadline=$(($(date +%s) + KAFKA_READY_TIMEOUT))
  until kafka_probe 2>/dev/null; do
    pid=$(read_pidfile "$KAFKA_PID")
    if [[ -n $pid ]] && ! alive "$pid"; then
      fail kafka "the broker exited during startup" "$KAFKA_LOG"
    fi
    if (($(date +%s) >= deadline)); then
      fail kafka "not answering metadata requests on $HOST:$KAFKA_PORT after $KAFKA_READY_TIMEOUT s" "$KAFKA_LOG"
    fi
    sleep 0.25
  done
  say "kafka: ready on $HOST:$KAFKA_PORT (pid $(kafka_pid), Kafka $(kafka_version)) in $(elapsed "$start")"
}

# Starts the broker without waiting, so that Redis and PostgreSQL start while the JVM boots.
KAFKA_STARTED_AT=""
KAFKA_LAUNCHED=false
kafka_start() {
  KAFKA_STARTED_AT=$(now_ms)
  mkdir -p "$KAFKA_DIR"
  [[ -z $(kafka_pid) ]] || return 0
  kafka_ensure_runtime
  kafka_write_conf
  kafka_format
  LAUNCHED+=(kafka)
  KAFKA_LAUNCHED=true
  kafka_launch
}

kafka_up() {
  local pid
  [[ -n $KAFKA_STARTED_AT ]] || kafka_start
  pid=$(kafka_pid)
  if ! $KAFKA_LAUNCHED && [[ -n $pid ]] && kafka_probe 2>/dev/null; then
    say "kafka: running (pid $pid)"
    return
  fi
  kafka_wait "$KAFKA_STARTED_AT"
}

kafka_down() {
  local pid
  pid=$(kafka_pid)
  if [[ -z $pid ]]; then
    rm -f -- "$KAFKA_PID"
    say "kafka: stopped"
    return
  fi
  # SIGTERM is a controlled shutdown; a lone KRaft node takes a few seconds.
  terminate kafka "$pid" 60 "$KAFKA_LOG"
  rm -f -- "$KAFKA_PID"
  say "kafka: stopped (was pid $pid)"
}

# ---------------------------------------------------------------------------------------------------
# Commands

redis_url() { printf 'redis://%s:%s' "$HOST" "$REDIS_PORT"; }
redis_cluster_urls() { redis_cluster_addresses redis://; }
database_url() { printf 'postgres://parley:parley@%s:%s/parley' "$HOST" "$PG_PORT"; }
kafka_brokers() { printf '%s:%s' "$HOST" "$KAFKA_PORT"; }

print_env() {
  printf 'export REDIS_URL=%s\n' "$(redis_url)"
  printf 'export REDIS_CLUSTER_URLS=%s\n' "$(redis_cluster_urls)"
  printf 'export DATABASE_URL=%s\n' "$(database_url)"
  printf 'export KAFKA_BROKERS=%s\n' "$(kafka_brokers)"
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
      redis | redis-cluster | postgres | kafka) WANTED+=("$name") ;;
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
  if [[ -e $PARLEY/postgres ]]; then pg_resolve_home; fi
  pid=$(pg_pid)
  status_line postgres "$PG_PORT" "$pid"
  pid=$(kafka_pid)
  status_line kafka "$KAFKA_PORT" "$pid" "controller $KAFKA_CONTROLLER_PORT, Kafka $(kafka_version)"
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
