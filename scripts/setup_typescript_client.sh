#!/usr/bin/env bash
# Build the TypeScript episode client and its example agent (clients/typescript): npm installs
# the pinned openai package and TypeScript from package-lock.json, tsc compiles src/ to dist/.
# Without node and npm it does nothing: the TypeScript test then fails naming this script.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENT=$ROOT/clients/typescript
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    echo "setup_typescript_client: node or npm is not installed; skipped"
    exit 0
fi
for attempt in 1 2 3; do  # the registry is reachable but may be slow or drop a request
    if (cd "$CLIENT" && npm ci --no-audit --no-fund --loglevel=error); then break; fi
    [[ $attempt -lt 3 ]] || { echo "setup_typescript_client: npm ci failed 3 times" >&2; exit 1; }
    sleep 5
done
(cd "$CLIENT" && npx --no-install tsc -p .)
echo "setup_typescript_client: built $CLIENT/dist ($(node --version))"
