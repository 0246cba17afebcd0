package k8sctl

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels and the condition the controller writes.
const (
	// OrdinalLabel marks a gateway's Service with its ordinal; a Service
	// named like a gateway's without it is not the controller's to touch.
	OrdinalLabel = "nfsgw.io/ordinal"
	// ManagedByLabel's value on Services the controller created.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "nfsgw-controller"
	// PodNameLabel is the label the StatefulSet controller puts on each of
	// its pods: a Service selects exactly one gateway by it.
	PodNameLabel = "statefulset.kubernetes.io/pod-name"
	// ServiceReady is the pod condition that says the gateway's Service
	// exists and has its address.
	ServiceReady corev1.PodConditionType = "nfsgw.io/ServiceReady"
)

// Member is what the grace database says of one member.
type Member struct {
	// Live: its liveness lock is held, so a gateway with its id runs.
	Live bool
}

// Observed is everything Plan decides from.
type Observed struct {
	// StatefulSet is the gateways' StatefulSet; Replicas its spec.replicas
	// and Selector its spec.selector.matchLabels.
	StatefulSet    string
	StatefulSetUID types.UID
	Replicas       int32
	Selector       map[string]string
	// Pods and Services are those selected by Selector, in any order.
	Pods     []*corev1.Pod
	Services []*corev1.Service
	// Members is the grace database's members by node id; MembersKnown is
	// false when there is no database or it could not be read, and Plan
	// then neither removes a member nor deletes a Service that may still
	// serve one.
	Members      map[string]Member
	MembersKnown bool
	// NodeIDPrefix + ordinal is a gateway's node id (the gateways'
	// --node-id-from-ordinal).
	NodeIDPrefix string
	Config       ServiceConfig
}

// An Action is one thing Plan wants done. Ordinal groups the actions of one
// gateway: a runner skips the rest of an ordinal's actions once one of
// them fails, so an Event never reports what did not happen and a Service
// is never deleted after its member could not be removed.
type Action interface {
	Ordinal() int
	String() string
}

// CreateService creates a gateway's Service.
type CreateService struct {
	Ord     int
	Service *corev1.Service
}

// UpdateService writes a Service whose mutable fields differ from the
// configuration: the object is the observed one with those fields changed
// (its resourceVersion asserts nothing changed meanwhile).
type UpdateService struct {
	Ord     int
	Service *corev1.Service
	Changed []string
}

// DeleteService deletes the Service of a gateway that is gone.
type DeleteService struct {
	Ord  int
	Name string
	UID  types.UID // a precondition: never a Service made since
}

// RemoveMember takes a gateway that no longer exists out of the grace
// database (with the safety of `nfsgwctl grace remove`: never a live one).
type RemoveMember struct {
	Ord  int
	Node string
}

// Event is a Kubernetes Event on the StatefulSet or one of its pods.
type Event struct {
	Ord     int
	Object  corev1.ObjectReference
	Type    string // corev1.EventTypeNormal or Warning
	Reason  string
	Message string
}

// SetPodCondition sets the ServiceReady condition of a pod (its time is
// the runner's: Plan has no clock).
type SetPodCondition struct {
	Ord       int
	Pod       string
	Condition corev1.PodCondition
}

func (a CreateService) Ordinal() int   { return a.Ord }
func (a UpdateService) Ordinal() int   { return a.Ord }
func (a DeleteService) Ordinal() int   { return a.Ord }
func (a RemoveMember) Ordinal() int    { return a.Ord }
func (a Event) Ordinal() int           { return a.Ord }
func (a SetPodCondition) Ordinal() int { return a.Ord }

