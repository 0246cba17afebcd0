#!/usr/bin/env bash
# pynfs.sh - run the pynfs NFSv4 conformance suite against a server and summarise it.
#
# Usage:
#   scripts/pynfs.sh [--minor 0|1|2] [--out FILE.json] SERVER:PORT/PATH [pynfs args...]
#   scripts/pynfs.sh --setup          # install packages, clone + build pynfs, then exit
#
#   --minor N   0 runs nfs4.0/testserver.py; 1 (default) and 2 run nfs4.1/testserver.py
#               with --minorversion=N. NB: pynfs's own default there is 2, which adds the
#               4.2 tests (XATTR, ...): "all" selects 197 tests at 2 but 183 at 1.
#   --out F     keep pynfs's JSON results in F (annotated with a "result" per test and a
#               "summary" by pynfs-summary.py); the full console log goes to F with .log
#               instead of .json. Default: /tmp/pynfs-4.N-YYYYmmdd-HHMMSS.json.
#   pynfs args  test codes / flags / options for testserver.py; default "all". Options only
#               (e.g. --rundeps) get "all" appended. Examples:
#                 scripts/pynfs.sh 127.0.0.1:2049/export                 # 4.1 all (~1-3 min)
#                 scripts/pynfs.sh --minor 0 127.0.0.1:2049/export       # 4.0 all (~6.5 min)
#                 scripts/pynfs.sh 127.0.0.1:2049/export SEQ6 EID9 --rundeps
#                 scripts/pynfs.sh 127.0.0.1:2049/export --rundeps --serverhelper=S reboot
#               ("reboot" is not in "all"; S is called with "reboot" and must restart the
#               server; keep grace >= lease.)
#   Always passed: --maketree --showomit --json=F. The server must accept AUTH_SYS uid 0
#   from unprivileged ports and export PATH read-write with no root squash.
#
# Exit status: 0 all requested tests passed (warnings allowed), 1 some failed,
# 2 usage/setup error or pynfs crashed before printing its result summary.
#
# Environment:
#   PYNFS_DIR   pynfs checkout (default ${XDG_CACHE_HOME:-~/.cache}/nfsgw/pynfs)
#   PYNFS_REPO  where --setup clones from (default https://github.com/kofemann/pynfs.git)
#   PYNFS_REF   commit --setup checks out (default: the one validated, see below)
#   PYNFS_PYTHON interpreter (default /usr/bin/python3: Debian's, which has ply and gssapi;
#               a python3 earlier on PATH, e.g. pyenv, usually lacks them)
#
# How pynfs gets onto a machine: it is a public GitHub repository (kofemann/pynfs, GPL-2.0),
# deliberately NOT vendored into this repo. Either run `scripts/pynfs.sh --setup` (needs
# network), or by hand:
#   apt-get install -y git python3-ply python3-gssapi python3-setuptools
#   git clone https://github.com/kofemann/pynfs.git "$PYNFS_DIR"
#   git -C "$PYNFS_DIR" checkout 3c14d9e3ad12272ab2f6092c85bb28ab03951484   # validated 2025-04
#   cd "$PYNFS_DIR" && PATH=/usr/bin:$PATH /usr/bin/python3 setup.py build
# ("setup.py build" only generates the XDR code in place, e.g. nfs4.1/xdrdef/nfs4_*.py; it
# re-invokes "python3" from PATH, hence the PATH prefix. Nothing is compiled, so
# python3-dev/gcc/swig/libkrb5-dev from pynfs's README are not needed with Debian's
# python3-gssapi.) Validated against NFS-Ganesha 4.3 (scripts/ganesha-vfs.sh): see the
# figures in docs/testing.md.
set -uo pipefail

PYNFS_VALIDATED_REF=3c14d9e3ad12272ab2f6092c85bb28ab03951484
# Per user, not a path of one machine.
PYNFS_DIR=${PYNFS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nfsgw/pynfs}
PYNFS_REPO=${PYNFS_REPO:-https://github.com/kofemann/pynfs.git}
PYNFS_REF=${PYNFS_REF:-$PYNFS_VALIDATED_REF}
PY=${PYNFS_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PKGS=(python3-ply python3-gssapi python3-setuptools)

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "pynfs.sh: $*" >&2; exit 2; }

ensure_pkgs() { # pkg...
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing Debian packages ${missing[*]} (run as root to install them)"
    echo "pynfs.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${missing[@]}" >&2 ||
        { apt-get update >&2 && apt-get install -y "${missing[@]}" >&2; } ||
        die "apt-get install ${missing[*]} failed"
}

is_built() {
    [ -f "$PYNFS_DIR/nfs4.1/xdrdef/nfs4_const.py" ] && [ -f "$PYNFS_DIR/nfs4.0/xdrdef/nfs4_const.py" ] &&
        [ -f "$PYNFS_DIR/rpc/gss_const.py" ] && [ -f "$PYNFS_DIR/nfs4.0/lib/rpc/rpc_const.py" ]
}

build_pynfs() {
    echo "pynfs.sh: building pynfs in $PYNFS_DIR (setup.py build)" >&2
    (cd "$PYNFS_DIR" && PATH=$(dirname "$PY"):$PATH "$PY" setup.py build) >"${TMPDIR:-/tmp}/pynfs-build.log" 2>&1 ||
        die "pynfs build failed, see ${TMPDIR:-/tmp}/pynfs-build.log"
    is_built || die "pynfs build did not generate the XDR modules, see ${TMPDIR:-/tmp}/pynfs-build.log"
}

setup() {
    ensure_pkgs "${PKGS[@]}" git
    if [ ! -d "$PYNFS_DIR/.git" ] && [ ! -f "$PYNFS_DIR/nfs4.1/testserver.py" ]; then
        git clone "$PYNFS_REPO" "$PYNFS_DIR" || die "git clone $PYNFS_REPO failed"
        git -C "$PYNFS_DIR" checkout -q "$PYNFS_REF" || die "cannot check out $PYNFS_REF"
    fi
    build_pynfs
    echo "pynfs ready in $PYNFS_DIR ($(git -C "$PYNFS_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'))"
}

minor=1; out=""
while [ $# -gt 0 ]; do
    case "$1" in
    --setup) setup; exit 0;;
    --minor) [ $# -ge 2 ] || usage; minor=$2; shift 2;;
    --minor=*) minor=${1#*=}; shift;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2;;
    --out=*) out=${1#*=}; shift;;
    -h|--help) usage;;
    --) shift; break;;
    -*) die "unknown option $1 (pynfs options go after SERVER:PORT/PATH)";;
    *) break;;
    esac
