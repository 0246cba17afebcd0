package k8sctl

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var testSelector = map[string]string{"app.kubernetes.io/name": "nfsgw", "app.kubernetes.io/instance": "nfsgw"}

func testPod(n int, serviceReady bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nfsgw-" + strconv.Itoa(n), UID: types.UID("pod-" + strconv.Itoa(n)),
		Labels: maps.Clone(testSelector)}}
	if serviceReady {
		p.Status.Conditions = []corev1.PodCondition{{Type: ServiceReady, Status: corev1.ConditionTrue, Reason: "ServiceHasAddress",
			Message: "Service nfsgw-" + strconv.Itoa(n) + " at " + testIP(n)}}
	}
	return p
}

func testIP(n int) string { return "10.96.0." + strconv.Itoa(100+n) }

// testService is ordinal n's Service as the API server returns it for the
// default configuration.
func testService(n int) *corev1.Service {
	s := desiredService(Observed{StatefulSet: "nfsgw", Selector: testSelector, Config: defaultConfig()}, n)
	assign(s, n)
	return s
}

// assign does what the API server (and, for a LoadBalancer with a
// requested address, the load-balancer implementation) does to a created
// Service.
func assign(s *corev1.Service, n int) {
	s.UID = types.UID("svc-" + strconv.Itoa(n))
	s.ResourceVersion = "1"
	s.Spec.ClusterIP = testIP(n)
	if s.Spec.Type != corev1.ServiceTypeClusterIP && s.Spec.Ports[0].NodePort == 0 {
		s.Spec.Ports[0].NodePort = int32(30000 + n)
	}
	if s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.LoadBalancerIP != "" {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: s.Spec.LoadBalancerIP}}
	}
}

func defaultConfig() ServiceConfig {
	c, err := ParseServiceConfig([]byte("{}"))
	if err != nil {
		panic(err)
	}
	return c
}

func observed(replicas int32) Observed {
	return Observed{StatefulSet: "nfsgw", StatefulSetUID: "sts", Replicas: replicas, Selector: testSelector,
		NodeIDPrefix: "gw", Config: defaultConfig(), Members: map[string]Member{}, MembersKnown: true}
}

func (o Observed) withPods(ns ...int) Observed {
	for _, n := range ns {
		o.Pods = append(o.Pods, testPod(n, true))
	}
	return o
}

func (o Observed) withServices(ns ...int) Observed {
	for _, n := range ns {
		o.Services = append(o.Services, testService(n))
	}
	return o
}

func (o Observed) withMembers(live bool, ns ...int) Observed {
	o.Members = maps.Clone(o.Members)
	for _, n := range ns {
		o.Members["gw"+strconv.Itoa(n)] = Member{Live: live}
	}
	return o
}

// names lists the actions other than Events, which checkEvents covers.
func names(acts []Action) []string {
	var out []string
	for _, a := range acts {
		if _, ok := a.(Event); !ok {
			out = append(out, a.String())
		}
	}
	return out
}

// checkEvents: every change is followed by an Event on the StatefulSet
// (a condition: on its pod) before the next change.
func checkEvents(t *testing.T, acts []Action) {
	t.Helper()
	for i, a := range acts {
		if _, ok := a.(Event); ok {
			continue
		}
		if i+1 >= len(acts) {
			t.Errorf("%s: no Event after it", a)
			continue
		}
		ev, ok := acts[i+1].(Event)
		if !ok || ev.Ord != a.Ordinal() {
			t.Errorf("%s: followed by %v, not its Event", a, acts[i+1])
			continue
		}
		want := "StatefulSet"
		if _, ok := a.(SetPodCondition); ok {
			want = "Pod"
		}
		if ev.Object.Kind != want || ev.Reason == "" || ev.Message == "" {
			t.Errorf("%s: event %+v", a, ev)
		}
	}
}