func (a CreateService) String() string { return "create service " + a.Service.Name }
func (a UpdateService) String() string {
	return "update service " + a.Service.Name + " (" + strings.Join(a.Changed, ", ") + ")"
}
func (a DeleteService) String() string { return "delete service " + a.Name }
func (a RemoveMember) String() string  { return "remove member " + a.Node }
func (a Event) String() string {
	return fmt.Sprintf("event %s/%s %s: %s", a.Object.Kind, a.Object.Name, a.Reason, a.Message)
}
func (a SetPodCondition) String() string {
	return fmt.Sprintf("pod %s condition %s=%s (%s)", a.Pod, a.Condition.Type, a.Condition.Status, a.Condition.Reason)
}

// Plan decides, from one observation, what brings the cluster to the
// configuration:
//   - every ordinal below replicas has its Service, created as soon as the
//     ordinal exists (before its pod is ready), updated in place when the
//     configuration changes, never deleted or recreated: its address must
//     survive pod restarts, or its clients cannot reclaim;
//   - a Service of an ordinal at or above replicas stays while its pod
//     exists or its member is in the grace database and live (it drains
//     through it), and goes once neither holds;
//   - a member at or above replicas that is not live is removed, so the
//     survivors never wait in grace for it;
//   - each pod's ServiceReady condition says whether its Service has its
//     address;
//   - each change is reported by an Event.
//
// Plan of the state its actions produce is empty.
func Plan(o Observed) []Action {
	p := planner{o: o, pods: map[int]*corev1.Pod{}, svcs: map[int]*corev1.Service{}}
	ords := map[int]bool{}
	for i := 0; i < int(min(max(o.Replicas, 0), maxOrdinals)); i++ {
		ords[i] = true
	}
	for _, pod := range o.Pods {
		if n, ok := ordinalOf(o.StatefulSet, pod.Name); ok {
			p.pods[n] = pod
			ords[n] = true
		}
	}
	for _, s := range o.Services {
		n, ok := ordinalOf(o.StatefulSet, s.Name)
		if !ok || s.Labels[OrdinalLabel] != strconv.Itoa(n) {
			continue // the headless Service, or not a gateway's
		}
		p.svcs[n] = s
		ords[n] = true
	}
	if o.MembersKnown {
		for node := range o.Members {
			if n, ok := ordinalOfNode(o.NodeIDPrefix, node); ok {
				ords[n] = true
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(ords)) {
		p.ordinal(n)
	}
	return p.out
}

type planner struct {
	o    Observed
	pods map[int]*corev1.Pod
	svcs map[int]*corev1.Service
	out  []Action
}

func (p *planner) ordinal(n int) {
	o := p.o
	pod, svc := p.pods[n], p.svcs[n]
	node := o.NodeIDPrefix + strconv.Itoa(n)
	mem, inDB := o.Members[node]
	name := serviceName(o.StatefulSet, n)
	if n < int(o.Replicas) {
		want := desiredService(o, n)
		switch {
		case svc == nil:
			p.add(CreateService{Ord: n, Service: want})
			p.event(n, pod, "ServiceCreated", fmt.Sprintf("created Service %s for gateway %s (%s)", name, node, want.Spec.Type))
		default:
			if upd, changed := updatedService(svc, want); len(changed) > 0 {
				p.add(UpdateService{Ord: n, Service: upd, Changed: changed})
				p.event(n, pod, "ServiceUpdated", fmt.Sprintf("updated Service %s: %s", name, strings.Join(changed, ", ")))
			}
		}
	} else {
		if o.MembersKnown && inDB && !mem.Live {
			p.add(RemoveMember{Ord: n, Node: node})
			p.event(n, pod, "MemberRemoved", fmt.Sprintf("removed %s (ordinal %d ≥ replicas %d, not live) from the grace database", node, n, o.Replicas))
			inDB = false
		}
		if svc != nil {
			keep := pod != nil || !o.MembersKnown || (inDB && mem.Live)
			if !keep {
				p.add(DeleteService{Ord: n, Name: svc.Name, UID: svc.UID})
				p.event(n, nil, "ServiceDeleted", fmt.Sprintf("deleted Service %s: gateway %s is gone (ordinal %d ≥ replicas %d)", name, node, n, o.Replicas))
			}
		}
	}
	// A Service created by this plan gets its address from the API server:
	// the next plan reports it, rather than this one reporting its absence.
	if pod != nil && pod.DeletionTimestamp == nil && svc != nil {
		p.condition(n, pod, svc)
	}
}

// condition sets the pod's ServiceReady from its observed Service.
func (p *planner) condition(n int, pod *corev1.Pod, svc *corev1.Service) {
	want := corev1.PodCondition{Type: ServiceReady, Status: corev1.ConditionFalse, Reason: "NoAddress",
		Message: "Service " + svc.Name + " has no address yet"}
	if addr := serviceAddress(svc); addr != "" {
		want.Status, want.Reason, want.Message = corev1.ConditionTrue, "ServiceHasAddress", "Service "+svc.Name+" at "+addr
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == ServiceReady && c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message {
			return
		}
	}
	p.add(SetPodCondition{Ord: n, Pod: pod.Name, Condition: want})
	typ := corev1.EventTypeNormal
	if want.Status != corev1.ConditionTrue {
		typ = corev1.EventTypeWarning
	}
	p.out = append(p.out, Event{Ord: n, Object: podRef(pod), Type: typ, Reason: want.Reason, Message: want.Message})
}

func (p *planner) add(a Action) { p.out = append(p.out, a) }

// event reports an action on the StatefulSet, and on the gateway's pod
// when it has one.
func (p *planner) event(n int, pod *corev1.Pod, reason, msg string) {
	p.out = append(p.out, Event{Ord: n, Object: corev1.ObjectReference{Kind: "StatefulSet", APIVersion: "apps/v1",
		Name: p.o.StatefulSet, UID: p.o.StatefulSetUID}, Type: corev1.EventTypeNormal, Reason: reason, Message: msg})
	if pod != nil {
		p.out = append(p.out, Event{Ord: n, Object: podRef(pod), Type: corev1.EventTypeNormal, Reason: reason, Message: msg})
	}
}

func podRef(pod *corev1.Pod) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
}

func serviceName(sts string, n int) string { return sts + "-" + strconv.Itoa(n) }

// ordinalOf is the ordinal of a pod or Service name sts-N.
func ordinalOf(sts, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, sts+"-")
	if !ok {
		return 0, false
	}
	return parseOrdinal(rest)
}

