#!/usr/bin/env bash
# Undoes what scripts/k8s/up.sh did in RUNDIR, and nothing else:
#   pods stopped by the kubelet (their netns mounts in /run/netns go with
#   them), processes stopped by their recorded PIDs (one at a time, each
#   checked to still be the program started), the bridge and route up.sh
#   made, the iptables chains of kube-proxy and the kubelet, mounts whose path
#   starts with RUNDIR/ (read from mountinfo, compared as a literal prefix),
#   and ip_forward as it was.
# A teardown once unmounted /proc and /sys of a whole machine because its
# path prefix was empty: every path here is checked before use.
# Usage: scripts/k8s/down.sh RUNDIR BINDIR [--wipe]
set -euo pipefail
arg=${1:-}
if [ -z "$arg" ] || [ ! -d "$arg" ]; then
	echo "down.sh: no run directory '$arg'; nothing to do" >&2
	exit 0
fi
run=$(cd "$arg" && pwd)
case "$run" in /tmp/?*) ;; *) echo "down.sh: refusing $run (not under /tmp)" >&2; exit 1 ;; esac
[ -f "$run/.nfsgw-k8s-run" ] || { echo "down.sh: $run has no .nfsgw-k8s-run marker; refusing" >&2; exit 1; }
bins=${2:?usage: down.sh RUNDIR BINDIR [--wipe]}
kubectl() { "$bins/kubectl" --kubeconfig="$run/pki/admin.kubeconfig" --request-timeout=5s "$@"; }

alive() { # NAME: the recorded PID still runs that program
	local f=$run/pid/$1 p
	[ -f "$f" ] || return 1
	p=$(cat "$f")
	[ -n "$p" ] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$1"
}
stop() { # NAME: SIGTERM, up to 20 s, then SIGKILL
	local f=$run/pid/$1 p
	if alive "$1"; then
		p=$(cat "$f")
		kill "$p" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		if kill -0 "$p" 2>/dev/null; then
			echo "down.sh: $1 ($p) still runs after 20 s: SIGKILL" >&2
			kill -KILL "$p" 2>/dev/null || true
		fi
	fi
	rm -f "$f"
}

# 1. The kubelet stops every pod (CNI DEL removes its netns and address).
if alive kubelet && alive kube-apiserver; then
	kubectl delete statefulsets,deployments,replicasets,daemonsets,jobs --all -A --wait=false >/dev/null 2>&1 || true
	kubectl delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || true
	for _ in $(seq 150); do
		[ "$(kubectl get pods -A --no-headers 2>/dev/null | wc -l)" = 0 ] && break
		sleep 0.2
	done
fi
# 2. The processes, in reverse order of start.
for n in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$n"; done
sock=$run/containerd/containerd.sock
if alive containerd && [ -S "$sock" ]; then
	for c in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
		ctr -a "$sock" -n k8s.io tasks kill -s KILL "$c" >/dev/null 2>&1 || true
	done
	for c in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
		ctr -a "$sock" -n k8s.io tasks rm -f "$c" >/dev/null 2>&1 || true
		ctr -a "$sock" -n k8s.io containers rm "$c" >/dev/null 2>&1 || true
	done
fi
stop containerd
# 3. Network: the bridge up.sh made (its route goes with it), the chains.
if [ -f "$run/bridge" ]; then
	br=$(cat "$run/bridge")
	[ -n "$br" ] && ip link del "$br" 2>/dev/null || true
fi
"$bins/kube-proxy" --cleanup >/dev/null 2>&1 || true
for ipt in iptables ip6tables; do
	$ipt -D INPUT -j KUBE-FIREWALL 2>/dev/null || true
	$ipt -D OUTPUT -j KUBE-FIREWALL 2>/dev/null || true
	for t in filter nat mangle; do
		for c in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
			$ipt -t "$t" -F "$c" 2>/dev/null || true
			$ipt -t "$t" -X "$c" 2>/dev/null || true
		done
	done
done
if [ -f "$run/ip_forward.before" ]; then
	v=$(cat "$run/ip_forward.before")
	case "$v" in 0 | 1) sysctl -qw "net.ipv4.ip_forward=$v" ;; esac
fi
# 4. Mounts below RUNDIR only: literal prefix "$run/", deepest first.
awk -v p="$run/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
	umount -l "$m" 2>/dev/null || true
done
if [ "${3:-}" = --wipe ]; then
	if awk -v p="$run/" 'index($5, p) == 1' /proc/self/mountinfo | grep -q .; then
		echo "down.sh: mounts remain below $run; not wiping" >&2
		exit 1
	fi
	rm -rf --one-file-system "$run"
fi
echo "down.sh: $run torn down"
