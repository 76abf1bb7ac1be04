#!/usr/bin/env bash
# Starts a real Kubernetes node on this machine, joined to its own local control plane:
#   containerd + runc (Debian) with a CNI bridge whose pod network lives only on this machine
#   (no masquerade), kubelet and kube-proxy (iptables mode) built from the same k8s.io/kubernetes
#   module as the control plane, CoreDNS for cluster.local, and the control plane itself
#   (hack/cluster-up.sh with the API server on the node address, kwok managing only its own fake
#   node, which stays for what needs many fake pods). Safe to run twice: what runs is left alone.
#
#   hack/node-up.sh STATEDIR      -> STATEDIR/kubeconfig (admin), STATEDIR/run/*.pid, logs/
#
# Settings (environment): VAS_NODE_NAME (vas-node), VAS_NODE_IP (10.244.255.1: a /32 added to
# lo; the kubelet refuses 127.x), VAS_NODE_POD_CIDR (10.244.7.0/24, its gateway .1 on the
# bridge vas-cni0), and for the control plane VAS_APISERVER_PORT (36443), VAS_ETCD_PORT (43790),
# VAS_ETCD_PEER_PORT (43800), VAS_POD_CIDR (kwok's fake pods, 127.1.7.0/24).
# One node per machine (fixed kubelet ports and address): a node up from another STATEDIR is
# refused. Stop with hack/node-down.sh STATEDIR (by recorded PID; removes interfaces, iptables
# chains, cgroups, mounts and the host paths the kubelet writes).
set -euo pipefail
ST=${1:?usage: node-up.sh STATEDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
CP_BIN=$("$HERE/build-control-plane.sh" | tail -n 1)
NODE_BIN=$("$HERE/build-node.sh" | tail -n 1)
NODE_NAME=${VAS_NODE_NAME:-vas-node}
NODE_IP=${VAS_NODE_IP:-10.244.255.1}
POD_NET=${VAS_NODE_POD_CIDR:-10.244.7.0/24}
POD_GATEWAY="${POD_NET%.*/*}.1"
BRIDGE=vas-cni0
PAUSE_IMAGE=localhost/vas-pause:3.10
OWNER=/run/vas-node.state     # which STATEDIR the machine's one node belongs to

mkdir -p "$ST"
ST=$(cd "$ST" && pwd)
mkdir -p "$ST"/{run,logs,etc,containerd/root,containerd/state,containerd/opt,cni/net.d,kubelet,kubelet-certs,pod-logs}
export KUBECONFIG="$ST/kubeconfig"
KUBECTL="$CP_BIN/kubectl"
alive() { [ -f "$ST/run/$1.pid" ] && kill -0 "$(cat "$ST/run/$1.pid")" 2>/dev/null; }

exec 9>/run/vas-node.lock
flock 9
if [ -f "$OWNER" ] && [ "$(cat "$OWNER")" != "$ST" ]; then
  other=$(cat "$OWNER")
  if [ -f "$other/run/kubelet.pid" ] && kill -0 "$(cat "$other/run/kubelet.pid")" 2>/dev/null; then
    echo "a node is already up from $other; stop it with hack/node-down.sh $other" >&2
    exit 1
  fi
fi
echo "$ST" > "$OWNER"
started=$(date +%s%N)

render() { # template -> STATEDIR/etc/<name>
  sed -e "s|@STATE@|$ST|g" -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@NODE_NAME@|$NODE_NAME|g" \
      -e "s|@POD_CIDR@|$POD_NET|g" -e "s|@POD_GATEWAY@|$POD_GATEWAY|g" -e "s|@BRIDGE@|$BRIDGE|g" \
      -e "s|@KUBECONFIG@|$KUBECONFIG|g" -e "s|@PAUSE_IMAGE@|$PAUSE_IMAGE|g" \
      "$HERE/node/$1" > "$ST/etc/$1"
}
for f in containerd.toml 10-vas-bridge.conflist kubelet-config.yaml kube-proxy-config.yaml Corefile; do
  render "$f"
done
cp "$ST/etc/10-vas-bridge.conflist" "$ST/cni/net.d/"

# Daemons must not inherit the lock's descriptor (9), or the lock would live as long as they do.
start() { # name command... (a plain command before '&', so $! is the daemon itself)
  local name=$1; shift
  "$@" >> "$ST/logs/$name.log" 2>&1 9>&- &
  echo $! > "$ST/run/$name.pid"
}
wait_for() { # what seconds command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "timed out waiting for $what; logs in $ST/logs" >&2
  return 1
}

# The node address: a /32 on lo (this kernel has no dummy link type).
ip -4 addr show dev lo | grep -q " $NODE_IP/32 " || ip addr add "$NODE_IP/32" dev lo

CTR=(ctr -a "$ST/run/containerd.sock" -n k8s.io)
if ! alive containerd; then
  start containerd containerd --config "$ST/etc/containerd.toml"
  wait_for containerd 20 "${CTR[@]}" version
fi
"${CTR[@]}" images import "$NODE_BIN/pause.tar" >/dev/null

VAS_APISERVER_ADDR="$NODE_IP" VAS_REAL_NODES=1 VAS_BIN="$CP_BIN" VAS_KUBECONFIG="$KUBECONFIG" \
  VAS_APISERVER_PORT=${VAS_APISERVER_PORT:-36443} VAS_ETCD_PORT=${VAS_ETCD_PORT:-43790} \
  VAS_ETCD_PEER_PORT=${VAS_ETCD_PEER_PORT:-43800} VAS_POD_CIDR=${VAS_POD_CIDR:-127.1.7.0/24} \
  "$HERE/cluster-up.sh" "$ST/cp" >/dev/null 9>&-

alive coredns || start coredns "$NODE_BIN/coredns" -conf "$ST/etc/Corefile" -dns.port 53
alive kubelet || start kubelet "$NODE_BIN/kubelet" --config "$ST/etc/kubelet-config.yaml" \
  --kubeconfig "$KUBECONFIG" --root-dir "$ST/kubelet" --cert-dir "$ST/kubelet-certs" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
alive kube-proxy || start kube-proxy "$NODE_BIN/kube-proxy" \
  --config "$ST/etc/kube-proxy-config.yaml" --v=1
wait_for "node $NODE_NAME registered" 60 "$KUBECTL" get node "$NODE_NAME"
"$KUBECTL" wait --for=condition=Ready "node/$NODE_NAME" --timeout=60s >/dev/null
"$KUBECTL" uncordon "$NODE_NAME" >/dev/null   # node-down.sh cordons it; the Node object stays
wait_for "CoreDNS on $NODE_IP:53" 30 bash -c "ss -Hlun 'sport = :53' | grep -qF '$NODE_IP:53'"
for name in containerd coredns kubelet kube-proxy; do
  alive "$name" || { echo "$name exited; see $ST/logs/$name.log" >&2; exit 1; }
done
echo "node $NODE_NAME ($NODE_IP, pods in $POD_NET) up in $(( ($(date +%s%N) - started) / 1000000 )) ms: KUBECONFIG=$KUBECONFIG"
