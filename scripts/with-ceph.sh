#!/usr/bin/env bash
# with-ceph.sh COMMAND... — runs COMMAND with a throwaway Ceph cluster: brings
# one up (scripts/ceph-dev.sh) in a fresh directory, exports its environment
# (CEPH_CONF, CEPH_USER, ...), runs COMMAND and always takes the cluster
# down again, also when COMMAND fails or the run is interrupted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/nfsgw-ceph.XXXXXX)
down() { "$here/ceph-dev.sh" down "$dir" || true; rm -rf "$dir"; }
trap down EXIT
trap 'exit 130' INT TERM
rmdir "$dir" # ceph-dev.sh up wants to create it
"$here/ceph-dev.sh" up "$dir"
eval "$("$here/ceph-dev.sh" env "$dir")"
# The cluster belongs to this run: tests may stop its daemons (e2e's
# TestClusterRadosDownKeepsEnforcement SIGSTOPs its OSD), which they must
# never do to a cluster shared with others.
export NFSGW_E2E_OWN_CEPH=1
set +e
"$@"
rc=$?
set -e
exit $rc
