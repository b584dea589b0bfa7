# Helpers shared by scripts/*.sh; sourced, never run. The sourcing script sets SCRIPT (its name in messages) first;
# this sets SCRIPTS_DIR and ROOT (the repository root) from where it lies. Progress and errors go to stderr.
# shellcheck shell=bash

SCRIPTS_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPTS_DIR/.." && pwd -P)
readonly SCRIPTS_DIR ROOT

say() { printf '%s\n' "$*" >&2; }

# fail WHAT MESSAGE [LOGFILE]: names what failed and its log, shows the log's tail, exits non-zero.
fail() {
  local what=$1 message=$2 log=${3:-}
  say "$SCRIPT: $what: $message"
  if [[ -n $log ]]; then
    say "$SCRIPT: $what: log: $log"
    if [[ -r $log ]]; then
      say "----- last 40 lines of $log -----"
      tail -n 40 -- "$log" >&2 || true
      say "-----"
    fi
  fi
  exit 1
}

now_ms() { date +%s%3N; }

elapsed() { # elapsed START_MS -> "1.2 s"
  local ms=$(($(now_ms) - $1))
  printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}

APT_UPDATED=false
# apt_install WHAT PACKAGE...: installs those of the Debian packages that are missing, non-interactively, as root
# only (otherwise it fails with the command to run), logging to .parley/install.log. Packages start no service:
# the tests run their own servers, on their own ports.
apt_install() {
  local what=$1 package missing=() log="$ROOT/.parley/install.log" started policy=/usr/sbin/policy-rc.d
  shift
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  ((${#missing[@]} > 0)) || return 0
  if [[ $(id -u) -ne 0 ]]; then
    fail "$what" "needs the Debian package(s) ${missing[*]} and this is not root; install them (sudo apt-get install ${missing[*]}) and retry"
  fi
  command -v apt-get >/dev/null || fail "$what" "needs ${missing[*]} but apt-get is not available on this machine"
  mkdir -p "$ROOT/.parley"
  started=$(now_ms)
  say "$what: installing Debian package(s): ${missing[*]} (log: $log)"
  local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  if ! $APT_UPDATED; then
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" update </dev/null >>"$log" 2>&1 9>&- ||
      fail "$what" "apt-get update failed" "$log"
    APT_UPDATED=true
  fi
  # policy-rc.d exit 101: maintainer scripts start no daemon (a placed file of the machine's own is left alone).
  local placed=false
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && placed=true
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null >>"$log" 2>&1 9>&- ||
    status=$?
  if $placed; then rm -f -- "$policy"; fi
  ((status == 0)) || fail "$what" "apt-get install ${missing[*]} failed" "$log"
  say "$what: installed ${missing[*]} in $(elapsed "$started")"
}

# port_offset LOWEST HIGHEST: sets OFFSET from PARLEY_SERVICES_PORT_OFFSET (a whole number, default 0), the shift
# that every script applies to all its ports, refusing one that would move LOWEST..HIGHEST out of 1024..65535.
port_offset() {
  OFFSET=${PARLEY_SERVICES_PORT_OFFSET:-0}
  if [[ ! $OFFSET =~ ^(0|-?[1-9][0-9]{0,4})$ ]] || ((OFFSET < 1024 - $1 || OFFSET > 65535 - $2)); then
    say "$SCRIPT: PARLEY_SERVICES_PORT_OFFSET=$OFFSET: expected a whole number from $((1024 - $1)) to" \
      "$((65535 - $2)), so that every port stays within 1024..65535"
    exit 2
  fi
  readonly OFFSET
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when PID is a running process. A zombie counts as gone: daemons are reparented to pid 1, which
# may reap them late (in containers, seconds later).
alive() {
  local stat
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# True when PID is a live process whose command line contains every PATTERN (guards against reused pids).
pid_matches() {
  local pid=$1 cmdline pattern
  shift
  alive "$pid" || return 1
  cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
  for pattern in "$@"; do
    [[ $cmdline == *"$pattern"* ]] || return 1
  done
}

read_pidfile() {
  if [[ -r $1 ]]; then head -n 1 -- "$1" 2>/dev/null || true; fi
}

# wait_gone PID SECONDS: true once the process has exited.
wait_gone() {
  local pid=$1 deadline=$(($(date +%s) + $2))
  while alive "$pid"; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.1
  done
}

# terminate SERVICE PID SECONDS LOG: SIGTERM, wait, then SIGKILL as a last resort.
terminate() {
  local service=$1 pid=$2 seconds=$3 log=$4
  kill -TERM "$pid" 2>/dev/null || return 0
  if ! wait_gone "$pid" "$seconds"; then
    say "$service: still running ${seconds} s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || fail "$service" "process $pid would not exit" "$log"
  fi
}
