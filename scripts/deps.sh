#!/usr/bin/env bash
# deps.sh [build|test] — installs from Debian's packages what the project
# needs and the machine lacks.
#   build: the C headers and libraries the gateway links (libcephfs, librados).
#   test:  build's, plus Ceph's daemons for the throwaway test cluster,
#          libnfs-utils (an NFSv4.0 client nobody on this project wrote) and
#          NFS-Ganesha with FSAL_CEPH (the handle-compatibility test).
set -euo pipefail
what=${1:-test}
pkgs=(librados-dev libcephfs-dev)
if [ "$what" = test ]; then
  pkgs+=(ceph-mon ceph-osd ceph-mds ceph-mgr ceph-common libnfs-utils nfs-ganesha nfs-ganesha-ceph nfs-ganesha-rados-grace)
fi
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: need root to install ${need[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  }
fi
echo "deps: ok ($what)"
