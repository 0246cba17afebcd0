#!/usr/bin/env bash
# Starts a one-node Kubernetes on this machine for make test-k8s: Debian's
# containerd with a private root and socket, a bridge for pods, and etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kube-proxy as host processes whose PIDs are recorded in RUNDIR.
#
# Usage: scripts/k8s/up.sh RUNDIR BINDIR IMAGEDIR
#   RUNDIR   must exist, be empty, and lie under /tmp (down.sh checks the marker
#            written here before it touches anything)
#   BINDIR   the Kubernetes binaries (scripts/k8s/build.sh)
#   IMAGEDIR OCI archives (*.tar) to import; pause.tar is the sandbox image
#
# Pod and service CIDRs live only on the bridge made here, routed there before
# any pod exists; pods get no masquerade and a resolver on their own loopback.
set -euo pipefail
run=${1:?usage: up.sh RUNDIR BINDIR IMAGEDIR}
bins=${2:?usage: up.sh RUNDIR BINDIR IMAGEDIR}
imgs=${3:?usage: up.sh RUNDIR BINDIR IMAGEDIR}
[ -d "$run" ] || { echo "up.sh: $run is not a directory" >&2; exit 2; }
run=$(cd "$run" && pwd)
case "$run" in /tmp/?*) ;; *) echo "up.sh: RUNDIR must lie under /tmp, not $run" >&2; exit 2 ;; esac
[ -z "$(ls -A "$run")" ] || { echo "up.sh: $run is not empty" >&2; exit 2; }
bins=$(cd "$bins" && pwd)
bridge=${NFSGW_K8S_BRIDGE:-nfsgwk8s0}
pod_cidr=10.244.0.0/24 host_ip=10.244.0.1 svc_cidr=10.96.0.0/24
if ip link show "$bridge" >/dev/null 2>&1; then
	echo "up.sh: a bridge $bridge already exists (another run?)" >&2
	exit 1
fi
for p in 2379 2380 6443 10250 10256 10249; do
	if ss -Htln "sport = :$p" | grep -q .; then echo "up.sh: port $p is in use" >&2; exit 1; fi
done

touch "$run/.nfsgw-k8s-run"
mkdir -p "$run/log" "$run/pid" "$run/containerd" "$run/cni/net.d" "$run/etcd" "$run/kubelet" "$run/pki"
t0=$(date +%s.%N)
elapsed() { printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)"; }
start() { # NAME CMD...: start in the background, PID recorded
	local name=$1
	shift
	nohup "$@" >"$run/log/$name.log" 2>&1 &
	echo $! >"$run/pid/$name"
}

# What this run changes on the host, so down.sh undoes exactly that.
echo "$bridge" >"$run/bridge"
sysctl -n net.ipv4.ip_forward >"$run/ip_forward.before"
sysctl -qw net.ipv4.ip_forward=1
ip link add "$bridge" type bridge
ip addr add "$host_ip/24" dev "$bridge"
ip link set "$bridge" up
ip route add "$svc_cidr" dev "$bridge"

# PKI (openssl): a CA, the service-account key, a certificate per component.
node=$(hostname)
(
	cd "$run/pki"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj /CN=nfsgw-k8s-test -days 2 -out ca.crt 2>/dev/null
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	issue() { # NAME SUBJECT [SAN]
		openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
		if [ -n "${3:-}" ]; then
			printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$1.ext"
		else
			printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"
		fi
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
		rm -f "$1.csr" "$1.ext"
	}
	issue apiserver /CN=kube-apiserver "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$host_ip,IP:10.96.0.1"
	issue kubelet-serving "/CN=$node" "DNS:$node,IP:$host_ip,IP:127.0.0.1"
	issue admin "/O=system:masters/CN=nfsgw-test-admin"
	issue apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client"
	issue controller-manager /CN=system:kube-controller-manager
	issue scheduler /CN=system:kube-scheduler
	issue kube-proxy /CN=system:kube-proxy
	issue kubelet "/O=system:nodes/CN=system:node:$node"
	for u in admin controller-manager scheduler kube-proxy kubelet; do
		cat >"$u.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {certificate-authority: $run/pki/ca.crt, server: "https://$host_ip:6443"}}]
users: [{name: $u, user: {client-certificate: $run/pki/$u.crt, client-key: $run/pki/$u.key}}]
contexts: [{name: test, context: {cluster: test, user: $u}}]
current-context: test
KC
	done
)
pki=$run/pki

