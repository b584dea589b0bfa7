#!/usr/bin/env bash
# The whole test suite, as a newcomer runs it (`npm test`): starts the real Redis, PostgreSQL and Kafka the
# integration tests need (installing what is missing), type-checks, lints, then runs every vitest project.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== services"
scripts/services.sh up
eval "$(scripts/services.sh env)"
# Whatever the result, the run ends (after the summary line) by saying what it leaves running and how to stop it.
# shellcheck disable=SC2317 # run by the EXIT trap
services_left_running() {
  local offset=${PARLEY_SERVICES_PORT_OFFSET:+PARLEY_SERVICES_PORT_OFFSET=$PARLEY_SERVICES_PORT_OFFSET }
  echo "== services keep running, for the next run:"
  scripts/services.sh status || true
  scripts/control-plane.sh status || true
  echo "stop them with: ${offset}scripts/services.sh down; ${offset}scripts/control-plane.sh down"
}
trap services_left_running EXIT
scripts/browser.sh ensure
scripts/prometheus.sh ensure # promtool for the alert rule tests (charts/test/alerts.test.ts)

echo "== tools"
# helm, kubeconform, the Kubernetes control plane and schemas for charts/test (built once, then cached per user in
# ~/.cache/parley/tools).
scripts/tools.sh >/dev/null
scripts/images.sh ensure >/dev/null # podman and the Dockerfile's base images for charts/test/containers.test.ts (cached)

echo "== control plane"
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok's simulated nodes for the chart's
# lifecycle tests (charts/test/control-plane.test.ts), built above with the other tools.
scripts/control-plane.sh up >/dev/null

echo "== typecheck"
npm run --silent typecheck

echo "== lint"
npx biome ci .

echo "== tests"
mkdir -p .parley
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.parley/vitest-report.json "$@" || status=$?
# One plain closing line that any CI can read.
# shellcheck disable=SC2016 # JavaScript's template literal, not the shell's
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(".parley/vitest-report.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$status"
