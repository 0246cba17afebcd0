#!/usr/bin/env bash
# bench-deps.sh - install what make bench-vs-ganesha needs from Debian's
# packages when it is missing: NFS-Ganesha 4.3 with its VFS and CEPH FSALs.
set -euo pipefail
missing=()
for p in nfs-ganesha nfs-ganesha-vfs nfs-ganesha-ceph; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "bench-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${missing[@]}" >&2 || {
    apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2
}
