#!/bin/sh
# Gateway pod entrypoint: render the config from JANUS_* variables, then run Janus in the
# foreground. JANUS_IP defaults to the pod IP (POD_IP from the downward API).
set -eu
export JANUS_IP="${JANUS_IP:-${POD_IP:-0.0.0.0}}"

# The CPU cores this container may use: nproc counts its cpuset, and a CPU limit (a CFS quota,
# cgroup v2 or v1) may allow fewer; rounded up, at least one.
cores() {
  n=$(nproc)
  quota="" period=""
  if [ -r /sys/fs/cgroup/cpu.max ]; then
    read -r quota period < /sys/fs/cgroup/cpu.max
  elif [ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ] && [ -r /sys/fs/cgroup/cpu/cpu.cfs_period_us ]; then
    quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)
    period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)
  fi
  case "$quota$period" in
    "" | *[!0-9]*) ;;  # no limit: "max" (v2) or -1 (v1)
    *)
      if [ "$period" -gt 0 ]; then
        limit=$(( (quota + period - 1) / period ))
        if [ "$limit" -lt "$n" ]; then n=$limit; fi
      fi
      ;;
  esac
  if [ "$n" -lt 1 ]; then n=1; fi
  echo "$n"
}

# Janus handles share one event loop per core (general.event_loops) unless told otherwise: a
# thread per handle cost 30-50 % more CPU per viewer and collapsed at 300 viewers on 2 cores.
if [ "${JANUS_EVENT_LOOPS:-0}" = 0 ]; then
  JANUS_EVENT_LOOPS=$(cores)
  export JANUS_EVENT_LOOPS
fi
python3 /opt/vas/render.py /run/janus >/dev/null
exec janus -F /run/janus -C /run/janus/janus.jcfg -o "$@"
