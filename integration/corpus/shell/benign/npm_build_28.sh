#!/bin/sh
set -e
cd /app
npm ci --no-audit --no-fund
npm run lint
npm run build
npm prune --omit=dev
rm -rf /root/.npm /tmp/*
du -sh node_modules dist
