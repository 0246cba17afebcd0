package k8sctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Termination is what a gateway does when it is told to stop.
type Termination int

const (
	// Restart keeps the gateway's membership and its clients' records and
	// drops its CephFS session at once: the pod that comes back with the
	// same ordinal resets the session and lets the clients reclaim.
	Restart Termination = iota
	// Drain leaves for good: no new clients, the current ones finish or
	// are evicted, then out of the grace database, records deleted, a clean
	// unmount. No gateway will come back with this ordinal.
	Drain
)

func (t Termination) String() string {
	if t == Drain {
		return "drain"
	}
	return "restart"
}

// DecideTermination is what a gateway with ordinal does on SIGTERM, given
// its StatefulSet's spec.replicas, or the error of asking for it. Only an
// answer that the ordinal is gone drains: anything unknown restarts, which
// loses nothing (the controller removes a member whose ordinal no longer
// exists), while a drain of a gateway that comes back would cost its
// clients their state.
func DecideTermination(ordinal int, replicas int32, err error) (Termination, string) {
	switch {
	case err != nil:
		return Restart, "replicas unknown (" + err.Error() + "): restart, the controller removes the member if the ordinal is gone"
	case ordinal >= int(replicas):
		return Drain, fmt.Sprintf("ordinal %d ≥ replicas %d: scaled down", ordinal, replicas)
	default:
		return Restart, fmt.Sprintf("ordinal %d < replicas %d: the pod comes back", ordinal, replicas)
	}
}

// PodIdentity splits a StatefulSet pod's name into its StatefulSet and
// ordinal.
func PodIdentity(pod string) (statefulSet string, ordinal int, err error) {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 {
		return "", 0, fmt.Errorf("pod name %q has no -ORDINAL suffix", pod)
	}
	n, ok := parseOrdinal(pod[i+1:])
	if !ok {
		return "", 0, fmt.Errorf("pod name %q has no -ORDINAL suffix", pod)
	}
	return pod[:i], n, nil
}

// saNamespace is where the in-cluster service account's namespace is.
const saNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Replicas asks the API server, with the pod's in-cluster credentials, for
// spec.replicas of the pod's StatefulSet, within timeout. The namespace is
// $POD_NAMESPACE, else the service account's.
func Replicas(ctx context.Context, pod string, timeout time.Duration) (int32, error) {
	sts, _, err := PodIdentity(pod)
	if err != nil {
		return 0, err
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		b, err := os.ReadFile(saNamespace)
		if err != nil {
			return 0, fmt.Errorf("namespace: set POD_NAMESPACE or mount the service account: %w", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return 0, err
	}
	cfg.Timeout = timeout
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	return StatefulSetReplicas(ctx, c, ns, sts, timeout)
}

// StatefulSetReplicas reads spec.replicas of a StatefulSet (1 when unset,
// the API's default) within timeout.
func StatefulSetReplicas(ctx context.Context, c kubernetes.Interface, ns, name string, timeout time.Duration) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := c.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, fmt.Errorf("statefulset %s/%s: %w", ns, name, err)
	}
	if s.DeletionTimestamp != nil {
		// Being deleted with its pods: nothing scales down, the whole
		// cluster stops, and a reinstall lets the clients reclaim.
		return 0, errors.New("statefulset " + name + " is being deleted")
	}
	if s.Spec.Replicas == nil {
		return 1, nil
	}
	return *s.Spec.Replicas, nil
}
