#!/usr/bin/env bash
# bench-profile.sh - CPU, mutex and block profiles of nfsgw under each
# bench/nfsbench workload, one workload at a time, so each profile shows
# one kind of load.
#
# Usage: scripts/bench-profile.sh OUTDIR [WORKLOAD...]
#   (default workloads: getattr getattrmany lookupdeep pathwalk smallcreate smallread
#    readdir readdirbig write read randrw)
# Writes OUTDIR/WORKLOAD.cpu.pb.gz, .mutex.pb.gz, .block.pb.gz and
# OUTDIR/WORKLOAD.top.txt (go tool pprof -top), and OUTDIR/WORKLOAD.txt (the
# nfsbench output). Needs bin/nfsgw and bin/nfsbench (make build;
# go build -o bin/nfsbench ./bench/nfsbench; NFSGW_BIN and NFSBENCH_BIN override
# the paths). Everything it starts is
# stopped by pid; its scratch directory is removed.
set -euo pipefail
nfsgw_bin=${NFSGW_BIN:-bin/nfsgw}; nfsbench_bin=${NFSBENCH_BIN:-bin/nfsbench}
out=${1:?usage: $0 OUTDIR [WORKLOAD...]}; shift
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(getattr getattrmany lookupdeep pathwalk smallcreate smallread readdir readdirbig write read randrw)
mkdir -p "$out"
scratch=$(mktemp -d)
nfsgw_pid=
cleanup() {
    [ -n "$nfsgw_pid" ] && kill "$nfsgw_pid" 2>/dev/null && wait "$nfsgw_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
chmod 0777 "$scratch"
"$nfsbench_bin" -make-fixtures "$scratch" >/dev/null
port=$(( 30000 + RANDOM % 20000 )); pport=$(( port + 1 ))
"$nfsgw_bin" --listen 127.0.0.1:$port --export /export="$scratch" --squash none --log-level warn --admin none --state-dir none \
    --pprof 127.0.0.1:$pport >"$scratch/nfsgw.log" 2>&1 &
nfsgw_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
for w in "${workloads[@]}"; do
    dur=6s; [ "$w" = readdirbig ] && dur=12s
    "$nfsbench_bin" -addr 127.0.0.1:$port/export -server-pid $nfsgw_pid -local-root "$scratch" -fixtures fixtures \
        -workloads "$w" -duration $dur -readdirbig-duration $dur -size 1G >"$out/$w.txt" 2>&1 &
    bench=$!
    # Skip the set-up (connecting, writing the file to read), then profile.
    case $w in read|randrw) sleep 8;; *) sleep 2;; esac
    curl -s -o "$out/$w.cpu.pb.gz" "http://127.0.0.1:$pport/debug/pprof/profile?seconds=3"
    curl -s -o "$out/$w.mutex.pb.gz" "http://127.0.0.1:$pport/debug/pprof/mutex"
    curl -s -o "$out/$w.block.pb.gz" "http://127.0.0.1:$pport/debug/pprof/block"
    wait "$bench" || echo "bench-profile.sh: nfsbench $w failed; see $out/$w.txt" >&2
    go tool pprof -top -nodecount=40 "$nfsgw_bin" "$out/$w.cpu.pb.gz" >"$out/$w.top.txt" 2>/dev/null || true
    echo "$w: $(grep -E "^$w " "$out/$w.txt" | head -1)"
done
