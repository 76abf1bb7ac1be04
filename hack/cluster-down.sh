#!/usr/bin/env bash
# Stops what cluster-up.sh started, by the PIDs it recorded; safe to run twice.
# kube-apiserver goes before etcd: with etcd gone first it hangs in graceful shutdown.
set -uo pipefail
ST=${1:?usage: cluster-down.sh STATEDIR}
[ -d "$ST" ] || exit 0
. "$(dirname "$0")/lib.sh"
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  stop_pidfile "$ST/$name.pid"
done
echo "control plane in $ST stopped"