# containerd: private root, state and socket; cgroupfs; the sandbox image is
# the harness's own pause. This VM drops CAP_SYS_RESOURCE from every bounding
# set, so runc cannot lower oom_score_adj: restrict_oom_score_adj clamps it.
cni_bin=$(dirname "$(dpkg -L containernetworking-plugins | grep '/bridge$' | head -1)")
cat >"$run/containerd/config.toml" <<TOML
version = 2
root = "$run/containerd/root"
state = "$run/containerd/state"
[grpc]
  address = "$run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "nfsgw.local/pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$run/cni/net.d"
TOML
cat >"$run/cni/net.d/10-nfsgw-test.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "nfsgw-test-pods", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$run/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
JSON
start containerd containerd --config "$run/containerd/config.toml"
sock=$run/containerd/containerd.sock
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "up.sh: containerd did not start (log: $run/log/containerd.log)" >&2; exit 1; }
for t in "$imgs"/*.tar; do
	ctr -a "$sock" -n k8s.io images import "$t" >/dev/null
done
echo "up.sh: containerd up, images: $(ctr -a "$sock" -n k8s.io images ls -q | tr '\n' ' ')($(elapsed) s)"

start etcd etcd --name test --data-dir "$run/etcd" \
	--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
	--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
	--initial-cluster test=http://127.0.0.1:2380
for _ in $(seq 100); do curl -sf http://127.0.0.1:2379/health >/dev/null && break; sleep 0.2; done

start kube-apiserver "$bins/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
	--advertise-address="$host_ip" --bind-address="$host_ip" --secure-port=6443 --service-cluster-ip-range="$svc_cidr" \
	--client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
	--kubelet-client-certificate="$pki/apiserver-kubelet.crt" --kubelet-client-key="$pki/apiserver-kubelet.key" \
	--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local --authorization-mode=Node,RBAC \
	--kubelet-preferred-address-types=InternalIP
kubectl() { "$bins/kubectl" --kubeconfig="$pki/admin.kubeconfig" "$@"; }
for _ in $(seq 300); do kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.2; done
kubectl get --raw /readyz >/dev/null || { echo "up.sh: kube-apiserver not ready (log: $run/log/kube-apiserver.log)" >&2; exit 1; }
echo "up.sh: kube-apiserver ready ($(elapsed) s)"

start kube-controller-manager "$bins/kube-controller-manager" --kubeconfig="$pki/controller-manager.kubeconfig" \
	--authentication-kubeconfig="$pki/controller-manager.kubeconfig" --authorization-kubeconfig="$pki/controller-manager.kubeconfig" \
	--service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" --use-service-account-credentials=true \
	--leader-elect=false --bind-address=127.0.0.1 --secure-port=10257
start kube-scheduler "$bins/kube-scheduler" --kubeconfig="$pki/scheduler.kubeconfig" \
	--authentication-kubeconfig="$pki/scheduler.kubeconfig" --authorization-kubeconfig="$pki/scheduler.kubeconfig" \
	--leader-elect=false --bind-address=127.0.0.1 --secure-port=10259

# Pods resolve nothing: their resolver is their own loopback.
echo "nameserver 127.0.0.1" >"$run/kubelet/resolv.conf"
cat >"$run/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: "$pki/ca.crt"}}
authorization: {mode: Webhook}
tlsCertFile: "$pki/kubelet-serving.crt"
tlsPrivateKeyFile: "$pki/kubelet-serving.key"
containerRuntimeEndpoint: "unix://$sock"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
resolvConf: "$run/kubelet/resolv.conf"
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 30
healthzBindAddress: 127.0.0.1
podLogsDir: "$run/pod-logs"
address: "$host_ip"
YAML
start kubelet "$bins/kubelet" --config="$run/kubelet/config.yaml" --kubeconfig="$pki/kubelet.kubeconfig" \
	--root-dir="$run/kubelet" --node-ip="$host_ip" --hostname-override="$node"
start kube-proxy "$bins/kube-proxy" --kubeconfig="$pki/kube-proxy.kubeconfig" --proxy-mode=iptables \
	--cluster-cidr="$pod_cidr" --hostname-override="$node" --conntrack-max-per-core=0 \
	--metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
for _ in $(seq 300); do
	kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True && break
	sleep 0.2
done
kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' | grep -q True ||
	{ echo "up.sh: node not Ready (log: $run/log/kubelet.log)" >&2; exit 1; }
echo "up.sh: node $node Ready ($(elapsed) s); kubeconfig $pki/admin.kubeconfig"
