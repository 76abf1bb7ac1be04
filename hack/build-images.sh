#!/usr/bin/env bash
# Builds the VAS images with no Docker engine and no registry (`make images`):
#   localhost/vas:dev          operator and facade (Dockerfile)
#   localhost/vas-gateway:dev  Debian's Janus 1.1 + config templates + render.py (janus-image/)
#   localhost/vas-redis:dev    Debian's redis-server 7 for the chart (hack/images/redis/)
# from a Debian base made by mmdebstrap (minbase, the mirrors apt uses here), with buildah
# (--isolation=chroot) into the image store ${VAS_CACHE:-~/.cache/vas}/containers, which
# hack/images/podman.sh runs. Each image is also written as a docker-archive that
# `ctr -n k8s.io images import` and `podman load` accept:
#   ${VAS_IMAGES_DIR:-.vas/images}/{vas,gateway,redis}.tar   (+ .inputs: the hash it was built from)
# An image whose inputs (its Dockerfile and context, the base) are unchanged is not rebuilt,
# and its tar is not rewritten. The base tarball is cached in ~/.cache/vas/images, keyed by
# its packages, mirrors and the ISO week (VAS_BASE_DATE; weekly security updates).
#
#   hack/build-images.sh [vas] [gateway] [redis]     # default: all three
# Prints the images directory on its last line. Safe to run concurrently (flock).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE=${VAS_CACHE:-$HOME/.cache/vas}
OUT=${VAS_IMAGES_DIR:-.vas/images}
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
TAG=${VAS_IMAGE_TAG:-dev}
SUITE=bookworm
BASE_DATE=${VAS_BASE_DATE:-$(date -u +%G-W%V)}
BASE_PACKAGES=(ca-certificates)
# merged /usr made by mmdebstrap's hook, not by the usrmerge package (which drags in perl)
BASE_HOOK=/usr/share/mmdebstrap/hooks/merged-usr
BUILD_REV=1 # bump when the way images are built changes (rebuilds all of them)
# Documentation, manuals and translations stay out of every image (also of packages installed
# later by the Dockerfiles: mmdebstrap writes these into /etc/dpkg/dpkg.cfg.d/).
DPKG_OPTS=(
  'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*'
  'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright'
  'path-exclude=/usr/share/locale/*' 'path-exclude=/usr/share/lintian/*'
)
PODMAN="$ROOT/hack/images/podman.sh"
BUILDAH="$ROOT/hack/images/buildah.sh"
# pip in a build checks certificates against the host's CA bundle (a TLS-inspecting proxy's
# CA is in there, not in pip's own bundle)
HOST_CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
CA_ARGS=()
[ -f "$HOST_CA" ] && CA_ARGS=(--build-arg PIP_CERT=/run/vas-build-ca.crt --volume "$HOST_CA:/run/vas-build-ca.crt:ro")

ALL=(vas gateway redis)
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=("${ALL[@]}")
for w in "${WANT[@]}"; do
  case " ${ALL[*]} " in *" $w "*) ;; *) echo "unknown image: $w (one of: ${ALL[*]})" >&2; exit 2 ;; esac
done

log() { echo "build-images: $*" >&2; }

# --- tools (Debian packages), idempotent ------------------------------------------------------
missing=()
for pkg in podman buildah runc mmdebstrap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- one build at a time (a test run beside `make images` shares the store and the base) -------
mkdir -p "$CACHE/images" "$OUT"
exec 9>"$CACHE/.images.lock"
if ! flock -n 9; then
  log "waiting for another image build to finish"
  flock 9
fi
started=$SECONDS

# --- the Debian base ------------------------------------------------------------------------
mapfile -t SOURCES < <(python3 hack/images/debian_sources.py "$SUITE")
BASE_KEY=$(printf '%s\n' "rev=$BUILD_REV" "$SUITE" "$BASE_DATE" "${BASE_PACKAGES[@]}" "$BASE_HOOK" \
  "${DPKG_OPTS[@]}" "${SOURCES[@]}" | sha256sum | cut -c1-12)
