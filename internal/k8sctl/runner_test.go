package k8sctl

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeMembers is a grace database in a map, with Remove's refusal of a
// live member.
type fakeMembers struct {
	mu      sync.Mutex
	m       map[string]Member
	failFor string
	removed []string
}

func (f *fakeMembers) Read(context.Context) (map[string]Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.m), nil
}

func (f *fakeMembers) Remove(_ context.Context, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if node == f.failFor {
		return errors.New("RADOS says no")
	}
	if m, ok := f.m[node]; ok && m.Live {
		return errors.New(node + " is live")
	}
	delete(f.m, node)
	f.removed = append(f.removed, node)
	return nil
}

// newFake is a clientset whose Services get a cluster IP on creation, as
// the API server's allocator gives them.
func newFake(objs ...runtime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	n := 0
	c.PrependReactor("create", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.CreateAction).GetObject().(*corev1.Service)
		n++
		s.Spec.ClusterIP = testIP(50 + n)
		return false, nil, nil
	})
	return c
}

// observe builds Observed from the clientset, as the controller does from
// its informers.
func observe(t *testing.T, c *fake.Clientset, mem Members, replicas int32) Observed {
	t.Helper()
	ctx := context.Background()
	o := observed(replicas)
	pods, err := c.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		o.Pods = append(o.Pods, &pods.Items[i])
	}
	svcs, err := c.CoreV1().Services("ns").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range svcs.Items {
		o.Services = append(o.Services, &svcs.Items[i])
	}
	if o.Members, err = mem.Read(ctx); err != nil {
		t.Fatal(err)
	}
	return o
}