// apply is the state after acts, as the API server and the grace
// database would make it.
func apply(t *testing.T, o Observed, acts []Action) Observed {
	t.Helper()
	o.Members = maps.Clone(o.Members)
	pods := map[string]*corev1.Pod{}
	for _, p := range o.Pods {
		pods[p.Name] = p.DeepCopy()
	}
	svcs := map[string]*corev1.Service{}
	for _, s := range o.Services {
		svcs[s.Name] = s.DeepCopy()
	}
	for _, a := range acts {
		switch a := a.(type) {
		case CreateService:
			if svcs[a.Service.Name] != nil {
				t.Fatalf("%s: exists", a)
			}
			s := a.Service.DeepCopy()
			assign(s, a.Ord)
			svcs[s.Name] = s
		case UpdateService:
			old := svcs[a.Service.Name]
			if old == nil || old.UID != a.Service.UID || old.Spec.ClusterIP != a.Service.Spec.ClusterIP {
				t.Fatalf("%s: not an update of the observed Service", a)
			}
			svcs[a.Service.Name] = a.Service.DeepCopy()
		case DeleteService:
			if svcs[a.Name] == nil || svcs[a.Name].UID != a.UID {
				t.Fatalf("%s: no such Service", a)
			}
			delete(svcs, a.Name)
		case RemoveMember:
			if m, ok := o.Members[a.Node]; !ok || m.Live {
				t.Fatalf("%s: member %+v (in db: %v)", a, m, ok)
			}
			delete(o.Members, a.Node)
		case SetPodCondition:
			p := pods[a.Pod]
			p.Status.Conditions = slices.DeleteFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == ServiceReady })
			p.Status.Conditions = append(p.Status.Conditions, a.Condition)
		case Event:
		default:
			t.Fatalf("unknown action %T", a)
		}
	}
	o.Pods, o.Services = nil, nil
	for _, k := range slices.Sorted(maps.Keys(pods)) {
		o.Pods = append(o.Pods, pods[k])
	}
	for _, k := range slices.Sorted(maps.Keys(svcs)) {
		o.Services = append(o.Services, svcs[k])
	}
	return o
}

// converge applies plans until one is empty: the second plan may only
// report conditions of Services the first created (their address comes
// from the API server), the third must be empty.
func converge(t *testing.T, o Observed, first []Action) Observed {
	t.Helper()
	o = apply(t, o, first)
	second := Plan(o)
	for _, a := range second {
		switch a := a.(type) {
		case SetPodCondition, Event:
		default:
			t.Errorf("not idempotent: after %v, plan %v", names(first), a)
		}
	}
	o = apply(t, o, second)
	if third := Plan(o); len(third) > 0 {
		t.Errorf("not idempotent: after two plans, %v", third)
	}
	return o
}

func TestPlan(t *testing.T) {
	unready := observed(3)
	for n := range 3 {
		unready.Pods = append(unready.Pods, testPod(n, false))
	}
	noDB := observed(2).withPods(0, 1, 2).withServices(0, 1, 2, 3)
	noDB.Members, noDB.MembersKnown = nil, false

	tests := []struct {
		name string
		obs  Observed
		want []string
	}{
		{"install: Services before any pod", observed(3),
			[]string{"create service nfsgw-0", "create service nfsgw-1", "create service nfsgw-2"}},
		{"pods not ready yet: Services created anyway", unready,
			[]string{"create service nfsgw-0", "create service nfsgw-1", "create service nfsgw-2"}},
		{"steady state", observed(3).withPods(0, 1, 2).withServices(0, 1, 2).withMembers(true, 0, 1, 2), nil},
		{"restart: pod 1 deleted, its member not live: Service untouched, member kept",
			observed(3).withPods(0, 2).withServices(0, 1, 2).withMembers(true, 0, 2).withMembers(false, 1), nil},
		{"scale up 3→5", observed(5).withPods(0, 1, 2).withServices(0, 1, 2).withMembers(true, 0, 1, 2),
			[]string{"create service nfsgw-3", "create service nfsgw-4"}},
		{"scale down 5→2, all draining: everything kept",
			observed(2).withPods(0, 1, 2, 3, 4).withServices(0, 1, 2, 3, 4).withMembers(true, 0, 1, 2, 3, 4), nil},
		{"scale down 5→2: 2 draining (pod, live), 3 pod gone but still live, 4 drained (left the database)",
			observed(2).withPods(0, 1, 2).withServices(0, 1, 2, 3, 4).withMembers(true, 0, 1, 2, 3),
			[]string{"delete service nfsgw-4"}},
		{"scale down 5→2: 3 and 4 gone without draining (not live): removed, then their Services",
			observed(2).withPods(0, 1).withServices(0, 1, 3, 4).withMembers(true, 0, 1).withMembers(false, 3, 4),
			[]string{"remove member gw3", "delete service nfsgw-3", "remove member gw4", "delete service nfsgw-4"}},
		{"scale down: pod 2 still there but its gateway not live: member removed, Service kept while the pod exists",
			observed(2).withPods(0, 1, 2).withServices(0, 1, 2).withMembers(true, 0, 1).withMembers(false, 2),
			[]string{"remove member gw2"}},
		{"grace database unknown: no removal, a gone pod's Service kept",
			noDB, nil},
		{"a member of another prefix or with a leading zero is not ours",
			observed(1).withPods(0).withServices(0).withMembers(true, 0).withMembers(false).withForeign("other5", "gw07"), nil},
		{"condition: a Service without its condition on the pod",
			func() Observed { o := observed(1).withServices(0); o.Pods = []*corev1.Pod{testPod(0, false)}; return o }(),
			[]string{"pod nfsgw-0 condition nfsgw.io/ServiceReady=True (ServiceHasAddress)"}},
		{"condition: not set on a terminating pod",
			func() Observed {
				o := observed(1).withServices(0)
				p := testPod(0, false)
				p.DeletionTimestamp = &metav1.Time{}
				o.Pods = []*corev1.Pod{p}
				return o
			}(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acts := Plan(tc.obs)
			if got := names(acts); !slices.Equal(got, tc.want) {
				t.Errorf("plan:\n got %q\nwant %q", got, tc.want)
			}
			checkEvents(t, acts)
			converge(t, tc.obs, acts)
		})
	}
}

