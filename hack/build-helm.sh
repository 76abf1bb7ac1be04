#!/usr/bin/env bash
# Builds helm from its Go module into the VAS cache (no binary download); prints its path.
set -euo pipefail
HELM=${HELM_VERSION:-v3.22.0}
OUT="${VAS_CACHE:-$HOME/.cache/vas}/helm-$HELM/bin"
if [ ! -x "$OUT/helm" ]; then
  echo "building helm $HELM from its Go module (first run only, ~1-2 min)" >&2
  mkdir -p "$OUT"
  GOBIN="$OUT" go install -trimpath -ldflags='-s -w' "helm.sh/helm/v3/cmd/helm@$HELM" >&2
fi
echo "$OUT/helm"
