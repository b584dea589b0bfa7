# shellcheck shell=bash
# Sourced by scripts/services.sh, which sets the ports, folders and helpers used here.
#
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

redis_down() { stop_pid redis "$REDIS_PID" 30 "$REDIS_LOG" "$(redis_pid)"; }
