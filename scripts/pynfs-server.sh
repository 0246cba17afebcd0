#!/usr/bin/env bash
# pynfs-server.sh: run bin/nfsgw for pynfs, including pynfs's reboot tests.
#
#   scripts/pynfs-server.sh start DIR PORT   # export DIR/export at /export, state in DIR/state
#   scripts/pynfs-server.sh reboot DIR       # SIGKILL and start again (pynfs --serverhelper)
#   scripts/pynfs-server.sh stop DIR
#
# The reboot group of pynfs calls its --serverhelper with "reboot"; use
#   --serverhelper="scripts/pynfs-server.sh" --serverhelperarg=DIR
# Grace equals the lease (10 s; NFSGW_LEASE=SECONDS for another): pynfs waits
# lease + 5 s after a reboot before it expects new state, and REBT5 needs
# grace >= lease. NFSGW_BIN runs another binary.
set -euo pipefail
# pynfs calls "HELPER ARG reboot": accept the directory first, too.
if [ $# -ge 2 ] && [ -d "$1" ]; then
  set -- "$2" "$1" "${@:3}"
fi
cmd=${1:?usage: pynfs-server.sh start|reboot|stop DIR [PORT]}
dir=${2:?DIR}
bin=${NFSGW_BIN:-$(dirname "$0")/../bin/nfsgw}
lease=${NFSGW_LEASE:-10}
start() {
  port=$(cat "$dir/port")
  mkdir -p "$dir/export" "$dir/state"
  chmod 777 "$dir/export"
  "$bin" --listen "127.0.0.1:$port" --export "/export=$dir/export" --squash none --admin none \
    --lease "$lease" --grace "$lease" --state-dir "$dir/state" >>"$dir/nfsgw.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "pynfs-server: nfsgw did not start" >&2
  return 1
}
stop() {
  [ -f "$dir/pid" ] || return 0
  kill "-$1" "$(cat "$dir/pid")" 2>/dev/null || true
  while kill -0 "$(cat "$dir/pid")" 2>/dev/null; do sleep 0.05; done
  rm -f "$dir/pid"
}
case "$cmd" in
  start) mkdir -p "$dir"; echo "${3:?PORT}" >"$dir/port"; start ;;
  reboot) stop KILL; start ;;
  stop) stop TERM ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
