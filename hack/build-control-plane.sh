#!/usr/bin/env bash
# Builds the local Kubernetes control plane from Go modules: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd and kwok. No Docker and no binary
# downloads are needed; only the Go toolchain and the Go module proxy.
#
# Binaries are cached outside the checkout, keyed by version, so a second run is a no-op:
#   ${VAS_CACHE:-~/.cache/vas}/k8s-<version>/bin
# Prints that bin directory on its last line.
set -euo pipefail

K8S=${K8S_VERSION:-v1.34.4}       # k8s.io/kubernetes
STAGING=v0.${K8S#v1.}             # its published k8s.io/* staging modules (v1.34.4 -> v0.34.4)
ETCD=${ETCD_VERSION:-v3.6.16}     # go.etcd.io/etcd/server/v3
KWOK=${KWOK_VERSION:-v0.8.0}      # sigs.k8s.io/kwok
CACHE=${VAS_CACHE:-$HOME/.cache/vas}
BUILD_REV=2                       # bump when the way binaries are built changes
OUT="$CACHE/k8s-$K8S-etcd-$ETCD-kwok-$KWOK-r$BUILD_REV"
BIN="$OUT/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)

have_all() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
  [ -f "$OUT/kwok-stages/pod/fast/pod-ready.yaml" ]
}

if have_all; then
  echo "control plane binaries cached in $BIN" >&2
  echo "$BIN"
  exit 0
fi
# Two callers at once (a test run beside `make demo`) would race on the same files: the
# second waits for the first and then finds everything built.
mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock 9
if have_all; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "go toolchain not found (apt-get install golang-go)" >&2; exit 1; }
mkdir -p "$OUT/mod" "$BIN"
cd "$OUT/mod"
started=$(date +%s)
echo "building the control plane from Go modules into $BIN (first run only, ~8 min on 2 cores)" >&2

# k8s.io/kubernetes pins each staging module at v0.0.0 with a local replace; a consumer must
# replace each with its published version.
{
  printf 'module vaslocalcontrolplane\n\ngo 1.24\n\nrequire k8s.io/kubernetes %s\n' "$K8S"
  for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
           cloud-provider cluster-bootstrap code-generator component-base component-helpers \
           controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation \
           endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy \
           kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission \
           sample-apiserver sample-cli-plugin sample-controller; do
    echo "replace k8s.io/$m => k8s.io/$m $STAGING"
  done
} > go.mod
# Every command built below must be imported here before `go mod tidy`, or go.sum lacks its deps.
cat > tools.go <<'EOM'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOM
go get "go.etcd.io/etcd/server/v3@$ETCD" >&2
go mod tidy >&2

# Stamp the version the binaries report (`kubectl version`, /version); a plain `go build`
# would report v0.0.0-master.
MINOR=${K8S#v1.}; MINOR=${MINOR%%.*}
VERSION_LDFLAGS="-X k8s.io/component-base/version.gitVersion=$K8S \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR \
  -X k8s.io/component-base/version.gitTreeState=clean \
  -X k8s.io/client-go/pkg/version.gitVersion=$K8S"
build() { # name package
  [ -x "$BIN/$1" ] && return 0
  go build -trimpath -ldflags="-s -w $VERSION_LDFLAGS" -o "$BIN/$1.tmp" "$2" >&2
  mv "$BIN/$1.tmp" "$BIN/$1"
}
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubectl k8s.io/kubernetes/cmd/kubectl
build etcd go.etcd.io/etcd/server/v3
# kwok pins newer k8s.io modules than the apiserver above, so it is built on its own.
if [ ! -x "$BIN/kwok" ]; then
  GOBIN="$OUT/gobin" go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK" >&2
  mv "$OUT/gobin/kwok" "$BIN/kwok"
fi
# kwok's pod/node lifecycle stages ship in its module; keep a copy beside the binaries.
mkdir -p "$OUT/kwok-stages"
cp -r "$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK/kustomize/stage/." "$OUT/kwok-stages/"
chmod -R u+w "$OUT/kwok-stages"
echo "built in $(( $(date +%s) - started )) s" >&2
echo "$BIN"
