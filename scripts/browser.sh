#!/usr/bin/env bash
# The browser the web client's tests drive: Debian's chromium, installed when missing (as root), never a browser
# download of its own. `scripts/browser.sh ensure` installs it if needed; `scripts/browser.sh path` prints its path
# (the tests read PARLEY_CHROMIUM, default /usr/bin/chromium).
set -euo pipefail
readonly SCRIPT=browser.sh
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
readonly CHROMIUM="${PARLEY_CHROMIUM:-/usr/bin/chromium}"

ensure() {
  [[ -x "$CHROMIUM" ]] && return 0
  apt_install browser chromium fonts-dejavu-core
  [[ -x "$CHROMIUM" ]] || fail browser "chromium was installed but $CHROMIUM does not exist"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  path) echo "$CHROMIUM" ;;
  *)
    echo "usage: scripts/browser.sh [ensure|path]" >&2
    exit 2
    ;;
esac
