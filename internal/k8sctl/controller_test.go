package k8sctl

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// TestController runs the whole controller (leader election, informers,
// Plan, Runner) against a fake API server through an install and a
// scale-down. It waits for what it expects by the clientset's reactors,
// never by time; the deadline only stops a broken controller.
func TestController(t *testing.T) {
	two := int32(2)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "nfsgw", Namespace: "ns", UID: "sts-uid"},
		Spec: appsv1.StatefulSetSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: testSelector}}}
	pod := func(n int) *corev1.Pod { p := testPod(n, false); p.Namespace = "ns"; return p }
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unrelated-0", Namespace: "ns", Labels: map[string]string{"app": "x"}}}
	c := newFake(sts, pod(0), pod(1), other)
	created := make(chan string, 10)
	deleted := make(chan string, 10)
	c.PrependReactor("create", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created <- a.(k8stesting.CreateAction).GetObject().(*corev1.Service).Name
		return false, nil, nil
	})
	c.PrependReactor("delete", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		deleted <- a.(k8stesting.DeleteAction).GetName()
		return false, nil, nil
	})
	mem := &fakeMembers{m: map[string]Member{"gw0": {Live: true}, "gw1": {}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Client: c, Namespace: "ns", StatefulSet: "nfsgw", NodeIDPrefix: "gw", Services: defaultConfig(),
			Members: mem, Log: hclog.NewNullLogger(), Identity: "ctl-a", Lease: "nfsgw-controller"})
	}()
	deadline := time.After(60 * time.Second)
	wait := func(ch chan string, want string) {
		t.Helper()
		for {
			select {
			case got := <-ch:
				if got == want {
					return
				}
			case err := <-done:
				t.Fatalf("controller stopped: %v", err)
			case <-deadline:
				t.Fatalf("no %s", want)
			}
		}
	}
	wait(created, "nfsgw-0")
	wait(created, "nfsgw-1")

	// Scale down to 1: gw1's pod goes without draining (its member is not
	// live), so it is removed and then its Service.
	one := int32(1)
	sts.Spec.Replicas = &one
	if _, err := c.AppsV1().StatefulSets("ns").Update(ctx, sts, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Pods("ns").Delete(ctx, "nfsgw-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(deleted, "nfsgw-1")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := c.CoreV1().Services("ns").Get(context.Background(), "nfsgw-0", metav1.GetOptions{}); err != nil {
		t.Errorf("nfsgw-0: %v", err)
	}
	s, _ := c.CoreV1().Services("ns").Get(context.Background(), "nfsgw-0", metav1.GetOptions{})
	if s != nil && (len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "sts-uid") {
		t.Errorf("owner references %+v", s.OwnerReferences)
	}
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if _, ok := mem.m["gw1"]; ok {
		t.Error("gw1 still a member")
	}
	l, err := c.CoordinationV1().Leases("ns").Get(context.Background(), "nfsgw-controller", metav1.GetOptions{})
	if err != nil {
		t.Errorf("no leader lease: %v", err)
	} else if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
		t.Errorf("lease still held by %q after a clean stop", *l.Spec.HolderIdentity)
	}
}
