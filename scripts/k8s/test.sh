#!/usr/bin/env bash
# make test-k8s: the chart on a real one-node Kubernetes, on this machine.
#   1. Debian packages (containerd, runc, CNI plugins, etcd, Ceph, ...)
#   2. Kubernetes built from the Go module proxy (scripts/k8s/build.sh;
#      ~26 CPU-minutes the first time, then cached)
#   3. the nfsgw image (scripts/image.sh) and a pause image
#   4. Kubernetes up (scripts/k8s/up.sh), the throwaway Ceph cluster bound
#      to the pods' bridge so pods reach it
#   5. e2e/k8s: install, pod restart, scale 3→5, scale 5→2, from the host
#   6. everything torn down (on any exit), the machine as it was found
# Keep the run directory for a look after a failure: NFSGW_K8S_KEEP=1 (then
# tear down with scripts/k8s/down.sh DIR BINDIR --wipe and ceph-dev.sh down).
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
t0=$(date +%s)
scripts/deps.sh k8s
bins=$(scripts/k8s/build.sh "${K8S_VERSION:-v1.37.2}")
echo "test-k8s: Kubernetes binaries in $bins ($(($(date +%s) - t0)) s)"

top=$(mktemp -d /tmp/nfsgw-k8s.XXXXXX)
case "$top" in /tmp/nfsgw-k8s.?*) ;; *) echo "test-k8s: bad run directory '$top'" >&2; exit 1 ;; esac
mkdir "$top/k8s" "$top/img" "$top/work"
teardown() {
	local rc=$?
	if [ "${NFSGW_K8S_KEEP:-}" = 1 ] && [ $rc != 0 ]; then
		echo "test-k8s: kept $top (NFSGW_K8S_KEEP=1)" >&2
		return
	fi
	[ -d "$top/ceph" ] && scripts/ceph-dev.sh down "$top/ceph" >/dev/null 2>&1 || true
	if [ -f "$top/k8s/.nfsgw-k8s-run" ]; then
		scripts/k8s/down.sh "$top/k8s" "$bins" --wipe || rc=1
	else
		rmdir "$top/k8s" || true
	fi
	rm -rf --one-file-system "$top/img" "$top/work" "$top/ceph" "$top/bin"
	rmdir "$top" || true
	exit $rc
}
trap teardown EXIT

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
t1=$(date +%s)
IMAGE_NAME=nfsgw.local/nfsgw GO=$GO VERSION="$version" scripts/image.sh "$top/img/nfsgw.tar"
echo "test-k8s: image built in $(($(date +%s) - t1)) s, $(du -h "$top/img/nfsgw.tar" | cut -f1)"
CGO_ENABLED=0 $GO build -trimpath -o "$top/work/root/pause" ./e2e/k8s/pause
$GO build -o "$top/work/mkimage" ./deploy/image/mkimage
"$top/work/mkimage" -root "$top/work/root" -entrypoint /pause -name nfsgw.local/pause:1 -o "$top/img/pause.tar" >/dev/null
mkdir -p "$top/bin"
$GO build -tags pacific -o "$top/bin/nfsgwctl" ./cmd/nfsgwctl

scripts/k8s/up.sh "$top/k8s" "$bins" "$top/img"
CEPH_DEV_ADDR=10.244.0.1 scripts/ceph-dev.sh up "$top/ceph"
eval "$(scripts/ceph-dev.sh env "$top/ceph")"

t2=$(date +%s)
NFSGW_K8S_KUBECTL=$bins/kubectl NFSGW_K8S_KUBECONFIG=$top/k8s/pki/admin.kubeconfig \
	NFSGW_K8S_IMAGE=nfsgw.local/nfsgw:$version NFSGW_K8S_NFSGWCTL=$top/bin/nfsgwctl \
	$GO test -tags 'pacific k8s' -count=1 -timeout 20m -v ./e2e/k8s/ 2>&1 | tee "$top/work/test.log" |
	grep -vE "^\s*$" || true
grep -q "^ok" "$top/work/test.log" || { echo "test-k8s: FAILED (log above)"; exit 1; }
echo "test-k8s: scenario passed in $(($(date +%s) - t2)) s; whole run $(($(date +%s) - t0)) s"
