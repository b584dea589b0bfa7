# shellcheck shell=bash
# Sourced by scripts/services.sh, which sets the ports, folders and helpers used here.
#
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

# PG_HOME of a cluster made earlier, for the commands that only look (status, env).
pg_find_home() { if [[ -z $PG_HOME && -e $PARLEY/postgres ]]; then pg_resolve_home; fi; }

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