func (o Observed) withForeign(nodes ...string) Observed {
	o.Members = maps.Clone(o.Members)
	for _, n := range nodes {
		o.Members[n] = Member{}
	}
	return o
}

// TestPlanScaleSequence walks a 5→2 scale-down through the states a real
// one passes: the removed gateways drain, leave, their pods go, then their
// Services.
func TestPlanScaleSequence(t *testing.T) {
	o := observed(2).withPods(0, 1, 2, 3, 4).withServices(0, 1, 2, 3, 4).withMembers(true, 0, 1, 2, 3, 4)
	steps := []struct {
		what   string
		change func(o Observed) Observed
		want   []string
	}{
		{"all still draining", func(o Observed) Observed { return o }, nil},
		{"gw4 drained: left the database, pod gone", func(o Observed) Observed {
			delete(o.Members, "gw4")
			o.Pods = o.Pods[:4]
			return o
		}, []string{"delete service nfsgw-4"}},
		{"gw3's API call failed: restart path, lock released, pod gone", func(o Observed) Observed {
			o.Members["gw3"] = Member{Live: false}
			o.Pods = o.Pods[:3]
			return o
		}, []string{"remove member gw3", "delete service nfsgw-3"}},
		{"gw2 drained", func(o Observed) Observed {
			delete(o.Members, "gw2")
			o.Pods = o.Pods[:2]
			return o
		}, []string{"delete service nfsgw-2"}},
	}
	for _, s := range steps {
		o.Members = maps.Clone(o.Members)
		o = s.change(o)
		acts := Plan(o)
		if got := names(acts); !slices.Equal(got, s.want) {
			t.Fatalf("%s:\n got %q\nwant %q", s.what, got, s.want)
		}
		o = converge(t, o, acts)
	}
	if len(o.Services) != 2 || len(o.Members) != 2 {
		t.Errorf("after the scale-down: %d Services, %d members; want 2, 2", len(o.Services), len(o.Members))
	}
}

