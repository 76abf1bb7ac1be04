#!/usr/bin/env bash
# Brings the local VAS demo up, everything on loopback and stopped by hack/demo-down.sh:
# control plane + CRDs, a pool of two Janus gateways, demo RTSP cameras, the operator, the
# facade, the example resources. Safe to run twice: what already runs is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${STATE:-.vas}
DEMO="$STATE/demo"
mkdir -p "$DEMO"
BIN=$(hack/build-control-plane.sh | tail -n 1)
KUBECONFIG="$(cd "$STATE" && pwd)/kubeconfig"  # STATE may be relative or absolute
export PATH="$BIN:$PATH" KUBECONFIG

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

# A pool of two Janus gateways on loopback, each with its own ports and UDP ranges. The shim
# and ice_enforce_list=lo let a browser on this machine connect (in a pod Janus uses the pod IP
# and needs neither).
# Each gets one Janus event loop: two gateways share this machine's cores.
SHIM=$(hack/build-lo-ice-shim.sh)
. hack/lib.sh
stop_pidfile "$DEMO/janus.pid"  # the single gateway of a demo from before the pool
GATEWAY_NS=vas-system
GATEWAY_LABELS="app.kubernetes.io/instance=vas-demo,app.kubernetes.io/component=gateway"
kubectl create namespace "$GATEWAY_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
for i in 0 1; do
  http=$((8088 + i)) admin=$((7088 + i))
  JANUS_ADMIN_SECRET=$VAS_JANUS_ADMIN_SECRET JANUS_STREAMING_ADMIN_KEY=$VAS_JANUS_STREAMING_ADMIN_KEY \
    JANUS_IP=127.0.0.1 JANUS_HTTP_PORT=$http JANUS_ADMIN_PORT=$admin JANUS_DEBUG_LEVEL=3 \
    JANUS_RTP_PORT_RANGE=$((20000 + i * 5000))-$((24999 + i * 5000)) \
    JANUS_STREAMING_RTP_PORT_RANGE=$((30000 + i * 5000))-$((34999 + i * 5000)) \
    JANUS_EVENT_LOOPS=1 JANUS_API_SECRET=$VAS_API_JANUS_API_SECRET \
    JANUS_ICE_ENFORCE_LIST=lo python3 janus-image/render.py "$DEMO/janus-$i" >/dev/null
  LD_PRELOAD=$SHIM start "janus-$i" janus -F "$DEMO/janus-$i" -C "$DEMO/janus-$i/janus.jcfg" -o
  wait_tcp "$admin"
  # The operator and the facade find gateways only through the API server, as pods: this one
  # stands for the Janus just started. kwok "runs" it with hostNetwork, so its pod IP is
  # 127.0.0.1, and its ports are named as the chart names them.
  kubectl apply -f - >/dev/null <<EOP
apiVersion: v1
kind: Pod
metadata:
  name: vas-demo-gateway-$i
  namespace: $GATEWAY_NS
  labels: {app.kubernetes.io/instance: vas-demo, app.kubernetes.io/component: gateway}
spec:
  hostNetwork: true
  nodeSelector: {type: kwok}
  tolerations: [{operator: Exists}]
  containers:
  - name: janus
    image: localhost/vas-gateway:dev
    ports:
    - {name: http, containerPort: $http}
    - {name: admin, containerPort: $admin}
EOP
done
kubectl wait --for=condition=Ready --timeout=60s -n "$GATEWAY_NS" pod -l "$GATEWAY_LABELS" >/dev/null

start redis redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --dir "$DEMO"
wait_tcp 6379

# No StatefulSet here, so no autoscaling: the operator places cameras on the two pods there
# are, at most 4 on each, so the demo's cameras spread over both.
VAS_GATEWAY_NAMESPACE=$GATEWAY_NS VAS_GATEWAY_SELECTOR=$GATEWAY_LABELS VAS_GATEWAY_STATEFULSET='' \
  VAS_GATEWAY_MAX_MOUNTPOINTS=4 \
  VAS_REDIS_URL=redis://127.0.0.1:6379/0 \
  VAS_METRICS_ADDRESS=127.0.0.1 VAS_METRICS_PORT=9090 \
  VAS_SOURCE_ALLOWED_CIDRS='["127.0.0.0/8"]' VAS_SOURCE_DENIED_CIDRS='["169.254.0.0/16"]' \
  VAS_DISCOVERY_ALLOWED_CIDRS='["127.0.0.0/28"]' \
  start operator .venv/bin/python -m vas_operator --all-namespaces \
  --liveness http://127.0.0.1:8080/healthz
wait_tcp 8080

# The facade in development mode (no sign-in), as the demo is on loopback only.
VAS_API_AUTH=none VAS_API_REDIS_URL=redis://127.0.0.1:6379/0 \
  VAS_API_GATEWAY_NAMESPACE=$GATEWAY_NS VAS_API_GATEWAY_SELECTOR=$GATEWAY_LABELS \
  start facade .venv/bin/python -m vas_api --host 127.0.0.1 --port 8000
wait_tcp 8000

kubectl apply -f manifests/examples/ >/dev/null
kubectl wait --for=condition=Ready --timeout=60s cam/lobby cam/parking >/dev/null
# The example scan creates a Camera per stream it finds; wait for those too, so the table
# below shows every camera on its gateway.
if kubectl wait --for=jsonpath='{.status.phase}'=Completed --timeout=60s dscan/lab >/dev/null; then
  kubectl wait --for=condition=Ready --timeout=60s cam -l vas.io/discovery-scan=lab >/dev/null ||
    echo "some cameras the scan found are not Ready yet" >&2
fi
kubectl get -n "$GATEWAY_NS" pods -l "$GATEWAY_LABELS" -o wide
echo
kubectl get cam -o wide
kubectl get camgrp,dscan
echo
echo "Web viewer: http://127.0.0.1:8000/   (API docs: http://127.0.0.1:8000/docs)"
