#!/usr/bin/env bash
# Starts a real local Kubernetes control plane on loopback, no Docker needed:
# etcd, kube-apiserver (RBAC on), kube-controller-manager, kube-scheduler, and kwok running one
# fake node whose pods get IPs in $VAS_POD_CIDR (on loopback, so a real process can listen at a
# pod's IP). Safe to run twice: a running cluster is left as it is.
#
#   hack/cluster-up.sh STATEDIR        -> STATEDIR/kubeconfig (admin), STATEDIR/*.pid, *.log
#
# Settings (environment): VAS_BIN (binaries; built on demand), VAS_APISERVER_PORT (16443),
# VAS_ETCD_PORT (23790), VAS_ETCD_PEER_PORT (23800), VAS_POD_CIDR (127.1.0.0/24),
# VAS_KUBECONFIG (where the admin kubeconfig goes; STATEDIR/kubeconfig).
# Opt-in, for a real node beside kwok (hack/node-up.sh sets them; unset, nothing changes):
# VAS_APISERVER_ADDR (127.0.0.1): where the API server binds and what it advertises (the
# `kubernetes` Service's endpoint, which real pods must reach) and the kubeconfig's server;
# VAS_REAL_NODES=1: kwok manages only the nodes annotated kwok.x-k8s.io/node=fake (its own
# kwok-node-0), not every node, and the API server reaches kubelets by their InternalIP.
# Stop with hack/cluster-down.sh STATEDIR (by recorded PID, never by process name).
set -euo pipefail
ST=${1:?usage: cluster-up.sh STATEDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${VAS_BIN:-$("$HERE/build-control-plane.sh" | tail -n 1)}
STAGES="$(dirname "$BIN")/kwok-stages"
API_PORT=${VAS_APISERVER_PORT:-16443}
ETCD_PORT=${VAS_ETCD_PORT:-23790}
ETCD_PEER_PORT=${VAS_ETCD_PEER_PORT:-23800}
POD_CIDR=${VAS_POD_CIDR:-127.1.0.0/24}
API_ADDR=${VAS_APISERVER_ADDR:-127.0.0.1}
KWOK_NODES=(--manage-all-nodes)
APISERVER_EXTRA=()
if [ "${VAS_REAL_NODES:-}" = 1 ]; then
  KWOK_NODES=(--manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake)
  APISERVER_EXTRA=(--kubelet-preferred-address-types InternalIP)
fi
KUBECTL="$BIN/kubectl"

mkdir -p "$ST"
ST=$(cd "$ST" && pwd)
export KUBECONFIG=${VAS_KUBECONFIG:-$ST/kubeconfig}
mkdir -p "$(dirname "$KUBECONFIG")"

alive() { [ -f "$ST/$1.pid" ] && kill -0 "$(cat "$ST/$1.pid")" 2>/dev/null; }
if alive kube-apiserver && alive etcd && "$KUBECTL" get --raw /readyz >/dev/null 2>&1; then
  echo "control plane already running: KUBECONFIG=$KUBECONFIG"
  exit 0
fi
# A half-started or crashed earlier run: clear it away before starting afresh.
"$HERE/cluster-down.sh" "$ST" >/dev/null 2>&1 || true

started=$(date +%s%N)
[ -f "$ST/sa.key" ] || {
  openssl genrsa -out "$ST/sa.key" 2048 2>/dev/null
  openssl rsa -in "$ST/sa.key" -pubout -out "$ST/sa.pub" 2>/dev/null
}
[ -f "$ST/tokens.csv" ] || echo "$(openssl rand -hex 24),admin,admin,system:masters" > "$ST/tokens.csv"
chmod 600 "$ST/tokens.csv" "$ST/sa.key"
TOKEN=$(cut -d, -f1 "$ST/tokens.csv")

start() { # name command...
  local name=$1; shift
  "$@" > "$ST/$name.log" 2>&1 &
  echo $! > "$ST/$name.pid"
}
wait_for() { # what command...
  local what=$1; shift
  for _ in $(seq 1 240); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "timed out waiting for $what; logs in $ST" >&2
  return 1
}

start etcd "$BIN/etcd" --data-dir "$ST/etcd-data" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" \
  --listen-metrics-urls "" --quota-backend-bytes 4294967296
start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address "$API_ADDR" --advertise-address "$API_ADDR" --secure-port "$API_PORT" \
  --cert-dir "$ST/certs" --token-auth-file "$ST/tokens.csv" --authorization-mode Node,RBAC \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$ST/sa.pub" --service-account-signing-key-file "$ST/sa.key" \
  --service-cluster-ip-range 10.96.0.0/24 --allow-privileged \
  --enable-priority-and-fairness=false ${APISERVER_EXTRA[@]+"${APISERVER_EXTRA[@]}"}

cat > "$KUBECONFIG" <<EOK
apiVersion: v1
kind: Config
clusters:
- name: vas-local
  cluster: {server: "https://$API_ADDR:$API_PORT", insecure-skip-tls-verify: true}
users:
- name: vas-admin
  user: {token: $TOKEN}
contexts:
- name: vas-local
  context: {cluster: vas-local, user: vas-admin, namespace: default}
current-context: vas-local
EOK
chmod 600 "$KUBECONFIG"
# /readyz answers 500 until every post-start hook ran; kubectl fails on that, curl -s would not.
wait_for kube-apiserver "$KUBECTL" get --raw /readyz

start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$KUBECONFIG" \
  --service-account-private-key-file "$ST/sa.key" --root-ca-file "$ST/certs/apiserver.crt" \
  --use-service-account-credentials=false --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port 0 --controllers '*'
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$KUBECONFIG" \
  --leader-elect=false --bind-address 127.0.0.1 --secure-port 0
# kwok does nothing without stage configs; build-control-plane.sh copied them beside the binaries.
start kwok "$BIN/kwok" --kubeconfig "$KUBECONFIG" "${KWOK_NODES[@]}" \
  --cidr "$POD_CIDR" --node-ip 127.0.0.1 \
  --config "$STAGES/node/fast/node-initialize.yaml" \
  --config "$STAGES/node/heartbeat/node-heartbeat.yaml" \
  --config "$STAGES/pod/fast/pod-ready.yaml" \
  --config "$STAGES/pod/fast/pod-complete.yaml" \
  --config "$STAGES/pod/fast/pod-delete.yaml"
"$KUBECTL" apply -f - >/dev/null <<'EON'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-0}
EON
wait_for "node kwok-node-0 Ready" "$KUBECTL" wait --for=condition=Ready node/kwok-node-0 --timeout=1s
wait_for "default service account" "$KUBECTL" get serviceaccount default -n default
echo "control plane up in $(( ($(date +%s%N) - started) / 1000000 )) ms: KUBECONFIG=$KUBECONFIG"
