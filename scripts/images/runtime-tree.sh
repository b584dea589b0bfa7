#!/bin/sh
# Run inside the image build (the Dockerfile's gateway-tree and persister-tree stages), in /app after `tsc -b`:
#   runtime-tree.sh SERVICE WORKSPACE...
# installs SERVICE's production dependencies only and gathers in /out what the service's image runs: the root
# manifest and node_modules, and per WORKSPACE (every workspace SERVICE imports, itself included; charts/test/
# images.test.ts checks the list) its manifest, its build and its own node_modules when npm nested a dependency there.
# uWebSockets.js ships a native binary per platform, arch and Node ABI (~250 MB together); only the one this Node
# loads is kept (the build stages run the same Node as the runtime).
set -eu
service=$1
shift
npm ci --workspace "$service" --omit=dev --ignore-scripts --no-audit --no-fund
mkdir /out
cp -a package.json node_modules /out/
for w in "$@"; do
  mkdir -p "/out/$w"
  cp -a "$w/package.json" "$w/dist" "/out/$w/"
  if [ -d "$w/node_modules" ]; then cp -a "$w/node_modules" "/out/$w/"; fi
done
find /out -name '*.tsbuildinfo' -delete
uws=/out/node_modules/uWebSockets.js
if [ -d "$uws" ]; then
  keep="uws_linux_$(node -p process.arch)_$(node -p process.versions.modules).node"
  test -f "$uws/$keep"
  find "$uws" -name 'uws_*.node' ! -name "$keep" -delete
fi
