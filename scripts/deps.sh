#!/usr/bin/env bash
# deps.sh [build|test] — installs from Debian's packages what the project
# needs and the machine lacks.
#   build: the C headers and libraries the gateway links (libcephfs, librados,
#          tcmalloc for libcephfs' allocations).
#   image: build's, plus the CA certificates the image ships (make image).
#   test:  build's, plus Ceph's daemons for the throwaway test cluster,
#          libnfs-utils (an NFSv4.0 client nobody on this project wrote) and
#          NFS-Ganesha with FSAL_CEPH (the handle-compatibility test) and
#          prometheus (promtool checks deploy/monitoring's alert rules).
#   k8s:   test's, plus what make test-k8s runs Kubernetes on: containerd,
#          runc, the CNI plugins, iptables, conntrack, etcd.
set -euo pipefail
what=${1:-test}
pkgs=(librados-dev libcephfs-dev libgoogle-perftools-dev)
if [ "$what" = image ]; then
  pkgs+=(ca-certificates)
fi
if [ "$what" = test ] || [ "$what" = k8s ]; then
  pkgs+=(ceph-mon ceph-osd ceph-mds ceph-mgr ceph-common libnfs-utils nfs-ganesha nfs-ganesha-ceph nfs-ganesha-rados-grace prometheus)
fi
if [ "$what" = k8s ]; then
  pkgs+=(containerd runc containernetworking-plugins iptables conntrack etcd-server openssl curl)
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
  # apt's own output shows: installing Ceph takes minutes on a fresh machine.
  apt-get install -y --no-install-recommends "${need[@]}" || {
    echo "deps: retrying after apt-get update" >&2
    apt-get update
    apt-get install -y --no-install-recommends "${need[@]}"
  }
fi
echo "deps: ok ($what)"
