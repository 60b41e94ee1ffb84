#!/usr/bin/env bash
# infra/docker/engine.sh — the Docker engine the compose system and its suite run on.
#
#   engine.sh start            make sure an engine answers: start dockerd when none runs
#                              (root or sudo), record that we did; exit 1 with one line
#                              saying why when no engine can run here
#   engine.sh status           exit 0 when an engine answers (prints its version)
#   engine.sh stop-if-started  stop dockerd only if `start` started it, nobody is using it
#                              (see the lock below) and no container runs
#   engine.sh lock CMD…        run CMD holding the shared lock (`stop-if-started` waits
#                              for no one: it gives up while anyone holds it)
#
# Debian's docker.io starts dockerd through systemd or its init script; on machines
# without either (CI containers, VMs booted without an init system) nothing runs it, so we
# do, as a plain background process with its log in $STATE/dockerd.log. The record
# ($STATE/dockerd.pid: pid and start time) lets `stop-if-started` stop exactly that process
# and never a dockerd someone else started, nor a process that reused the pid.
#
# The engine is shared by every checkout on the machine: each user of it (the compose
# suite, infra/docker/compose) holds a shared flock on $STATE/engine.lock while it works;
# `stop-if-started` stops dockerd only when it can take that lock exclusively at once.
set -euo pipefail

STATE=${TODO_ENGINE_STATE:-/run/todo-system}
PIDFILE=$STATE/dockerd.pid
LOCK=$STATE/engine.lock
START_TIMEOUT=${DOCKERD_START_TIMEOUT:-60}

say()  { printf 'engine: %s\n' "$*"; }

engine_answers() { docker version --format '{{.Server.Version}}' 2>/dev/null; }

# start_time PID: the process's start time in clock ticks since boot (field 22 of stat).
start_time() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

# recorded_pid: the pid of the dockerd we started, if that very process still runs.
recorded_pid() {
    [ -s "$PIDFILE" ] || return 1
    local pid when
    read -r pid when <"$PIDFILE" || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && [ "$(start_time "$pid")" = "$when" ] \
        && echo "$pid"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

cmd_start() {
    local v
    if v=$(engine_answers); then
        return 0
    fi
    command -v docker >/dev/null || { say "no docker CLI (make deps installs docker.io)"; return 1; }
    command -v dockerd >/dev/null || { say "no dockerd (make deps installs docker.io)"; return 1; }
    if pgrep -x dockerd >/dev/null; then
        say "a dockerd runs but does not answer yet; waiting"
    else
        [ "$(id -u)" -eq 0 ] || as_root true \
            || { say "dockerd is not running and starting it needs root (sudo dockerd &)"; return 1; }
        as_root mkdir -p "$STATE"
        say "starting dockerd (log: $STATE/dockerd.log)"
        # shellcheck disable=SC2016  # (expanded by the inner sh, from its arguments)
        as_root sh -c 'setsid dockerd >>"$1/dockerd.log" 2>&1 </dev/null & echo $! >"$1/dockerd.pid.new"' _ "$STATE"
        local pid; pid=$(as_root cat "$STATE/dockerd.pid.new")
        # shellcheck disable=SC2016
        as_root sh -c 'printf "%s %s\n" "$2" "$3" >"$1/dockerd.pid" && rm -f "$1/dockerd.pid.new"' \
            _ "$STATE" "$pid" "$(start_time "$pid")"
    fi
    local deadline=$((SECONDS + START_TIMEOUT))
    until v=$(engine_answers); do
        if [ $SECONDS -ge $deadline ] || ! pgrep -x dockerd >/dev/null; then
            say "no Docker engine can run here: dockerd exited or did not answer within ${START_TIMEOUT}s (log: $STATE/dockerd.log)"
            tail -n 5 "$STATE/dockerd.log" 2>/dev/null | sed 's/^/    /' >&2 || true
            local mine
            if mine=$(recorded_pid); then   # ours: do not leave it behind
                as_root kill -TERM "$mine" 2>/dev/null || true
                local gone=$((SECONDS + 20))
                while [ -d "/proc/$mine" ] && [ $SECONDS -lt $gone ]; do sleep 0.2; done
                [ -d "/proc/$mine" ] && as_root kill -KILL "$mine" 2>/dev/null
            fi
            as_root rm -f "$PIDFILE"
            return 1
        fi
        sleep 0.2
    done
    say "dockerd $v is up"
}

cmd_status() {
    local v
    v=$(engine_answers) || { echo "no Docker engine answers"; return 1; }
    echo "Docker engine $v$(recorded_pid >/dev/null && echo ' (started by make deps)')"
}

cmd_stop_if_started() {
    local pid
    pid=$(recorded_pid) || { as_root rm -f "$PIDFILE" 2>/dev/null || true; return 0; }
    as_root mkdir -p "$STATE"
    exec 9>>"$LOCK"
    if ! flock -xn 9; then
        say "dockerd is in use by another run: left running"
        return 0
    fi
    if [ -n "$(docker ps -q 2>/dev/null)" ]; then
        say "containers are running: dockerd left running"
        return 0
    fi
    say "stopping dockerd (pid $pid), which make deps started"
    as_root kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while [ -d "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    [ -d "/proc/$pid" ] && { say "dockerd did not stop within 30s: killing it"; as_root kill -KILL "$pid" || true; }
    as_root rm -f "$PIDFILE"
}

cmd_lock() {
    as_root mkdir -p "$STATE" 2>/dev/null || mkdir -p "$STATE"
    exec 9>>"$LOCK"
    flock -s 9
    "$@"
}

case ${1:-} in
    start)           cmd_start ;;
    status)          cmd_status ;;
    stop-if-started) cmd_stop_if_started ;;
    lock)            shift; [ $# -ge 1 ] || { echo "usage: $0 lock CMD…" >&2; exit 2; }; cmd_lock "$@" ;;
    *)               sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