done
[ $# -ge 1 ] || usage
target=$1; shift
# --minor/--out may also follow the target; everything else goes to testserver.py
# (so pynfs's own "--out" alias of --outfile is not reachable: use --outfile).
rest=()
while [ $# -gt 0 ]; do
    case "$1" in
    --minor) [ $# -ge 2 ] || usage; minor=$2; shift 2;;
    --minor=*) minor=${1#*=}; shift;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2;;
    --out=*) out=${1#*=}; shift;;
    *) rest+=("$1"); shift;;
    esac
done
set -- ${rest[@]+"${rest[@]}"}
case "$minor" in 0|1|2) ;; *) die "--minor must be 0, 1 or 2";; esac
[[ "$target" == *:*/* || "$target" == */* ]] || die "target must look like HOST:PORT/PATH, got '$target'"

if [ ! -f "$PYNFS_DIR/nfs4.0/testserver.py" ] || [ ! -f "$PYNFS_DIR/nfs4.1/testserver.py" ]; then
    cat >&2 <<MSG
pynfs.sh: pynfs not found in PYNFS_DIR=$PYNFS_DIR
  pynfs is a public repository (https://github.com/kofemann/pynfs), not vendored here.
  Get it with:   scripts/pynfs.sh --setup        (clones $PYNFS_REPO, builds it)
  or clone it elsewhere and set PYNFS_DIR. See the comment at the top of this script.
MSG
    exit 2
fi
[ -x "$PY" ] || die "python interpreter $PY not found (set PYNFS_PYTHON)"
ensure_pkgs "${PKGS[@]}"
"$PY" -c 'import ply, gssapi' 2>/dev/null || die "$PY cannot import ply and gssapi (use Debian's /usr/bin/python3 or set PYNFS_PYTHON)"
is_built || build_pynfs

# Test selection: default "all"; if only options were given, append "all".
have_sel=0
for a in "$@"; do case "$a" in -*) ;; *) have_sel=1;; esac; done
[ $have_sel = 1 ] || set -- "$@" all

if [ -z "$out" ]; then out="${TMPDIR:-/tmp}/pynfs-4.$minor-$(date +%Y%m%d-%H%M%S).json"; fi
mkdir -p "$(dirname "$out")"; out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
log="${out%.json}.log"; [ "$log" = "$out" ] && log="$out.log"

if [ "$minor" = 0 ]; then
    cmd=("$PY" testserver.py "$target" --maketree --showomit --json="$out" "$@")
    cd "$PYNFS_DIR/nfs4.0" || die "cannot cd $PYNFS_DIR/nfs4.0"
else
    cmd=("$PY" testserver.py "$target" --minorversion="$minor" --maketree --showomit --json="$out" "$@")
    cd "$PYNFS_DIR/nfs4.1" || die "cannot cd $PYNFS_DIR/nfs4.1"
fi
rm -f "$out"
echo "pynfs.sh: NFSv4.$minor $target: ${cmd[*]:1}" >&2
echo "pynfs.sh: log $log" >&2
start=$(date +%s)
"${cmd[@]}" >"$log" 2>&1
rc=$?
echo "pynfs.sh: testserver.py exited $rc after $(( $(date +%s) - start )) s" >&2
if [ ! -s "$out" ]; then
    echo "pynfs.sh: no JSON written; last lines of $log:" >&2
    tail -15 "$log" >&2
    if grep -qE "Errno (9|111)|ConnectionRefused|Bad file descriptor" "$log"; then
        echo "pynfs.sh: could not connect: is an NFSv4 server listening on ${target%%/*}?" >&2
    fi
    "$PY" "$HERE/pynfs-summary.py" "$log" >&2
    exit 2
fi
"$PY" "$HERE/pynfs-summary.py" "$log" "$out"
src=$?
echo "results: $out"
exit $src
