#!/usr/bin/env bash
# Brings the local VAS demo up, everything on loopback and stopped by hack/demo-down.sh:
# control plane + CRDs, a Janus gateway, demo RTSP cameras, the operator, the example
# resources. Safe to run twice: what already runs is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${STATE:-.vas}
DEMO="$STATE/demo"
mkdir -p "$DEMO"
BIN=$(hack/build-control-plane.sh | tail -n 1)
export PATH="$BIN:$PATH" KUBECONFIG="$PWD/$STATE/kubeconfig"

VAS_KUBECONFIG="$KUBECONFIG" hack/cluster-up.sh "$STATE/cluster"
kubectl apply -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null

# Secrets shared by Janus, the operator and the facade, made once per checkout (a key added
# by a newer VAS is added to an older file).
umask 077
touch "$DEMO/secrets.env"
for key in VAS_JANUS_ADMIN_SECRET VAS_JANUS_STREAMING_ADMIN_KEY VAS_MOUNTPOINT_KEY \
           VAS_API_JANUS_API_SECRET; do
  grep -q "^$key=" "$DEMO/secrets.env" || echo "$key=$(openssl rand -hex 16)" >> "$DEMO/secrets.env"
done
umask 022
set -a; . "$DEMO/secrets.env"; set +a

alive() { [ -f "$DEMO/$1.pid" ] && kill -0 "$(cat "$DEMO/$1.pid")" 2>/dev/null; }
start() { # name command...
  local name=$1; shift
  if alive "$name"; then echo "$name already running"; return 0; fi
  "$@" >> "$DEMO/$name.log" 2>&1 &
  echo $! > "$DEMO/$name.pid"
  echo "$name started (log: $DEMO/$name.log)"
}
wait_tcp() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }

# Demo cameras: the password of /secure matches manifests/examples/camera-parking.yaml.
start camera /usr/bin/python3 tests/media/rtsp_camera.py --port 8554 \
  --mount /cam1 --mount /cam2 --secure-mount /secure:admin:change-me
wait_tcp 8554

# Janus on loopback: the shim and ice_enforce_list=lo let a browser on this machine connect
# (in a pod Janus uses the pod IP and needs neither).
JANUS_ADMIN_SECRET=$VAS_JANUS_ADMIN_SECRET JANUS_STREAMING_ADMIN_KEY=$VAS_JANUS_STREAMING_ADMIN_KEY \
  JANUS_IP=127.0.0.1 JANUS_HTTP_PORT=8088 JANUS_ADMIN_PORT=7088 JANUS_DEBUG_LEVEL=3 \
  JANUS_API_SECRET=$VAS_API_JANUS_API_SECRET \
  JANUS_ICE_ENFORCE_LIST=lo python3 janus-image/render.py "$DEMO/janus" >/dev/null
SHIM=$(hack/build-lo-ice-shim.sh)
LD_PRELOAD=$SHIM start janus janus -F "$DEMO/janus" -C "$DEMO/janus/janus.jcfg" -o
wait_tcp 7088

start redis redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --dir "$DEMO"
wait_tcp 6379

VAS_GATEWAY_NAME=vas-gateway-0 VAS_GATEWAY_ADMIN_URL=http://127.0.0.1:7088/admin \
  VAS_REDIS_URL=redis://127.0.0.1:6379/0 \
  VAS_METRICS_ADDRESS=127.0.0.1 VAS_METRICS_PORT=9090 \
  VAS_SOURCE_ALLOWED_CIDRS='["127.0.0.0/8"]' VAS_SOURCE_DENIED_CIDRS='["169.254.0.0/16"]' \
  VAS_DISCOVERY_ALLOWED_CIDRS='["127.0.0.0/28"]' \
  start operator .venv/bin/python -m vas_operator --all-namespaces \
  --liveness http://127.0.0.1:8080/healthz
wait_tcp 8080

# The facade in development mode (no sign-in), as the demo is on loopback only.
VAS_API_AUTH=none VAS_API_REDIS_URL=redis://127.0.0.1:6379/0 \
  VAS_API_GATEWAYS='{"vas-gateway-0": "http://127.0.0.1:8088/janus"}' \
  start facade .venv/bin/python -m vas_api --host 127.0.0.1 --port 8000
wait_tcp 8000

kubectl apply -f manifests/examples/ >/dev/null
kubectl wait --for=condition=Ready --timeout=60s cam/lobby cam/parking >/dev/null
kubectl get cam,camgrp,dscan
echo
echo "Web viewer: http://127.0.0.1:8000/   (API docs: http://127.0.0.1:8000/docs)"
