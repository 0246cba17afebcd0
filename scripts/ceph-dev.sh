#!/usr/bin/env bash
# ceph-dev.sh up|down|env|quickstart|status DIR — a throwaway one-node Ceph cluster on
# loopback for tests and development: one mon, one mgr, one memstore OSD (RAM
# backed, so nothing touches a disk and `down` leaves nothing behind) and one
# MDS serving a CephFS named "cephfs", plus a RADOS pool "nfsgw" for the
# gateways' own objects (grace database, recovery records).
#
#   scripts/ceph-dev.sh up /tmp/ceph        # ~10-15 s; installs Debian's Ceph if missing
#   eval "$(scripts/ceph-dev.sh env /tmp/ceph)"
#   scripts/ceph-dev.sh quickstart /tmp/ceph  # makes subvolume "shared", prints the nfsgw command
#   scripts/ceph-dev.sh down /tmp/ceph      # stops the daemons by pid, removes DIR
#
# Users: client.admin (all caps), client.nfsgw (what a gateway needs: see
# docs/cephfs.md) and client.nocaps (mon 'allow r' only, for the test that a
# key without enough caps gives a clear error).
#
# The mon port defaults to a free one; set CEPH_DEV_PORT to choose it.
set -euo pipefail

usage() { echo "usage: $0 up|down|env|quickstart|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
conf=$dir/ceph.conf

ceph_() { timeout 60 ceph -c "$conf" -n client.admin --keyring "$dir/keyring" "$@"; }

install_ceph() {
  local pkgs=(ceph-mon ceph-osd ceph-mds ceph-mgr ceph-common librados-dev libcephfs-dev)
  local need=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "ceph-dev: need root to install ${need[*]}" >&2
    exit 1
  fi
  echo "ceph-dev: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # apt's progress shows (on stderr: stdout is for the commands this
  # script prints): installing Ceph takes minutes on a fresh machine.
  apt-get install -y --no-install-recommends "${need[@]}" >&2 || {
    apt-get update >&2
    apt-get install -y --no-install-recommends "${need[@]}" >&2
  }
}

free_port() {
  local p
  for p in $(seq 40000 40999 | shuf); do
    if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return; fi
  done
  echo "ceph-dev: no free port" >&2; exit 1
}

pids() { cat "$dir"/run/*.pid 2>/dev/null || true; }

stop_daemons() {
  local p left
  for p in $(pids); do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    left=0
    for p in $(pids); do kill -0 "$p" 2>/dev/null && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.2
  done
  for p in $(pids); do kill -9 "$p" 2>/dev/null || true; done
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      echo "ceph-dev: timed out waiting for $what; logs in $dir/log" >&2
      return 1
    fi
    sleep 0.3
  done
}

mds_active() { ceph_ mds stat | grep -q 'up:active'; }
osd_up() { ceph_ osd stat | grep -q '1 up'; }

up() {
  install_ceph
  if [ -e "$conf" ]; then
    echo "ceph-dev: $dir already holds a cluster (run down first)" >&2
    exit 1
  fi
  local port=${CEPH_DEV_PORT:-$(free_port)}
  # CEPH_DEV_ADDR: the daemons' address (make test-k8s binds them to its
  # bridge so pods reach them); loopback unless set.
  local addr=${CEPH_DEV_ADDR:-127.0.0.1}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$dir"/{run,log,mon/a,mgr/x,osd/0,mds/a}
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:$addr:$port
public addr = $addr
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
osd crush chooseleaf type = 0
mds beacon grace = 15
[mon]
admin socket = $dir/run/\$name.asok
[mgr]
admin socket = $dir/run/\$name.asok
mgr disabled modules = dashboard prometheus restful
[osd]
admin socket = $dir/run/\$name.asok
osd objectstore = memstore
memstore device bytes = 8589934592
osd data = $dir/osd/\$id
keyring = $dir/osd/\$id/keyring
[mds]
admin socket = $dir/run/\$name.asok
[mon.a]
mon data = $dir/mon/a
[mgr.x]
mgr data = $dir/mgr/x
keyring = $dir/mgr/x/keyring
[mds.a]
mds data = $dir/mds/a
keyring = $dir/mds/a/keyring
[client]
# Clients (gateways, tests) get no admin socket: several processes sharing
# this file would fight over one socket path.
admin socket =
log file = $dir/log/client.log
EOF
  local k=$dir/keyring
  ceph-authtool --create-keyring "$k" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$k" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  monmaptool --create --add a "v2:$addr:$port" --fsid "$fsid" "$dir/monmap" >/dev/null
  local out=$dir/log/daemons.out
  ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" --keyring "$k" >>"$out" 2>&1
  ceph-mon -c "$conf" -i a >>"$out" 2>&1
  wait_for 30 "the monitor" ceph_ mon stat

  ceph_ auth get-or-create mgr.x mon 'allow profile mgr' mds 'allow *' osd 'allow *' \
    -o "$dir/mgr/x/keyring"
  ceph-mgr -c "$conf" -i x >>"$out" 2>&1

  local id; id=$(ceph_ osd create)
  [ "$id" = 0 ] || { echo "ceph-dev: unexpected osd id $id" >&2; exit 1; }
  ceph_ auth get-or-create osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
    -o "$dir/osd/0/keyring"
  ceph-osd -c "$conf" -i 0 --mkfs --no-mon-config --keyring "$dir/osd/0/keyring" >>"$out" 2>&1
  ceph_ osd crush add osd.0 1 root=default >/dev/null 2>&1
  ceph-osd -c "$conf" -i 0 >>"$out" 2>&1
  wait_for 60 "the OSD" osd_up

  ceph_ auth get-or-create mds.a mon 'allow profile mds' osd 'allow *' mds 'allow *' \
    mgr 'allow profile mds' -o "$dir/mds/a/keyring"
  ceph_ osd pool create cephfs_metadata 8 >/dev/null 2>&1
  ceph_ osd pool create cephfs_data 8 >/dev/null 2>&1
  ceph_ osd pool create nfsgw 8 >/dev/null 2>&1
  ceph_ osd pool application enable nfsgw nfsgw >/dev/null 2>&1
  ceph_ fs new cephfs cephfs_metadata cephfs_data >/dev/null 2>&1
  # Tests kill clients (gateways, test processes) without unmounting: let the
  # MDS give up on a silent client's caps after 30 s (the minimum) instead of 60 (and evict
  # it after 60 instead of 300), so the next test is not held up by them.
  ceph_ fs set cephfs session_timeout 30 >/dev/null 2>&1
  ceph_ fs set cephfs session_autoclose 60 >/dev/null 2>&1
  ceph-mds -c "$conf" -i a >>"$out" 2>&1
  wait_for 60 "an active MDS" mds_active

  # The gateway's user: the caps docs/cephfs.md documents, nothing more.
  ceph_ auth get-or-create client.nfsgw mon 'allow r' mgr 'allow rw' \
    mds 'allow rw path=/' osd 'allow rw tag cephfs data=cephfs, allow rwx pool=nfsgw' \
    -o "$dir/nfsgw.keyring"
  ceph_ auth get-or-create client.nocaps mon 'allow r' -o "$dir/nocaps.keyring"
  echo "ceph-dev: cluster up in $dir (mon $addr:$port)" >&2
}

envout() {
  [ -e "$conf" ] || { echo "ceph-dev: no cluster in $dir" >&2; exit 1; }
  cat <<EOF
export CEPH_CONF=$conf
export CEPH_ADMIN_KEYRING=$dir/keyring
export CEPH_USER=admin
export CEPH_FS=cephfs
export CEPH_POOL=nfsgw
export CEPH_DEV_DIR=$dir
EOF
}

# quickstart makes the CephFS subvolume "shared" (once) and prints the
# exact command that serves it: a subvolume lives at
# /volumes/_nogroup/shared/<uuid>, which only `subvolume getpath` knows.
# It belongs to uid/gid 65534, the id root squashing maps root to, so a
# root client can write to it as in `make run`. QUICKSTART_LISTEN
# (127.0.0.1:2049) and NFSGW_BIN (bin/nfsgw) change the command.
quickstart() {
  [ -e "$conf" ] || { echo "ceph-dev: no cluster in $dir" >&2; exit 1; }
  local path
  if ! path=$(ceph_ fs subvolume getpath cephfs shared 2>/dev/null); then
    ceph_ fs subvolume create cephfs shared --uid 65534 --gid 65534 >/dev/null
    path=$(ceph_ fs subvolume getpath cephfs shared)
  fi
  echo "# nfsgw serving the CephFS subvolume 'shared' of this cluster at /cephfs (as root):"
  echo "${NFSGW_BIN:-bin/nfsgw} --listen ${QUICKSTART_LISTEN:-127.0.0.1:2049} --ceph-conf $conf --ceph-user nfsgw --ceph-keyring $dir/nfsgw.keyring --export /cephfs=ceph:$path"
}

case $cmd in
  up) up ;;
  down)
    stop_daemons
    case $dir in /|/tmp|/work|"$HOME") echo "ceph-dev: refusing to remove $dir" >&2; exit 1 ;; esac
    if [ -e "$conf" ]; then rm -rf "$dir"; fi
    ;;
  env) envout ;;
  quickstart) quickstart ;;
  status) ceph_ -s ;;
  *) usage ;;
esac