// ordinalOfNode is the ordinal of a node id prefix+N; members named
// otherwise are not this StatefulSet's and are left alone.
func ordinalOfNode(prefix, node string) (int, bool) {
	rest, ok := strings.CutPrefix(node, prefix)
	if !ok {
		return 0, false
	}
	return parseOrdinal(rest)
}

// parseOrdinal accepts what a StatefulSet names: decimal, no sign, no
// leading zero, below maxOrdinals (so "gw07" is nobody's).
func parseOrdinal(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= maxOrdinals || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// serviceAddress is the address clients mount, "" while it has none: a
// LoadBalancer's ingress, else the cluster IP (NodePort and externalIPs
// ride on it).
func serviceAddress(s *corev1.Service) string {
	var a []string
	if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range s.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				a = append(a, in.IP)
			} else if in.Hostname != "" {
				a = append(a, in.Hostname)
			}
		}
		if len(a) == 0 {
			return ""
		}
	} else {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			return ""
		}
		a = append(a, s.Spec.ClusterIP)
		a = append(a, s.Spec.ExternalIPs...)
	}
	if s.Spec.Type == corev1.ServiceTypeNodePort && len(s.Spec.Ports) > 0 {
		if s.Spec.Ports[0].NodePort == 0 {
			return ""
		}
		a = append(a, "node port "+strconv.Itoa(int(s.Spec.Ports[0].NodePort)))
	}
	return strings.Join(a, ", ")
}

