#!/usr/bin/env bash
# libnfs-smoke.sh - exercise Debian's libnfs-utils 4.0 (nfs-ls, nfs-cat, nfs-cp) against an
# NFSv4.0 server and check the behaviour recorded in scripts/libnfs-notes.txt.
#
# Usage: scripts/libnfs-smoke.sh HOST PORT PSEUDO_DIR [LOCAL_EXPORT_DIR]
#   e.g. scripts/libnfs-smoke.sh 127.0.0.1 20490 /export /tmp/gan/export
# PSEUDO_DIR must be an existing directory on the server, writable by uid 0 (no root squash).
# Files named smoke<PID>.* are created in it and left behind (nfs-cp cannot delete).
# LOCAL_EXPORT_DIR (optional) is the same directory seen locally (e.g. Ganesha's VFS export):
# it lets the script also check a 3 MB read of a file it writes there directly.
# Prints one line per check: ok/FAIL, what was run, exit code. Exit 1 if any check failed.
set -uo pipefail
host=${1:?host}; port=${2:?port}; pseudo=${3:?pseudo dir}; local_dir=${4:-}
command -v nfs-ls >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y libnfs-utils >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y libnfs-utils >&2; }; }
q="?version=4&nfsport=$port"
base="nfs://$host${pseudo%/}"
tag="smoke$$"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # desc expected_rc actual_rc [extra condition result 0/1]
    local desc=$1 want=$2 got=$3 extra=${4:-0}
    if [ "$got" = "$want" ] && [ "$extra" = 0 ]; then echo "ok   rc=$got $desc"; else echo "FAIL rc=$got (want $want) $desc"; fails=$((fails+1)); fi
}
run() { "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; }

printf 'hello libnfs\n' >"$tmp/small"
head -c 3944 /dev/urandom >"$tmp/max"
head -c 3945 /dev/urandom >"$tmp/over"

rc=$(run nfs-ls "$base/$q"); check "nfs-ls $base/$q" 0 "$rc"
rc=$(run nfs-cp "$tmp/small" "$base/$tag.txt$q")
check "nfs-cp upload -> stdout 'copied 13 bytes'" 0 "$rc" "$(grep -qx 'copied 13 bytes' "$tmp/out"; echo $?)"
rc=$(run nfs-ls "$base/$q")
check "nfs-ls lists '-rw-rw----  1 UID GID 13 $tag.txt'" 0 "$rc" \
    "$(grep -Eq "^-rw-rw---- +1 +[0-9]+ +[0-9]+ +13 $tag.txt\$" "$tmp/out"; echo $?)"
rc=$(run nfs-cat "$base/$tag.txt$q"); check "nfs-cat prints the content" 0 "$rc" "$(cmp -s "$tmp/out" "$tmp/small"; echo $?)"
rc=$(run nfs-cp "$base/$tag.txt$q" "$tmp/down"); check "nfs-cp download" 0 "$rc" "$(cmp -s "$tmp/down" "$tmp/small"; echo $?)"
rc=$(run nfs-cp "$base/$tag.txt$q" "$tmp/down"); check "nfs-cp download onto existing local file fails (local O_EXCL)" 10 "$rc"
rc=$(run nfs-cp "$tmp/small" "$base/$tag.txt$q")
check "nfs-cp upload onto existing file fails with NFS4ERR_EXIST" 10 "$rc" "$(grep -q 'NFS4ERR_EXIST' "$tmp/err"; echo $?)"
rc=$(run nfs-cat "$base/$tag-missing$q")
check "nfs-cat missing file -> NFS4ERR_NOENT on stderr" 10 "$rc" "$(grep -q 'NFS4ERR_NOENT' "$tmp/err"; echo $?)"
rc=$(run nfs-ls "$base/$tag-missing/$q")
check "nfs-ls missing dir -> exit 254 'Failed to mount nfs share'" 254 "$rc" "$(grep -q 'NFS4ERR_NOENT' "$tmp/err"; echo $?)"
rc=$(run nfs-cp "$tmp/max" "$base/$tag.max$q"); check "nfs-cp upload of 3944 bytes" 0 "$rc"
rc=$(run nfs-cat "$base/$tag.max$q"); check "nfs-cat of the 3944-byte file" 0 "$rc" "$(cmp -s "$tmp/out" "$tmp/max"; echo $?)"
rc=$(run nfs-cp "$tmp/over" "$base/$tag.over$q")
check "nfs-cp upload of 3945 bytes fails client-side ('Failed to write to dest file')" 10 "$rc" \
    "$(grep -q 'Failed to write to dest file' "$tmp/err"; echo $?)"
rc=$(run nfs-ls "$base/$q")
check "... and leaves an empty $tag.over behind" 0 "$rc" "$(grep -Eq " 0 $tag.over\$" "$tmp/out"; echo $?)"
if [ -n "$local_dir" ]; then
    head -c 3000000 /dev/urandom >"$local_dir/$tag.big"
    rc=$(run nfs-cat "$base/$tag.big$q"); check "nfs-cat of a 3 MB file" 0 "$rc" "$(cmp -s "$tmp/out" "$local_dir/$tag.big"; echo $?)"
    rm -f "$local_dir/$tag.big"
fi
echo "$fails check(s) failed"
[ $fails = 0 ]
