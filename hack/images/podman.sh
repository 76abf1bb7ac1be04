#!/usr/bin/env bash
# podman on the VAS image store (${VAS_CACHE:-~/.cache/vas}/containers), where
# hack/build-images.sh builds localhost/vas:dev, localhost/vas-gateway:dev, localhost/vas-redis:dev.
#   hack/images/podman.sh images
#   hack/images/podman.sh run --rm localhost/vas:dev python -m vas_operator --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
store=${VAS_CACHE:-$HOME/.cache/vas}/containers
export CONTAINERS_CONF="$here/containers.conf"
exec podman --root "$store/storage" --runroot "$store/run" --tmpdir "$store/run/libpod" \
  --storage-driver overlay "$@"