// desiredService is ordinal n's Service as the configuration has it.
func desiredService(o Observed, n int) *corev1.Service {
	c := o.Config
	oc := c.ordinal(n)
	labels := maps.Clone(o.Selector)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[OrdinalLabel] = strconv.Itoa(n)
	labels[ManagedByLabel] = ManagedBy
	sel := maps.Clone(o.Selector)
	if sel == nil {
		sel = map[string]string{}
	}
	sel[PodNameLabel] = serviceName(o.StatefulSet, n)
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName(o.StatefulSet, n), Labels: labels, Annotations: annotations(c, oc)},
		Spec: corev1.ServiceSpec{
			Type:     c.Type,
			Selector: sel,
			Ports: []corev1.ServicePort{{Name: "nfs", Port: c.Port, TargetPort: intstr.FromString("nfs"),
				Protocol: corev1.ProtocolTCP, NodePort: oc.NodePort}},
			LoadBalancerIP: oc.LoadBalancerIP,
			ExternalIPs:    slices.Clone(oc.ExternalIPs),
		},
	}
	if c.Type != corev1.ServiceTypeClusterIP {
		s.Spec.ExternalTrafficPolicy = c.ExternalTrafficPolicy
	}
	if o.StatefulSetUID != "" {
		// Deleting the StatefulSet (uninstalling) deletes its Services;
		// not a controller reference, which would make the Service the
		// StatefulSet controller's to manage.
		s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet",
			Name: o.StatefulSet, UID: o.StatefulSetUID}}
	}
	return s
}

func annotations(c ServiceConfig, oc OrdinalConfig) map[string]string {
	if len(c.Annotations) == 0 && len(oc.Annotations) == 0 {
		return nil
	}
	a := maps.Clone(c.Annotations)
	if a == nil {
		a = map[string]string{}
	}
	maps.Copy(a, oc.Annotations)
	return a
}

// updatedService returns have with the mutable fields of want, and which
// fields changed. Annotations are added or corrected, never removed: other
// controllers (a load-balancer implementation) write their own. A node
// port is changed only where the configuration names one; otherwise the
// one the API server allocated is kept.
func updatedService(have, want *corev1.Service) (*corev1.Service, []string) {
	s := have.DeepCopy()
	var changed []string
	for k, v := range want.Annotations {
		if cur, ok := s.Annotations[k]; !ok || cur != v {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[k] = v
			changed = append(changed, "annotation "+k)
		}
	}
	slices.Sort(changed)
	set := func(field string, equal bool, apply func()) {
		if !equal {
			apply()
			changed = append(changed, field)
		}
	}
	set("type", s.Spec.Type == want.Spec.Type, func() { s.Spec.Type = want.Spec.Type })
	set("externalTrafficPolicy", s.Spec.ExternalTrafficPolicy == want.Spec.ExternalTrafficPolicy,
		func() { s.Spec.ExternalTrafficPolicy = want.Spec.ExternalTrafficPolicy })
	set("loadBalancerIP", s.Spec.LoadBalancerIP == want.Spec.LoadBalancerIP, func() { s.Spec.LoadBalancerIP = want.Spec.LoadBalancerIP })
	set("externalIPs", slices.Equal(s.Spec.ExternalIPs, want.Spec.ExternalIPs), func() { s.Spec.ExternalIPs = want.Spec.ExternalIPs })
	set("selector", maps.Equal(s.Spec.Selector, want.Spec.Selector), func() { s.Spec.Selector = want.Spec.Selector })
	wp := want.Spec.Ports[0]
	if want.Spec.Type == corev1.ServiceTypeClusterIP {
		wp.NodePort = 0 // a ClusterIP Service has none
	} else if wp.NodePort == 0 && len(s.Spec.Ports) == 1 {
		wp.NodePort = s.Spec.Ports[0].NodePort
	}
	set("ports", equality.Semantic.DeepEqual(s.Spec.Ports, []corev1.ServicePort{wp}), func() { s.Spec.Ports = []corev1.ServicePort{wp} })
	return s, changed
}
