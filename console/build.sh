#!/usr/bin/env bash
# Builds the web console into dist/, which the rayo binary embeds
# (crates/console). Needs Node 20 and npm; run after changing src/:
#   console/build.sh
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund
mkdir -p dist
npx --no-install esbuild src/main.js --bundle --format=esm --minify --target=es2020 \
    --legal-comments=none --outfile=dist/app.js
cp src/style.css dist/app.css
cp src/index.html dist/index.html
gzip -9 -c dist/app.js | wc -c | awk '{printf "dist/app.js: %d bytes gzipped\n", $1}'
