#!/usr/bin/env bash
# Builds the Kubernetes binaries that `make test-k8s` runs, from the Go module
# proxy (no registry, no release tarballs are reachable here).
#
# k8s.io/kubernetes's go.mod points its staging modules (client-go, api, ...)
# at ./staging directories that the published zip lacks, and a dependency's
# replace directives are ignored, so a scratch main module restates them at the
# matching published v0.MINOR.PATCH.
#
# Usage: scripts/k8s/build.sh [VERSION]   -> prints the binary directory
# Env:   NFSGW_K8S_CACHE (default $HOME/.cache/nfsgw/k8s), K8S_P (go build -p)
# A fresh 2-core machine pays about 26 CPU-minutes; later runs reuse the
# binaries (or the Go build cache).
set -euo pipefail

ver=${1:-v1.37.2}
cache=${NFSGW_K8S_CACHE:-$HOME/.cache/nfsgw/k8s}
bins="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"
minor=$(echo "$ver" | sed -E 's/^v1\.([0-9]+)\.([0-9]+)$/\1/')
patch=$(echo "$ver" | sed -E 's/^v1\.([0-9]+)\.([0-9]+)$/\2/')
[ -n "$minor" ] && [ "$minor" != "$ver" ] || { echo "build.sh: version must look like v1.37.2" >&2; exit 2; }
bindir=$cache/bin-$ver

have=1
for b in $bins; do [ -x "$bindir/$b" ] || have=0; done
if [ $have = 1 ]; then echo "$bindir"; exit 0; fi

mod=$cache/mod-$ver
mkdir -p "$mod" "$bindir"
cd "$mod"
export GOFLAGS=-mod=mod CGO_ENABLED=0
kgomod=$(go mod download -json "k8s.io/kubernetes@$ver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$kgomod" ] || { echo "build.sh: no go.mod for k8s.io/kubernetes@$ver" >&2; exit 1; }
{
	echo "module nfsgw.local/k8sbuild"
	echo
	echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$kgomod")"
	echo
	echo "require k8s.io/kubernetes $ver"
	echo
	echo "replace ("
	sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9.-]*\) => \./staging/src/.*#\1#p' "$kgomod" |
		while read -r m; do echo "	$m => $m v0.$minor.$patch"; done
	echo ")"
} >go.mod

pkgs=
for b in $bins; do pkgs="$pkgs k8s.io/kubernetes/cmd/$b"; done
v="-X k8s.io/component-base/version.gitVersion=$ver -X k8s.io/client-go/pkg/version.gitVersion=$ver"
v="$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
v="$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
v="$v -X k8s.io/component-base/version.gitTreeState=clean"
t0=$(date +%s)
# shellcheck disable=SC2086
nice -n 19 go build -p "${K8S_P:-2}" -trimpath -ldflags "-s -w $v" -o "$bindir/" $pkgs >&2
echo "build.sh: kubernetes $ver built in $(($(date +%s) - t0)) s" >&2
echo "$bindir"