func TestPlanServiceSettings(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, s *corev1.Service)
	}{
		{"ClusterIP default", `{}`, func(t *testing.T, s *corev1.Service) {
			if s.Spec.Type != corev1.ServiceTypeClusterIP || s.Spec.ExternalTrafficPolicy != "" || s.Spec.Ports[0].Port != 2049 {
				t.Errorf("spec %+v", s.Spec)
			}
		}},
		{"LoadBalancer with per-ordinal IPs and annotations", `
type: LoadBalancer
annotations: {metallb.universe.tf/address-pool: nfs}
ordinals:
  "1": {loadBalancerIP: 192.0.2.11, annotations: {example.com/zone: b}}
`, func(t *testing.T, s *corev1.Service) {
			if s.Spec.Type != corev1.ServiceTypeLoadBalancer || s.Spec.LoadBalancerIP != "192.0.2.11" ||
				s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
				t.Errorf("spec %+v", s.Spec)
			}
			if s.Annotations["metallb.universe.tf/address-pool"] != "nfs" || s.Annotations["example.com/zone"] != "b" {
				t.Errorf("annotations %v", s.Annotations)
			}
		}},
		{"NodePort", `{type: NodePort, externalTrafficPolicy: Cluster, ordinals: {"1": {nodePort: 32049}}}`, func(t *testing.T, s *corev1.Service) {
			if s.Spec.Type != corev1.ServiceTypeNodePort || s.Spec.Ports[0].NodePort != 32049 ||
				s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
				t.Errorf("spec %+v", s.Spec)
			}
		}},
		{"externalIPs", `{ordinals: {"1": {externalIPs: [192.0.2.21]}}}`, func(t *testing.T, s *corev1.Service) {
			if !slices.Equal(s.Spec.ExternalIPs, []string{"192.0.2.21"}) {
				t.Errorf("externalIPs %v", s.Spec.ExternalIPs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseServiceConfig([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			o := observed(2).withPods(0, 1)
			o.Config = c
			acts := Plan(o)
			var created *corev1.Service
			for _, a := range acts {
				if cs, ok := a.(CreateService); ok && cs.Ord == 1 {
					created = cs.Service
				}
			}
			if created == nil {
				t.Fatalf("no Service created for ordinal 1: %v", names(acts))
			}
			if created.Name != "nfsgw-1" || created.Labels[OrdinalLabel] != "1" || created.Labels[ManagedByLabel] != ManagedBy ||
				created.Spec.Selector[PodNameLabel] != "nfsgw-1" || !subset(testSelector, created.Spec.Selector) || !subset(testSelector, created.Labels) {
				t.Errorf("identity: %+v %+v", created.ObjectMeta, created.Spec.Selector)
			}
			tc.check(t, created)
			after := converge(t, o, acts)
			for _, p := range after.Pods {
				if len(p.Status.Conditions) != 1 {
					t.Errorf("pod %s conditions %+v", p.Name, p.Status.Conditions)
				}
			}
		})
	}
}

func subset(sub, m map[string]string) bool {
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}

func TestPlanUpdatesInPlace(t *testing.T) {
	o := observed(2).withPods(0, 1).withServices(0, 1).withMembers(true, 0, 1)
	o.Services[1].Annotations = map[string]string{"lb.example.com/owned": "yes"} // written by someone else
	c, err := ParseServiceConfig([]byte(`{type: LoadBalancer, annotations: {a: "1"}, ordinals: {"1": {loadBalancerIP: 192.0.2.11}}}`))
	if err != nil {
		t.Fatal(err)
	}
	o.Config = c
	acts := Plan(o)
	want := []string{
		"update service nfsgw-0 (annotation a, type, externalTrafficPolicy)",
		"update service nfsgw-1 (annotation a, type, externalTrafficPolicy, loadBalancerIP)",
	}
	// The conditions follow: the address of a LoadBalancer is its ingress,
	// which only nfsgw-1 has (the test's load balancer honours a request).
	if got := names(acts); !slices.Equal(got[:2], want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	upd := acts[0].(UpdateService).Service
	if upd.UID != "svc-0" || upd.Spec.ClusterIP != testIP(0) || upd.ResourceVersion != "1" {
		t.Errorf("not the observed object: %+v", upd.ObjectMeta)
	}
	after := converge(t, o, acts)
	s1 := after.Services[1]
	if s1.Annotations["lb.example.com/owned"] != "yes" || s1.Annotations["a"] != "1" {
		t.Errorf("annotations %v", s1.Annotations)
	}
	// ClusterIP again: node ports go, externalTrafficPolicy is cleared.
	after.Config = defaultConfig()
	acts = Plan(after)
	for _, a := range acts {
		if u, ok := a.(UpdateService); ok && (u.Service.Spec.Ports[0].NodePort != 0 || u.Service.Spec.ExternalTrafficPolicy != "") {
			t.Errorf("%s: %+v", u, u.Service.Spec)
		}
	}
	converge(t, after, acts)
}

func TestParseServiceConfigRefuses(t *testing.T) {
	for _, y := range []string{
		`{type: ExternalName}`,
		`{typo: LoadBalancer}`,
		`{port: 70000}`,
		`{externalTrafficPolicy: Sometimes}`,
		`{ordinals: {"x": {}}}`,
		`{ordinals: {"01": {}}}`,
		`{ordinals: {"0": {nodePort: 32049}}}`,
		`{type: NodePort, ordinals: {"0": {nodePort: 70000}}}`,
		`{ordinals: {"0": {loadBalancerIP: 192.0.2.1}}}`,
		"[1, 2",
	} {
		if _, err := ParseServiceConfig([]byte(y)); err == nil {
			t.Errorf("%s: accepted", y)
		}
	}
	var b strings.Builder
	b.WriteString("ordinals:\n")
	for i := range maxOrdinals + 1 {
		fmt.Fprintf(&b, "  %q: {}\n", strconv.Itoa(i))
	}
	if _, err := ParseServiceConfig([]byte(b.String())); err == nil {
		t.Errorf("%d ordinals accepted", maxOrdinals+1)
	}
}

func TestPlanBoundsReplicas(t *testing.T) {
	if n := len(names(Plan(observed(1 << 30)))); n != maxOrdinals {
		t.Errorf("%d actions for 2^30 replicas, want %d", n, maxOrdinals)
	}
}
