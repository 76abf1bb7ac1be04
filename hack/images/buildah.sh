#!/usr/bin/env bash
# buildah on the VAS image store (the same one as hack/images/podman.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
store=${VAS_CACHE:-$HOME/.cache/vas}/containers
export CONTAINERS_CONF="$here/containers.conf"
exec buildah --root "$store/storage" --runroot "$store/run" --storage-driver overlay "$@"
