#!/usr/bin/env bash
# bench-ceph.sh — nfsgw on CephFS against libcephfs itself, in one run:
# starts nfsgw exporting a directory of the cluster CEPH_CONF names (or of
# a throwaway cluster started for the run), drives it with bench/nfsbench
# (our NFSv4.1 client: many clients, each its own connection and session),
# then runs bench/cephraw (the same workloads straight through libcephfs in
# one process, as many workers as nfsbench has clients, the same I/O depth)
# and prints nfsgw/raw for each workload. The raw read is by a second
# libcephfs client, so from the OSDs (-read-client fresh); bench/vsganesha
# reads through the writer's client instead, as a server does.
#
#   scripts/bench-ceph.sh [-size BYTES] [-duration D]     (make bench-ceph)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
if [ -z "${CEPH_CONF:-}" ]; then
  exec scripts/with-ceph.sh "$0" "$@"
fi
size=268435456 dur=4s iodepth=4
while [ $# -gt 0 ]; do
  case $1 in
    -size) size=$2; shift 2 ;;
    -duration) dur=$2; shift 2 ;;
    -iodepth) iodepth=$2; shift 2 ;;
    *) echo "usage: $0 [-size BYTES] [-duration D] [-iodepth N]" >&2; exit 2 ;;
  esac
done
tags=${GO_TAGS:-pacific}
work=$(mktemp -d /tmp/nfsgw-bench-ceph.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
go build -tags "$tags" -o "$work/nfsgw" ./cmd/nfsgw
go build -tags "$tags" -o "$work/nfsbench" ./bench/nfsbench
go build -tags "$tags" -o "$work/cephraw" ./bench/cephraw

# The gateway exports the CephFS root; nfsbench works in a directory of its
# own below it, cephraw in $dir, and each removes its own.
addr=127.0.0.61:$((20000 + RANDOM % 20000))
dir=/bench-nfsgw-$$
workloads=getattr,smallcreate,write,read
"$work/nfsgw" --listen "$addr" --ceph-conf "$CEPH_CONF" --ceph-user "${CEPH_USER:-admin}" \
  --node-id "bench-$$" --export "/bench=ceph:/" --squash none --admin none --state-dir none >"$work/nfsgw.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/nfsgw.log" >&2; exit 1; }
  sleep 0.1
done
echo "== nfsgw on CephFS ($addr)"
"$work/nfsbench" -addr "$addr/bench" -server-pid "$pid" -workloads "$workloads" \
  -size "$size" -duration "$dur" -iodepth "$iodepth" -json "$work/nfsgw.json"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "== libcephfs, same cluster, same process count of clients"
"$work/cephraw" -conf "$CEPH_CONF" -user "${CEPH_USER:-admin}" -dir "$dir" -workloads "$workloads" \
  -size "$size" -duration "$dur" -iodepth "$iodepth" -read-client fresh -compare "$work/nfsgw.json"
