#!/usr/bin/env bash
# Stops everything hack/demo-up.sh started, by recorded PID; safe to run twice.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=${STATE:-.vas}
DEMO="$STATE/demo"
for name in facade operator redis janus camera; do
  f="$DEMO/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
  echo "$name stopped"
done
hack/cluster-down.sh "$STATE/cluster"
