#!/usr/bin/env bash
# The whole test suite, as a newcomer runs it (`npm test`): starts the real Redis, PostgreSQL and Kafka the
# integration tests need (installing what is missing), type-checks, lints, then runs every vitest project.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== services"
scripts/services.sh up
eval "$(scripts/services.sh env)"
scripts/browser.sh ensure
scripts/prometheus.sh ensure # promtool for the alert rule tests (charts/test/alerts.test.ts)

echo "== tools"
# helm, kubeconform and the Kubernetes schemas for charts/test (built once, then cached per user in ~/.cache/parley/tools).
scripts/tools.sh >/dev/null

echo "== typecheck"
npm run --silent typecheck

echo "== lint"
npx biome ci .

echo "== tests"
mkdir -p .parley
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.parley/vitest-report.json "$@" || status=$?
# One plain closing line that any CI can read.
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(".parley/vitest-report.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$status"
