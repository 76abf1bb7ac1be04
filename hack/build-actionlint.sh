#!/usr/bin/env bash
# Builds actionlint (the GitHub Actions workflow checker) from its Go module into the VAS cache
# (no binary download); prints its path. `make lint` runs it on .github/workflows/.
set -euo pipefail
ACTIONLINT=${ACTIONLINT_VERSION:-v1.7.12}
CACHE=${VAS_CACHE:-$HOME/.cache/vas}
OUT="$CACHE/actionlint-$ACTIONLINT/bin"
if [ ! -x "$OUT/actionlint" ]; then
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.actionlint.lock"
  flock 9
  if [ ! -x "$OUT/actionlint" ]; then
    echo "building actionlint $ACTIONLINT from its Go module (first run only, ~1 min)" >&2
    mkdir -p "$OUT"
    GOBIN="$OUT" go install -trimpath -ldflags='-s -w' \
      "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT" >&2
  fi
fi
echo "$OUT/actionlint"
