#!/bin/sh
# image.sh OUT.tar: the nfsgw OCI image, built without a registry or a
# container daemon (make image). Builds nfsgw and nfsgwctl (cgo, CephFS),
# assembles the file tree with deploy/image/rootfs.sh from
# deploy/image/files.txt, packs it with deploy/image/mkimage, then does it
# all a second time from a fresh tree and checks the two digests are equal.
# Every time stamp is SOURCE_DATE_EPOCH, the commit's time unless set.
# IMAGE_NAME (default nfsgw) is the reference recorded in the archive.
set -eu
out=${1:-bin/nfsgw-image.tar}
cd "$(dirname "$0")/.."
GO=${GO:-go}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022

scripts/deps.sh image
start=$(date +%s)
# -trimpath and an empty build id: the binaries do not depend on where
# or when they were built.
for cmd in nfsgw nfsgwctl; do
	CGO_ENABLED=1 $GO build -tags pacific -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X main.version=$version" -o "$work/bin/$cmd" ./cmd/$cmd
done
$GO build -trimpath -o "$work/mkimage" ./deploy/image/mkimage
echo "image: binaries built in $(($(date +%s) - start)) s"

pack() { # pack DIR OUT
	deploy/image/rootfs.sh deploy/image/files.txt "$work/bin" "$1"
	"$work/mkimage" -root "$1" -o "$2" -name "${IMAGE_NAME:-nfsgw}:$version" -version "$version" \
		-revision "$revision" -epoch "$SOURCE_DATE_EPOCH" -expect deploy/image/files.txt
}
mkdir -p "$(dirname "$out")"
start=$(date +%s)
first=$(pack "$work/root1" "$out")
echo "image: $first (packed in $(($(date +%s) - start)) s)"
second=$(pack "$work/root2" "$work/again.tar")
if [ "$(echo "$first" | awk '{print $3}')" != "$(echo "$second" | awk '{print $3}')" ] || ! cmp -s "$out" "$work/again.tar"; then
	echo "image: NOT reproducible: $second" >&2
	exit 1
fi
# The binaries start inside the tree as the image's user, with only the
# image's libraries.
chroot --userspec=65532:65532 "$work/root1" /usr/bin/nfsgw --version
chroot --userspec=65532:65532 "$work/root1" /usr/bin/nfsgwctl --help >/dev/null 2>&1
echo "image: reproducible (built twice, same digest); $(du -h "$out" | cut -f1) archive $out"
