#!/usr/bin/env bash
# Stops what cluster-up.sh started, by the PIDs it recorded; safe to run twice.
# kube-apiserver goes before etcd: with etcd gone first it hangs in graceful shutdown.
set -uo pipefail
ST=${1:?usage: cluster-down.sh STATEDIR}
[ -d "$ST" ] || exit 0
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f="$ST/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
done
echo "control plane in $ST stopped"