BASE_TAR="$CACHE/images/base-$SUITE-$BASE_DATE-$BASE_KEY.tar"
BASE_REF="localhost/vas-base:$SUITE-$BASE_KEY"
if [ ! -s "$BASE_TAR" ]; then
  t=$SECONDS
  log "mmdebstrap $SUITE minbase (+${BASE_PACKAGES[*]}) from ${SOURCES[*]}"
  dpkgopts=(); for o in "${DPKG_OPTS[@]}"; do dpkgopts+=(--dpkgopt="$o"); done
  mmdebstrap --quiet --variant=minbase --hook-dir="$BASE_HOOK" --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" \
    "${dpkgopts[@]}" --aptopt='APT::Install-Recommends "false"' \
    --format=tar "$SUITE" "$CACHE/images/.partial-base.tar" "${SOURCES[@]}" >&2
  mv "$CACHE/images/.partial-base.tar" "$BASE_TAR"
  # keep only the newest base tarball
  find "$CACHE/images" -maxdepth 1 -type f -name "base-$SUITE-*.tar" ! -path "$BASE_TAR" -delete
  log "base tarball $(du -h "$BASE_TAR" | cut -f1) in $((SECONDS - t)) s"
fi
if ! "$PODMAN" image exists "$BASE_REF"; then
  t=$SECONDS
  "$PODMAN" import --quiet --change 'CMD ["/bin/bash"]' "$BASE_TAR" "$BASE_REF" >/dev/null
  log "base image $BASE_REF imported in $((SECONDS - t)) s"
  # older bases: untagged now, removed with the images built on them (prune below)
  "$PODMAN" images --filter reference=localhost/vas-base --format '{{.Repository}}:{{.Tag}}' \
    | grep -vxF "$BASE_REF" | xargs -r -n1 "$PODMAN" untag >/dev/null 2>&1 || true
fi

# --- the images -----------------------------------------------------------------------------
# inputs_hash FILE_OR_DIR...: what an image is built from (no caches, no build leftovers)
inputs_hash() {
  {
    echo "rev=$BUILD_REV base=$BASE_KEY"
    find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 \
      | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
}

label_of() {
  "$PODMAN" image inspect --format '{{index .Config.Labels "io.vas.inputs"}}' "$1" 2>/dev/null || true
}

# build NAME REF CONTEXT CONTAINERFILE INPUT...
build() {
  local name=$1 ref=$2 context=$3 file=$4; shift 4
  local hash tar="$OUT/$name.tar" t=$SECONDS
  hash=$(inputs_hash "$@")
  if [ "$(label_of "$ref")" = "$hash" ]; then
    log "$ref is up to date ($hash)"
  elif [ -s "$tar" ] && [ "$(cat "$tar.inputs" 2>/dev/null)" = "$hash" ]; then
    "$PODMAN" load --quiet -i "$tar" >/dev/null
    log "$ref loaded from $tar in $((SECONDS - t)) s"
  else
    log "building $ref from $file ($hash)"
    "$BUILDAH" bud --quiet --isolation=chroot --pull=never --layers \
      --build-arg "BASE_IMAGE=$BASE_REF" ${CA_ARGS[@]+"${CA_ARGS[@]}"} \
      --label "io.vas.inputs=$hash" \
      -f "$file" -t "$ref" "$context" >/dev/null
    log "built $ref in $((SECONDS - t)) s"
  fi
  if [ ! -s "$tar" ] || [ "$(cat "$tar.inputs" 2>/dev/null)" != "$hash" ]; then
    t=$SECONDS
    rm -f "$tar.tmp"
    "$PODMAN" save --quiet --format docker-archive -o "$tar.tmp" "$ref"
    mv "$tar.tmp" "$tar"
    echo "$hash" >"$tar.inputs"
    log "wrote $tar in $((SECONDS - t)) s"
  fi
}

for w in "${WANT[@]}"; do
  case $w in
    vas)
      build vas "localhost/vas:$TAG" . Dockerfile \
        Dockerfile .dockerignore pyproject.toml README.md operator api core ;;
    gateway)
      build gateway "localhost/vas-gateway:$TAG" janus-image janus-image/Dockerfile janus-image ;;
    redis)
      build redis "localhost/vas-redis:$TAG" hack/images/redis hack/images/redis/Containerfile \
        hack/images/redis ;;
  esac
done
# replaced images and their layers (the layers of the current ones stay: the build cache)
"$PODMAN" image prune --force >/dev/null 2>&1 || true

log "done in $((SECONDS - started)) s:"
for w in "${WANT[@]}"; do
  case $w in vas) ref=localhost/vas:$TAG ;; *) ref=localhost/vas-$w:$TAG ;; esac
  size=$("$PODMAN" image inspect --format '{{.Size}}' "$ref")
  printf '  %-28s %4d MB   %s %s\n' "$ref" $((size / 1000000)) "$OUT/$w.tar" \
    "$(du -h "$OUT/$w.tar" | cut -f1)" >&2
done
echo "$OUT"