func events(t *testing.T, c *fake.Clientset) map[string][]string {
	t.Helper()
	l, err := c.CoreV1().Events("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range l.Items {
		k := e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name
		out[k] = append(out[k], e.Type+" "+e.Reason)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

func TestRunner(t *testing.T) {
	ctx := context.Background()
	pod := func(n int) *corev1.Pod { p := testPod(n, false); p.Namespace = "ns"; return p }
	gone := testService(3)
	gone.Namespace = "ns"
	c := newFake(pod(0), pod(1), gone)
	mem := &fakeMembers{m: map[string]Member{"gw0": {Live: true}, "gw1": {Live: true}, "gw3": {}}}
	now := time.Date(2026, 12, 5, 17, 0, 0, 0, time.UTC)
	r := &Runner{Client: c, Namespace: "ns", Members: mem, Log: hclog.NewNullLogger(), Now: func() time.Time { return now }, Host: "test"}

	// Scale-down 4→2 finished for gw3 (pod gone, not live) while 0 and 1
	// are new: their Services are created, gw3 removed, its Service deleted.
	o := observe(t, c, mem, 2)
	acts := Plan(o)
	if err := r.Run(ctx, o, acts); err != nil {
		t.Fatal(err)
	}
	svcs, _ := c.CoreV1().Services("ns").List(ctx, metav1.ListOptions{})
	var got []string
	for _, s := range svcs.Items {
		got = append(got, s.Name+" "+s.Spec.ClusterIP)
	}
	if want := []string{"nfsgw-0 " + testIP(51), "nfsgw-1 " + testIP(52)}; !slices.Equal(got, want) {
		t.Errorf("Services %q, want %q", got, want)
	}
	if !slices.Equal(mem.removed, []string{"gw3"}) {
		t.Errorf("removed %v", mem.removed)
	}
	ev := events(t, c)
	if want := []string{"Normal MemberRemoved", "Normal ServiceCreated", "Normal ServiceCreated", "Normal ServiceDeleted"}; !slices.Equal(ev["StatefulSet/nfsgw"], want) {
		t.Errorf("StatefulSet events %q, want %q", ev["StatefulSet/nfsgw"], want)
	}
	if want := []string{"Normal ServiceCreated"}; !slices.Equal(ev["Pod/nfsgw-0"], want) {
		t.Errorf("pod events %q, want %q", ev["Pod/nfsgw-0"], want)
	}

	// Next reconcile: the pods learn their Services' addresses.
	o = observe(t, c, mem, 2)
	if err := r.Run(ctx, o, Plan(o)); err != nil {
		t.Fatal(err)
	}
	p, err := c.CoreV1().Pods("ns").Get(ctx, "nfsgw-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Status.Conditions) != 1 {
		t.Fatalf("conditions %+v", p.Status.Conditions)
	}
	cond := p.Status.Conditions[0]
	if cond.Type != ServiceReady || cond.Status != corev1.ConditionTrue || cond.Message != "Service nfsgw-1 at "+testIP(52) ||
		!cond.LastTransitionTime.Time.Equal(now) {
		t.Errorf("condition %+v", cond)
	}
	// And then nothing is left to do.
	o = observe(t, c, mem, 2)
	if acts := Plan(o); len(acts) > 0 {
		t.Errorf("after two reconciles: %v", acts)
	}
}

func TestRunnerSkipsTheRestOfAFailedOrdinal(t *testing.T) {
	ctx := context.Background()
	s3, s4 := testService(3), testService(4)
	s3.Namespace, s4.Namespace = "ns", "ns"
	c := newFake(s3, s4)
	mem := &fakeMembers{m: map[string]Member{"gw3": {}, "gw4": {}}, failFor: "gw3"}
	r := &Runner{Client: c, Namespace: "ns", Members: mem, Log: hclog.NewNullLogger()}
	o := observe(t, c, mem, 0)
	err := r.Run(ctx, o, Plan(o))
	if err == nil {
		t.Fatal("no error")
	}
	// gw3 stays with its Service; gw4 went on.
	if _, err := c.CoreV1().Services("ns").Get(ctx, "nfsgw-3", metav1.GetOptions{}); err != nil {
		t.Errorf("nfsgw-3 deleted although its member could not be removed: %v", err)
	}
	if _, err := c.CoreV1().Services("ns").Get(ctx, "nfsgw-4", metav1.GetOptions{}); err == nil {
		t.Error("nfsgw-4 kept")
	}
	ev := events(t, c)["StatefulSet/nfsgw"]
	if want := []string{"Normal MemberRemoved", "Normal ServiceDeleted", "Warning FailedRemoveMember"}; !slices.Equal(ev, want) {
		t.Errorf("events %q, want %q", ev, want)
	}
}

func TestRunnerDeleteIsPreconditioned(t *testing.T) {
	// A Service recreated under the same name since the observation (a
	// new UID) must not be deleted: the delete asserts the observed UID
	// (the fake clientset does not check preconditions, so the test
	// checks that the runner sends it).
	ctx := context.Background()
	s := testService(3)
	s.Namespace = "ns"
	c := newFake(s)
	var sent *metav1.Preconditions
	c.PrependReactor("delete", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sent = a.(k8stesting.DeleteActionImpl).DeleteOptions.Preconditions
		return false, nil, nil
	})
	r := &Runner{Client: c, Namespace: "ns", Log: hclog.NewNullLogger()}
	if err := r.Run(ctx, observed(0), []Action{DeleteService{Ord: 3, Name: "nfsgw-3", UID: s.UID}}); err != nil {
		t.Fatal(err)
	}
	if sent == nil || sent.UID == nil || *sent.UID != s.UID {
		t.Errorf("delete preconditions %+v, want UID %s", sent, s.UID)
	}
	// Already gone is done.
	if err := r.Run(ctx, observed(0), []Action{DeleteService{Ord: 5, Name: "nfsgw-5", UID: "x"}}); err != nil {
		t.Error(err)
	}
}

func TestClip(t *testing.T) {
	if got := clip("ééé", 5); got != "..." && got != "é..." {
		t.Errorf("clip = %q", got)
	}
	if got := clip("abc", 5); got != "abc" {
		t.Errorf("clip = %q", got)
	}
}

// An update that lost a race with another writer is planned again from the
// new version: an error for the caller, but no Warning event; a failure
// that repeats the same way is reported once.
func TestRunnerConflictsAndRepeatedFailures(t *testing.T) {
	ctx := context.Background()
	s0 := testService(0)
	s0.Namespace = "ns"
	c := newFake(s0)
	c.PrependReactor("update", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "services"}, "nfsgw-0", errors.New("changed"))
	})
	r := &Runner{Client: c, Namespace: "ns", Log: hclog.NewNullLogger()}
	o := observe(t, c, &fakeMembers{}, 1)
	o.Config.Annotations = map[string]string{"a": "1"}
	acts := Plan(o)
	if err := r.Run(ctx, o, acts); err == nil {
		t.Fatal("no error from a conflict")
	}
	if ev := events(t, c)["StatefulSet/nfsgw"]; len(ev) != 0 {
		t.Errorf("events after a conflict: %q", ev)
	}

	mem := &fakeMembers{m: map[string]Member{"gw3": {}}, failFor: "gw3"}
	r.Members = mem
	o = observe(t, c, mem, 1)
	o.Config.Annotations = nil
	for range 3 {
		r.Run(ctx, o, Plan(o))
	}
	if ev := events(t, c)["StatefulSet/nfsgw"]; !slices.Equal(ev, []string{"Warning FailedRemoveMember"}) {
		t.Errorf("events after three identical failures: %q", ev)
	}
}
