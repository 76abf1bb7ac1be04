# Shared by the hack/ scripts (source it): stop a process by its recorded PID file.
stop_pidfile() { # pidfile: SIGTERM, wait up to 15 s, then SIGKILL; removes the file
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}
