# shellcheck shell=bash
# Sourced by scripts/services.sh, which sets the ports, folders and helpers used here.
#
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
