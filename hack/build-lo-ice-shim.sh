#!/usr/bin/env bash
# Builds hack/lo_ice_shim.c once into the VAS cache and prints the .so path.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="${VAS_CACHE:-$HOME/.cache/vas}/lo_ice_shim-$(sha256sum "$HERE/lo_ice_shim.c" | cut -c1-12).so"
if [ ! -f "$OUT" ]; then
  mkdir -p "$(dirname "$OUT")"
  gcc -shared -fPIC -O2 -Wall -o "$OUT.tmp" "$HERE/lo_ice_shim.c" -ldl
  mv "$OUT.tmp" "$OUT"
fi
echo "$OUT"
