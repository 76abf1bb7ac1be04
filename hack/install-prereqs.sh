#!/usr/bin/env bash
# Installs what VAS needs on a fresh Debian machine, and nothing twice:
#   - Debian packages (Janus, GStreamer RTSP server for test cameras, Redis, openssl, iproute2)
#   - the Python virtualenv in .venv with VAS and its dev tools (re-installed when
#     pyproject.toml changes)
#   - the Kubernetes control plane binaries, built from Go modules into ~/.cache/vas
# Safe to run again: each step checks first and skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  ca-certificates openssl iproute2 procps
  janus
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-rtsp gstreamer1.0-x
  gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0
  # browser tests and the viewer's janus.js; gcc builds the loopback-ICE test shim
  redis-server
  chromium libjs-janus-gateway libjs-webrtc-adapter gcc libc6-dev
  nmap  # only bench-sweep uses it, as the yardstick
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "VAS needs Python 3.11 or newer as $PYTHON" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat .venv/.vas-installed 2>/dev/null)" != "$stamp" ]; then
  echo "installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  echo "$stamp" > .venv/.vas-installed
fi

hack/build-control-plane.sh >/dev/null
hack/build-helm.sh >/dev/null
