#!/usr/bin/env bash
# The browser the web client's tests drive: Debian's chromium, installed when missing (as root), never a browser
# download of its own. `scripts/browser.sh ensure` installs it if needed; `scripts/browser.sh path` prints its path
# (the tests read PARLEY_CHROMIUM, default /usr/bin/chromium).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly CHROMIUM="${PARLEY_CHROMIUM:-/usr/bin/chromium}"
readonly LOG="$root/.parley/install.log"

fail() {
  echo "browser: $*" >&2
  exit 1
}

ensure() {
  if [[ -x "$CHROMIUM" ]]; then
    return 0
  fi
  [[ "$(id -u)" == 0 ]] ||
    fail "needs Debian's chromium at $CHROMIUM and this is not root; install it (sudo apt-get install chromium) and retry"
  command -v apt-get >/dev/null || fail "needs chromium but apt-get is not available on this machine"
  mkdir -p "$(dirname "$LOG")"
  echo "browser: installing Debian's chromium (log: $LOG)"
  local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" update </dev/null >>"$LOG" 2>&1 || fail "apt-get update failed (see $LOG)"
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends chromium fonts-dejavu-core \
    </dev/null >>"$LOG" 2>&1 || fail "apt-get install chromium failed (see $LOG)"
  [[ -x "$CHROMIUM" ]] || fail "chromium was installed but $CHROMIUM does not exist"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  path) echo "$CHROMIUM" ;;
  *)
    echo "usage: scripts/browser.sh [ensure|path]" >&2
    exit 2
    ;;
esac
