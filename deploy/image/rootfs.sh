#!/bin/sh
# rootfs.sh FILES BINDIR ROOT: assemble the nfsgw image's file tree in ROOT
# (which must not exist) from the list FILES (deploy/image/files.txt), the
# binaries in BINDIR and this Debian host's packages. Both `make image`
# (scripts/image.sh, which then packs ROOT with deploy/image/mkimage) and the
# Containerfile (COPY of ROOT) use it, so both images hold the same files.
#
# It refuses a list whose lib lines are not exactly the shared-library
# closure of BINDIR/nfsgw and BINDIR/nfsgwctl (ldd): a Debian update that
# adds or drops a library fails the build instead of shipping a broken image.
# rootfs.sh --list FILES: print the paths the list makes, one a line, sorted.
set -eu

if [ "${1:-}" = "--list" ]; then
	grep -v '^#' "$2" | awk 'NF {print $2}' | LC_ALL=C sort
	exit 0
fi
files=${1:?usage: rootfs.sh FILES BINDIR ROOT}
bindir=${2:?usage: rootfs.sh FILES BINDIR ROOT}
root=${3:?usage: rootfs.sh FILES BINDIR ROOT}
[ ! -e "$root" ] || { echo "rootfs.sh: $root exists" >&2; exit 1; }

# The closure, as canonical paths: ldd names /lib/x86_64-linux-gnu/X (merged
# /usr); the image keeps each library under its soname in the real directory.
need=$(mktemp)
listed=$(mktemp)
trap 'rm -f "$need" "$listed"' EXIT
ldd "$bindir/nfsgw" "$bindir/nfsgwctl" | awk '/=>/ {print $3} /ld-linux/ {print $1}' | while read -r l; do
	echo "$(dirname "$(readlink -f "$l")")/$(basename "$l")"
done | LC_ALL=C sort -u > "$need"
grep '^lib ' "$files" | awk '{print $2}' | LC_ALL=C sort -u > "$listed"
if ! cmp -s "$need" "$listed"; then
	echo "rootfs.sh: the shared libraries of nfsgw and nfsgwctl differ from $files (< needed, > listed):" >&2
	diff "$need" "$listed" >&2 || true
	exit 1
fi

mkdir -p "$root"
grep -v '^#' "$files" | while read -r kind path mode uid gid target; do
	[ -n "$kind" ] || continue
	dst=$root$path
	mkdir -p "$(dirname "$dst")"
	case $kind in
	dir) mkdir -p "$dst" ;;
	link) ln -s "$target" "$dst" ;;
	bin) cp "$bindir/$(basename "$path")" "$dst" ;;
	lib | host) cp -L "$path" "$dst" ;;
	gen)
		case $path in
		/etc/passwd) printf 'root:x:0:0:root:/root:/sbin/nologin\nnfsgw:x:65532:65532:nfsgw:/var/lib/nfsgw:/sbin/nologin\n' > "$dst" ;;
		/etc/group) printf 'root:x:0:\nnfsgw:x:65532:\n' > "$dst" ;;
		*) echo "rootfs.sh: no generator for $path" >&2; exit 1 ;;
		esac ;;
	*) echo "rootfs.sh: unknown kind $kind ($path)" >&2; exit 1 ;;
	esac
	if [ "$kind" != link ]; then
		chmod "$mode" "$dst"
		chown "$uid:$gid" "$dst"
	fi
done
