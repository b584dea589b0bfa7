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
