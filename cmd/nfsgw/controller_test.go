package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"nfsgw/internal/k8sctl"
)

// The controller's configuration mistakes exit 2 with the reason, before
// it talks to anything.
func TestControllerUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "svc.yaml")
	if err := os.WriteFile(bad, []byte("type: ExternalName\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noCluster := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(noCluster, []byte("listen: [\"0.0.0.0:2049\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAMESPACE", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"controller", "--statefulset", "nfsgw"}, "--namespace is required"},
		{[]string{"controller", "--namespace", "ns"}, "--statefulset is required"},
		{[]string{"controller", "--namespace", "ns", "--statefulset", "nfsgw", "extra"}, "unexpected argument"},
		{[]string{"controller", "--namespace", "ns", "--statefulset", "nfsgw", "--service-config", bad}, "ExternalName"},
		{[]string{"controller", "--namespace", "ns", "--statefulset", "nfsgw", "--config", noCluster}, "no cluster.pool"},
		{[]string{"controller", "--namespace", "ns", "--statefulset", "nfsgw"}, "kubernetes credentials"},
	} {
		code, _, stderr := runCaptured(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestTermination(t *testing.T) {
	old, oldPod := replicas, podName
	defer func() { replicas, podName = old, oldPod }()
	for _, tc := range []struct {
		pod  string
		n    int32
		err  error
		want k8sctl.Termination
	}{
		{"nfsgw-1", 3, nil, k8sctl.Restart},
		{"nfsgw-3", 3, nil, k8sctl.Drain},
		{"nfsgw-3", 0, errors.New("dial tcp: i/o timeout"), k8sctl.Restart},
		{"nfsgw", 0, nil, k8sctl.Restart}, // not a StatefulSet pod name: never asked
	} {
		asked := false
		replicas = func(_ context.Context, pod string) (int32, error) {
			asked = true
			if pod != tc.pod {
				t.Errorf("asked for %s, not %s", pod, tc.pod)
			}
			return tc.n, tc.err
		}
		podName = tc.pod
		if got := termination(hclog.NewNullLogger()); got != tc.want {
			t.Errorf("%s, replicas %d, %v: %s, want %s", tc.pod, tc.n, tc.err, got, tc.want)
		}
		if asked != (tc.pod != "nfsgw") {
			t.Errorf("%s: asked the API server: %v", tc.pod, asked)
		}
	}
}
