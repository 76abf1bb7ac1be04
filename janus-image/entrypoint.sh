#!/bin/sh
# Gateway pod entrypoint: render the config from JANUS_* variables, then run Janus in the
# foreground. JANUS_IP defaults to the pod IP (POD_IP from the downward API).
set -eu
export JANUS_IP="${JANUS_IP:-${POD_IP:-0.0.0.0}}"
python3 /opt/vas/render.py /run/janus >/dev/null
exec janus -F /run/janus -C /run/janus/janus.jcfg -o "$@"
