#!/usr/bin/env bash
# Stops what hack/node-up.sh STATEDIR started, by the PIDs it recorded, and removes what the
# node left on the machine: pods (torn down by the kubelet while it still runs), containers,
# mounts under STATEDIR, the bridge and the node address, kube-proxy's and the kubelet's
# iptables chains, the kubepods cgroups, the host paths the kubelet and libcni write whatever
# their settings say, and the control plane. Safe to run twice.
set -uo pipefail
ST=${1:?usage: node-down.sh STATEDIR}
[ -d "$ST" ] || exit 0
ST=$(cd "$ST" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
NODE_NAME=${VAS_NODE_NAME:-vas-node}
NODE_IP=${VAS_NODE_IP:-10.244.255.1}
BRIDGE=vas-cni0
OWNER=/run/vas-node.state
CP_BIN=$("$HERE/build-control-plane.sh" 2>/dev/null | tail -n 1)
NODE_BIN=$(dirname "$CP_BIN")/node-r1/bin
export KUBECONFIG="$ST/kubeconfig"
alive() { [ -f "$ST/run/$1.pid" ] && kill -0 "$(cat "$ST/run/$1.pid")" 2>/dev/null; }
started=$(date +%s%N)

exec 9>/run/vas-node.lock
flock -w 60 9 || echo "node-down: /run/vas-node.lock still held after 60 s; going on" >&2

# 1. Let the kubelet tear its pods down itself (CNI DEL, volume unmounts) while all still runs.
if alive kubelet && "$CP_BIN/kubectl" get --raw /readyz >/dev/null 2>&1; then
  # cordoned first, so that controllers do not place the replacements here again
  "$CP_BIN/kubectl" cordon "$NODE_NAME" >/dev/null 2>&1
  "$CP_BIN/kubectl" delete pod -A --field-selector "spec.nodeName=$NODE_NAME" --grace-period=1 \
    --wait=false >/dev/null 2>&1
  for _ in $(seq 1 60); do
    [ -z "$("$CP_BIN/kubectl" get pod -A --field-selector "spec.nodeName=$NODE_NAME" -o name 2>/dev/null)" ] && break
    sleep 0.5
  done
fi
# 2. kube-proxy, then its iptables rules; CoreDNS; the kubelet.
stop_pidfile "$ST/run/kube-proxy.pid"
[ -x "$NODE_BIN/kube-proxy" ] && "$NODE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 9>&-
stop_pidfile "$ST/run/coredns.pid"
stop_pidfile "$ST/run/kubelet.pid"
# 3. Containers left over: kill their tasks (the shims exit with them), remove them.
ids=()
if alive containerd; then
  C=(ctr -a "$ST/run/containerd.sock" -n k8s.io)
  mapfile -t ids < <("${C[@]}" containers ls -q 2>/dev/null)
  for t in $("${C[@]}" tasks ls -q 2>/dev/null); do "${C[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  sleep 1
  for t in $("${C[@]}" tasks ls -q 2>/dev/null); do "${C[@]}" tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $("${C[@]}" containers ls -q 2>/dev/null); do "${C[@]}" containers rm "$c" >/dev/null 2>&1; done
fi
stop_pidfile "$ST/run/containerd.pid"
# 4. Mounts under STATEDIR (netns, shm, rootfs overlays, projected tmpfs, the kubelet's rshared
#    bind mount of its root dir), deepest first.
for m in $(findmnt -rn -o TARGET | grep "^$ST/" | sort -r); do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done
# 5. Network: the bridge (its veths went with the pods' netns), the node address.
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
ip -4 addr show dev lo | grep -q " $NODE_IP/32 " && ip addr del "$NODE_IP/32" dev lo
# 6. The kubelet's own iptables chains (kube-proxy --cleanup does not own these).
for ipt in iptables ip6tables; do
  while $ipt -t filter -D INPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
  while $ipt -t filter -D OUTPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
  $ipt -t filter -F KUBE-FIREWALL 2>/dev/null; $ipt -t filter -X KUBE-FIREWALL 2>/dev/null
  for t in mangle filter nat; do
    for ch in KUBE-KUBELET-CANARY KUBE-PROXY-CANARY KUBE-IPTABLES-HINT; do
      $ipt -t $t -F $ch 2>/dev/null; $ipt -t $t -X $ch 2>/dev/null
    done
  done
done
# 7. The kubepods cgroup tree the kubelet made at the root of every hierarchy.
for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
done
# 8. Host paths written whatever --root-dir says: the device-plugin socket, the
#    /var/log/containers symlinks into STATEDIR, libcni's result cache for this network and
#    for our sandboxes' loopback (other CNI users, podman, keep theirs).
rm -f /var/lib/kubelet/device-plugins/kubelet.sock
rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null
for l in /var/log/containers/*.log; do
  [ -L "$l" ] && case "$(readlink "$l")" in "$ST"/*) rm -f "$l" ;; esac
done
rmdir /var/log/containers 2>/dev/null
rm -f /var/lib/cni/results/vas-pod-net-*
for id in ${ids[@]+"${ids[@]}"}; do rm -f /var/lib/cni/results/cni-loopback-"$id"-*; done
rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
# 9. The control plane, by its recorded PIDs; then the runtime state (keep logs and cp/).
"$HERE/cluster-down.sh" "$ST/cp" >/dev/null
if [ -z "$(findmnt -rn -o TARGET | grep "^$ST/")" ]; then
  rm -rf "$ST/containerd" "$ST/kubelet" "$ST/cni" "$ST/pod-logs" "$ST/run"
fi
[ "$(cat "$OWNER" 2>/dev/null)" = "$ST" ] && rm -f "$OWNER"
echo "node in $ST stopped in $(( ($(date +%s%N) - started) / 1000000 )) ms"
