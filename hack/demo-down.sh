#!/usr/bin/env bash
# Stops everything hack/demo-up.sh started, by recorded PID; safe to run twice.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=${STATE:-.vas}
DEMO="$STATE/demo"
. hack/lib.sh
for name in facade operator redis janus camera; do
  [ -f "$DEMO/$name.pid" ] || continue
  stop_pidfile "$DEMO/$name.pid"
  echo "$name stopped"
done
hack/cluster-down.sh "$STATE/cluster"
