#!/usr/bin/env bash
# Stops everything hack/demo-up.sh started, by recorded PID; safe to run twice.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
STATE=${STATE:-.vas}
DEMO="$STATE/demo"
. hack/lib.sh
# "janus" is the single gateway of demos before the gateway pool.
for name in facade operator redis janus-0 janus-1 janus camera; do
  [ -f "$DEMO/$name.pid" ] || continue
  stop_pidfile "$DEMO/$name.pid"
  echo "$name stopped"
done
hack/cluster-down.sh "$STATE/cluster"
