#!/usr/bin/env bash
# Builds what a real local node needs beside the control plane, with no binary download:
#   - kubelet and kube-proxy from the same k8s.io/kubernetes module (and version) as
#     hack/build-control-plane.sh, in a wrapper module of its own next to the control plane's
#   - CoreDNS from its Go module (cluster.local for the node's pods; it runs as a host process)
#   - the pause image from that module's build/pause/linux/pause.c (static gcc), as a
#     docker-archive tar that containerd imports (localhost/vas-pause:3.10)
# and installs the Debian packages the node runs on (containerd, runc, CNI plugins, buildah,
# iptables, gcc) when they are missing. Safe to run again and from two callers at once.
# Prints the node's bin directory on its last line (kubelet, kube-proxy, coredns, pause.tar).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CP_BIN=$("$HERE/build-control-plane.sh" | tail -n 1)   # the control plane (and its wrapper module)
CP_OUT=$(dirname "$CP_BIN")
K8S=${K8S_VERSION:-v1.34.4}
MINOR=${K8S#v1.}; MINOR=${MINOR%%.*}
COREDNS=${COREDNS_VERSION:-v1.12.4}  # github.com/coredns/coredns
NODE_REV=1                          # bump when the way the node is built changes
OUT="$CP_OUT/node-r$NODE_REV"
BIN="$OUT/bin"
PAUSE_TAG=localhost/vas-pause:3.10

APT_PACKAGES=(containerd runc containernetworking-plugins buildah iptables gcc libc6-dev)
have_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}
have_all() {
  have_packages && [ -x "$BIN/kubelet" ] && [ -x "$BIN/kube-proxy" ] && [ -x "$BIN/coredns" ] \
    && [ -s "$BIN/pause.tar" ]
}

if have_all; then
  echo "node binaries cached in $BIN" >&2
  echo "$BIN"
  exit 0
fi
exec 9>"$CP_OUT/.node-build.lock"
flock 9
if have_all; then
  echo "$BIN"
  exit 0
fi
started=$(date +%s)

if ! have_packages; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${APT_PACKAGES[*]}" >&2
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${APT_PACKAGES[@]}" >&2
fi

mkdir -p "$OUT/mod" "$BIN"
cd "$OUT/mod"
# The control plane's module pins k8s.io/kubernetes and every staging module; the node's
# module starts from the same go.mod/go.sum so both build from exactly the same versions.
if [ ! -f go.mod ]; then
  cp "$CP_OUT/mod/go.mod" "$CP_OUT/mod/go.sum" .
  sed -i 's/^module vaslocalcontrolplane$/module vaslocalnode/' go.mod
fi
cat > tools.go <<'EOM'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
EOM
go mod tidy >&2
VERSION_LDFLAGS="-X k8s.io/component-base/version.gitVersion=$K8S \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR \
  -X k8s.io/component-base/version.gitTreeState=clean \
  -X k8s.io/client-go/pkg/version.gitVersion=$K8S"
for c in kubelet kube-proxy; do
  [ -x "$BIN/$c" ] && continue
  echo "building $c $K8S from its Go module (first run only)" >&2
  go build -trimpath -ldflags="-s -w $VERSION_LDFLAGS" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2
  mv "$BIN/$c.tmp" "$BIN/$c"
done

# CoreDNS pins its own k8s.io client modules, so it gets a wrapper module of its own, with only
# the plugins hack/node/Corefile uses (the full build compiles every cloud SDK: minutes more).
if [ ! -x "$BIN/coredns" ]; then
  echo "building coredns $COREDNS from its Go module (first run only)" >&2
  mkdir -p "$OUT/coredns-mod"
  (
    cd "$OUT/coredns-mod"
    [ -f go.mod ] || printf 'module vaslocaldns\n\ngo 1.24\n' > go.mod
    cat > main.go <<'EOM'
// CoreDNS with the plugins the local node's Corefile uses, in CoreDNS's own plugin order.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/template"
)

func init() {
	dnsserver.Directives = []string{"bind", "errors", "template", "kubernetes"}
}

func main() { coremain.Run() }
EOM
    go get "github.com/coredns/coredns@$COREDNS" >&2
    go mod tidy >&2
    go build -trimpath -ldflags='-s -w' -o "$BIN/coredns.tmp" . >&2
  )
  mv "$BIN/coredns.tmp" "$BIN/coredns"
fi

# The pause image: the module's own pause.c, static, in an image of one file, user 65535.
if [ ! -s "$BIN/pause.tar" ]; then
  src="$(go env GOMODCACHE)/k8s.io/kubernetes@$K8S/build/pause/linux/pause.c"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  gcc -Os -Wall -Werror -static -DVERSION="$K8S-vas" -o "$work/pause" "$src"
  strip "$work/pause"
  printf '[containers]\n[engine]\nruntime = "runc"\n' > "$work/containers.conf"
  B() { CONTAINERS_CONF="$work/containers.conf" buildah --root "$work/storage" \
          --runroot "$work/run" --storage-driver vfs "$@"; }
  c=$(B from scratch)
  B copy "$c" "$work/pause" /pause >/dev/null
  B config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  B commit -q "$c" "$PAUSE_TAG" >/dev/null
  B push -q "$PAUSE_TAG" "docker-archive:$BIN/pause.tar.tmp:$PAUSE_TAG"
  B rm -a >/dev/null 2>&1 || true
  B rmi -a -f >/dev/null 2>&1 || true
  mv "$BIN/pause.tar.tmp" "$BIN/pause.tar"
fi
echo "node built in $(( $(date +%s) - started )) s" >&2
echo "$BIN"
