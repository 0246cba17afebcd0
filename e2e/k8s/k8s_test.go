//go:build k8s

// Package k8s is make test-k8s: the chart installed on a real one-node
// Kubernetes (scripts/k8s/up.sh) with the image make image builds, over the
// throwaway Ceph cluster, driven from the host with the project's client
// through each gateway's own Service address.
package k8s

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
	"nfsgw/internal/chart"
)

const (
	ns       = "nfsgw-test"
	release  = "nfsgw"
	pool     = "nfsgw"
	chartDir = "../../deploy/helm/nfsgw"
)

// env is what scripts/k8s/test.sh hands the test.
type env struct {
	kubectl, kubeconfig, image, ctl string
	cephConf, adminKeyring, cephDir string
}

func getenv(t *testing.T) env {
	e := env{
		kubectl: os.Getenv("NFSGW_K8S_KUBECTL"), kubeconfig: os.Getenv("NFSGW_K8S_KUBECONFIG"),
		image: os.Getenv("NFSGW_K8S_IMAGE"), ctl: os.Getenv("NFSGW_K8S_NFSGWCTL"),
		cephConf: os.Getenv("CEPH_CONF"), adminKeyring: os.Getenv("CEPH_ADMIN_KEYRING"), cephDir: os.Getenv("CEPH_DEV_DIR"),
	}
	for k, v := range map[string]string{"NFSGW_K8S_KUBECTL": e.kubectl, "NFSGW_K8S_KUBECONFIG": e.kubeconfig,
		"NFSGW_K8S_IMAGE": e.image, "NFSGW_K8S_NFSGWCTL": e.ctl, "CEPH_CONF": e.cephConf, "CEPH_DEV_DIR": e.cephDir} {
		if v == "" {
			t.Fatalf("%s is not set: run this test through `make test-k8s` (scripts/k8s/test.sh)", k)
		}
	}
	return e
}

func (e env) kube(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.kubectl, append([]string{"--kubeconfig", e.kubeconfig, "-n", ns}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (e env) mustKube(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.kube(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e env) apply(t *testing.T, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustKube(t, "apply", "-f", f)
}

// grace runs nfsgwctl grace against the test's pool as client.admin.
func (e env) grace(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"grace", "--ceph-conf", e.cephConf, "--ceph-user", "admin", "--ceph-keyring", e.adminKeyring, "--pool", pool}, args...)
	out, err := exec.CommandContext(ctx, e.ctl, full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("nfsgwctl %s: %v: %s", strings.Join(full, " "), err, out)
	}
	return string(out), nil
}

var memberLine = regexp.MustCompile(`^(\S+)\s*([NE]*)\s*$`)

// members returns the grace database's cur/rec line and members with flags,
// parsed from `nfsgwctl grace dump` (Ganesha's format: "cur=C rec=R", a
// rule, then "ID\tFLAGS" per member; FLAGS is empty outside grace).
func (e env) members(t *testing.T) (rec int, m map[string]string) {
	t.Helper()
	out, err := e.grace("dump")
	if err != nil {
		t.Fatal(err)
	}
	m = map[string]string{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if _, err := fmt.Sscanf(lines[0], "cur=%d rec=%d", new(int), &rec); err != nil {
		t.Fatalf("grace dump: %q: %v", out, err)
	}
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "=") || strings.HasPrefix(l, "cur") {
			continue
		}
		if s := memberLine.FindStringSubmatch(l); s != nil {
			m[s[1]] = s[2]
		}
	}
	return rec, m
}

// values are the test's chart values: one node, so no anti-affinity; the
// image loaded into containerd (never pulled); short leases so a restart
// takes seconds; the Ceph cluster's address as the pods see it.
func (e env) values(t *testing.T, replicas int) string {
	t.Helper()
	conf, err := os.ReadFile(e.cephConf)
	if err != nil {
		t.Fatal(err)
	}
	var podConf strings.Builder
	podConf.WriteString("[global]\n")
	for _, l := range strings.Split(string(conf), "\n") {
		if k, _, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			if k = strings.TrimSpace(k); k == "fsid" || k == "mon host" {
				podConf.WriteString(strings.TrimSpace(l) + "\n")
			}
		}
	}
	podConf.WriteString("[client]\nadmin socket =\nlog file = /dev/null\n")
	keyring, err := os.ReadFile(filepath.Join(e.cephDir, "nfsgw.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	repo, tag, _ := strings.Cut(e.image, ":")
	v := map[string]any{
		"replicas":                      replicas,
		"image":                         map[string]any{"repository": repo, "tag": tag, "pullPolicy": "Never"},
		"antiAffinity":                  "none",
		"leaseSeconds":                  10,
		"drainSeconds":                  20,
		"terminationGracePeriodSeconds": 40,
		"cluster":                       map[string]any{"pool": pool, "memberLeaseSeconds": 3},
		"config":                        map[string]any{"grace_seconds": 20, "log_level": "debug"},
		"ceph": map[string]any{"user": "nfsgw", "secret": map[string]any{
			"create": true, "name": "nfsgw-ceph", "cephConf": podConf.String(), "keyring": string(keyring)}},
		"exports": []any{map[string]any{"id": 1, "pseudo": "/export", "path": "ceph:/", "access": "rw", "squash": "none"}},
		"resources": map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "32Mi"},
			"limits": map[string]any{"memory": "1Gi"}},
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	vals, err := chart.LoadValues(chartDir, f)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := chart.Render(chartDir, chart.Release{Name: release, Namespace: ns}, vals)
	if err != nil {
		t.Fatal(err)
	}
	return chart.Join(docs, "nfsgw")
}

func (e env) pods(t *testing.T) map[string]corev1.Pod {
	t.Helper()
	var l corev1.PodList
	if err := json.Unmarshal([]byte(e.mustKube(t, "get", "pods", "-l", "app.kubernetes.io/name=nfsgw", "-o", "json")), &l); err != nil {
		t.Fatal(err)
	}
	m := map[string]corev1.Pod{}
	for _, p := range l.Items {
		m[p.Name] = p
	}
	return m
}

func ready(p corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (e env) services(t *testing.T) map[string]string {
	t.Helper()
	var l corev1.ServiceList
	if err := json.Unmarshal([]byte(e.mustKube(t, "get", "services", "-o", "json")), &l); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, s := range l.Items {
		if s.Spec.ClusterIP != "" && s.Spec.ClusterIP != "None" {
			m[s.Name] = s.Spec.ClusterIP
		}
	}
	return m
}

// until polls ok every 100 ms for up to limit and returns how long it took.
func until(t *testing.T, what string, limit time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// gwClient is a client of one gateway (through its Service) with a file it
// wrote FILE_SYNC and holds a lock on: state a restart must reclaim.
type gwClient struct {
	ordinal int
	addr    string
	owner   string
	cl      *nfsclient.Client
	root    []byte
	f       *nfsclient.OpenFile
	data    string
	// reclaimed: after its gateway restarted, the client's state is the
	// open it reclaimed through a new connection.
	reclaimed *nfsclient.Client
	open      nfs4.Stateid
}

func dial(t *testing.T, addr, owner string) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(200 * time.Millisecond) {
		var c *nfsclient.Client
		// kube-proxy programs a Service's DNAT up to a second or so after
		// its pod became ready: retried.
		if c, err = nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: owner, NoReclaimComplete: true, RetryTimeout: -1}); err == nil {
			t.Cleanup(c.Abandon)
			return c
		}
	}
	t.Fatalf("dial %s: %v", addr, err)
	return nil
}

func do(t *testing.T, c *nfsclient.Client, comp *nfsclient.Compound) (nfs4.Status, *nfsclient.Reply) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.Do(ctx, comp)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status, r
}

func reclaimComplete(t *testing.T, c *nfsclient.Client) {
	t.Helper()
	if st, _ := do(t, c, c.NewCompound("rc").ReclaimComplete(false)); st != nfs4.OK {
		t.Fatalf("RECLAIM_COMPLETE: %d", st)
	}
}

func newOpen(t *testing.T, c *nfsclient.Client, root []byte, name string) nfs4.Status {
	st, _ := do(t, c, c.NewCompound("open").PutFH(root).Open(nfsclient.OpenArgs{
		ShareAccess: nfs4.ShareAccessBoth, Owner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte("probe")},
		Claim: nfs4.ClaimNull, Name: name, Create: true, CreateMode: nfs4.CreateUnchecked}))
	return st
}

func (e env) client(t *testing.T, ordinal int) *gwClient {
	t.Helper()
	addr := e.services(t)[fmt.Sprintf("%s-%d", release, ordinal)]
	if addr == "" {
		t.Fatalf("no Service for gateway %d", ordinal)
	}
	g := &gwClient{ordinal: ordinal, addr: addr + ":2049", owner: fmt.Sprintf("k8s-client-%d-%d", ordinal, time.Now().UnixNano())}
	g.cl = dial(t, g.addr, g.owner)
	reclaimComplete(t, g.cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	if g.root, _, err = g.cl.LookupPath(ctx, "/export"); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("held-by-gw%d", ordinal)
	if g.f, err = g.cl.Create(ctx, g.root, name, 0o666); err != nil {
		t.Fatal(err)
	}
	g.data = fmt.Sprintf("written through gateway %d at %s", ordinal, time.Now().Format(time.RFC3339Nano))
	if _, _, err := g.f.WriteAll(ctx, []byte(g.data), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}
	if err := g.f.Lock(ctx, nfs4.WriteLT, 0, 100); err != nil {
		t.Fatal(err)
	}
	return g
}

// conn is the client's live connection: the reclaiming one after a restart.
func (g *gwClient) conn() *nfsclient.Client {
	if g.reclaimed != nil {
		return g.reclaimed
	}
	return g.cl
}

// io writes and reads back through the client's open: its state is alive.
func (g *gwClient) io(t *testing.T) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if c := g.reclaimed; c != nil {
		r, err := c.Do(ctx, c.NewCompound("write").PutFH(g.f.FH).Write(g.open, 0, nfs4.FileSync, []byte(g.data)))
		if err != nil || r.Status != nfs4.OK {
			return fmt.Errorf("WRITE on the reclaimed open: %v %v", r, err)
		}
		r, err = c.Do(ctx, c.NewCompound("read").PutFH(g.f.FH).Read(g.open, 0, uint32(len(g.data))))
		if err != nil || r.Status != nfs4.OK {
			return fmt.Errorf("READ on the reclaimed open: %v %v", r, err)
		}
		if got := string(r.Ops[1].Res.(*nfsclient.ReadRes).Data); got != g.data {
			return fmt.Errorf("read back %q, want %q", got, g.data)
		}
		return nil
	}
	if _, _, err := g.f.WriteAll(ctx, []byte(g.data), 0, nfs4.FileSync); err != nil {
		return err
	}
	buf := make([]byte, len(g.data))
	n, err := g.f.ReadFull(ctx, buf, 0)
	if err != nil {
		return err
	}
	if string(buf[:n]) != g.data {
		return fmt.Errorf("read back %q, want %q", buf[:n], g.data)
	}
	return nil
}

func (e env) logs(t *testing.T, pod string) string {
	out, err := e.kube("logs", "--tail=40", pod)
	if err != nil {
		return err.Error()
	}
	return out
}

func summary(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "test-k8s: "+format+"\n", args...)
}

func TestKubernetes(t *testing.T) {
	e := getenv(t)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What an operator would look at first.
		for _, args := range [][]string{{"get", "pods,services,statefulsets,deployments", "-o", "wide"},
			{"get", "events", "--sort-by=.lastTimestamp"}, {"logs", "--tail=60", "deployment/" + release + "-controller"}} {
			out, err := e.kube(args...)
			t.Logf("kubectl %s:\n%s%v", strings.Join(args, " "), out, err)
		}
		if out, err := e.grace("dump"); true {
			t.Logf("grace dump:\n%s%v", out, err)
		}
		for name := range e.pods(t) {
			t.Logf("logs of %s:\n%s", name, e.logs(t, name))
		}
	})
	e.mustKube(t, "create", "namespace", ns)
	if _, err := e.grace("add", "gw0", "gw1", "gw2"); err != nil {
		t.Fatal(err)
	}

	// 1. Install with 3 replicas: every gateway serves through its own Service.
	start := time.Now()
	e.apply(t, e.values(t, 3))
	took := until(t, "3 gateways ready with their Services", 180*time.Second, func() bool {
		ps, ss := e.pods(t), e.services(t)
		n := 0
		for i := range 3 {
			if ready(ps[fmt.Sprintf("%s-%d", release, i)]) && ss[fmt.Sprintf("%s-%d", release, i)] != "" {
				n++
			}
		}
		return n == 3
	})
	summary("install: 3 gateways ready in %v", took.Round(100*time.Millisecond))
	ips := e.services(t)
	var clients []*gwClient
	for i := range 3 {
		clients = append(clients, e.client(t, i))
	}
	for _, g := range clients {
		if err := g.io(t); err != nil {
			t.Fatalf("gateway %d: %v", g.ordinal, err)
		}
	}

	// 2. Delete a pod: the same node id comes back behind the same Service
	// address; its client reclaims; the others see only a grace period.
	victim := fmt.Sprintf("%s-1", release)
	oldUID := e.pods(t)[victim].UID
	deleted := time.Now()
	e.mustKube(t, "delete", "pod", victim, "--wait=false")
	var graceSeen bool
	newReady := until(t, "the deleted gateway back and ready", 120*time.Second, func() bool {
		if !graceSeen {
			if st := newOpen(t, clients[0].cl, clients[0].root, fmt.Sprintf("probe-%d", time.Now().UnixNano())); st == nfs4.ErrGrace {
				graceSeen = true
			} else if st != nfs4.OK {
				t.Fatalf("new OPEN on gateway 0 while gateway 1 restarts: %d", st)
			}
		}
		p := e.pods(t)[victim]
		return p.UID != oldUID && ready(p)
	})
	if ip := e.services(t)[victim]; ip != ips[victim] {
		t.Fatalf("gateway 1's Service address changed across the restart: %s → %s", ips[victim], ip)
	}
	// Its client reclaims its open and its lock with the same owner.
	g1 := clients[1]
	c := dial(t, g1.addr, g1.owner)
	st, r := do(t, c, c.NewCompound("reclaim-open").PutFH(g1.f.FH).Open(nfsclient.OpenArgs{
		ShareAccess: nfs4.ShareAccessBoth, Owner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte("reclaim")},
		Claim: nfs4.ClaimPrevious, DelegType: nfs4.DelegNone}))
	if st != nfs4.OK {
		t.Fatalf("reclaim of gateway 1's open: %d\n%s", st, e.logs(t, victim))
	}
	open := r.Ops[len(r.Ops)-1].Res.(*nfsclient.OpenRes).Stateid
	lk := c.NewCompound("reclaim-lock").PutFH(g1.f.FH).Lock(nfsclient.LockArgs{LockType: nfs4.WriteLT, Reclaim: true,
		Offset: 0, Length: 100, NewLockOwner: true, OpenStateid: open,
		LockOwner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte("reclaim-lock")}})
	if st, _ := do(t, c, lk); st != nfs4.OK {
		t.Fatalf("reclaim of gateway 1's lock: %d", st)
	}
	st, r = do(t, c, c.NewCompound("read").PutFH(g1.f.FH).Read(open, 0, 256))
	if st != nfs4.OK || string(r.Ops[1].Res.(*nfsclient.ReadRes).Data) != g1.data {
		t.Fatalf("read after the restart: %d", st)
	}
	reclaimed := time.Since(deleted)
	g1.reclaimed, g1.open = c, open
	reclaimComplete(t, c)
	lifted := until(t, "grace lifted after the reclaim", 60*time.Second, func() bool { rec, _ := e.members(t); return rec == 0 })
	// The survivors' clients kept their state through it.
	for _, g := range []*gwClient{clients[0], clients[2]} {
		if err := g.io(t); err != nil {
			t.Fatalf("gateway %d's client after gateway 1's restart: %v", g.ordinal, err)
		}
	}
	if st := newOpen(t, clients[2].cl, clients[2].root, "after-restart"); st != nfs4.OK {
		t.Fatalf("new OPEN on gateway 2 after grace: %d", st)
	}
	summary("pod delete: new pod ready %v, client reclaimed + I/O %v after the delete, grace lifted %v after RECLAIM_COMPLETE; survivors saw GRACE for new opens: %v; Service IP unchanged (%s)",
		newReady.Round(100*time.Millisecond), reclaimed.Round(100*time.Millisecond), lifted.Round(100*time.Millisecond), graceSeen, ips[victim])

	// 3. Scale 3 → 5: two new Services and members, serving; the first
	// three's clients undisturbed.
	scaled := time.Now()
	e.mustKube(t, "scale", "statefulset", release, "--replicas=5")
	var disturbed []string
	up := until(t, "5 gateways ready with Services and members", 180*time.Second, func() bool {
		for _, g := range clients {
			if err := g.io(t); err != nil {
				disturbed = append(disturbed, fmt.Sprintf("gateway %d: %v", g.ordinal, err))
			}
		}
		ps, ss := e.pods(t), e.services(t)
		_, m := e.members(t)
		for i := range 5 {
			n := fmt.Sprintf("%s-%d", release, i)
			if _, member := m[fmt.Sprintf("gw%d", i)]; !ready(ps[n]) || ss[n] == "" || !member {
				return false
			}
		}
		return true
	})
	if len(disturbed) > 0 {
		t.Fatalf("clients of the first three gateways disturbed by the scale-up: %v", disturbed)
	}
	for i := 3; i < 5; i++ {
		g := e.client(t, i)
		if err := g.io(t); err != nil {
			t.Fatalf("new gateway %d: %v", i, err)
		}
	}
	summary("scale 3→5: 2 new gateways ready, with their Services and grace members, in %v (from the scale command %v)",
		up.Round(100*time.Millisecond), time.Since(scaled).Round(100*time.Millisecond))

	// 4. Scale 5 → 2: gateways 2, 3, 4 drain (gateway 2's client finishes
	// its work and leaves), leave the grace database, their Services go;
	// the survivors never wait in grace for them.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	scaled = time.Now()
	e.mustKube(t, "scale", "statefulset", release, "--replicas=2")
	g2 := clients[2]
	if err := g2.f.Unlock(ctx, 0, 100); err != nil {
		t.Logf("gateway 2's client unlock during scale-down: %v", err)
	}
	if err := g2.f.Close(ctx); err != nil {
		t.Logf("gateway 2's client close during scale-down: %v", err)
	}
	g2.cl.Close()
	var inGrace []string
	down := until(t, "gateways 2-4 gone: pods, Services, grace members", 180*time.Second, func() bool {
		rec, m := e.members(t)
		if rec != 0 {
			inGrace = append(inGrace, fmt.Sprintf("rec=%d at %v", rec, time.Since(scaled).Round(100*time.Millisecond)))
		}
		for _, g := range clients[:2] {
			if st := newOpen(t, g.conn(), g.root, fmt.Sprintf("probe-%d", time.Now().UnixNano())); st != nfs4.OK {
				inGrace = append(inGrace, fmt.Sprintf("gateway %d answered %d to a new OPEN", g.ordinal, st))
			}
		}
		ps, ss := e.pods(t), e.services(t)
		for i := 2; i < 5; i++ {
			n := fmt.Sprintf("%s-%d", release, i)
			if _, ok := ps[n]; ok {
				return false
			}
			if _, member := m[fmt.Sprintf("gw%d", i)]; ss[n] != "" || member {
				return false
			}
		}
		return true
	})
	if len(inGrace) > 0 {
		t.Fatalf("survivors waited in grace during the scale-down: %v", inGrace)
	}
	_, m := e.members(t)
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if strings.Join(ids, " ") != "gw0 gw1" {
		t.Fatalf("grace members after the scale-down: %v, want gw0 gw1", ids)
	}
	for _, g := range clients[:2] {
		if err := g.io(t); err != nil {
			t.Fatalf("gateway %d's client after the scale-down: %v", g.ordinal, err)
		}
	}
	summary("scale 5→2: gateways 2-4 drained, left the grace database and lost their Services in %v; survivors never in grace",
		down.Round(100*time.Millisecond))

	// What the controller reported.
	if ev, err := e.kube("get", "events", "--field-selector", "involvedObject.kind=StatefulSet", "-o", "custom-columns=REASON:.reason,MESSAGE:.message", "--no-headers"); err == nil {
		t.Logf("StatefulSet events:\n%s", ev)
	}
	var sts appsv1.StatefulSet
	if err := json.Unmarshal([]byte(e.mustKube(t, "get", "statefulset", release, "-o", "json")), &sts); err != nil {
		t.Fatal(err)
	}
	if sts.Status.ReadyReplicas != 2 {
		t.Fatalf("StatefulSet ready replicas %d, want 2", sts.Status.ReadyReplicas)
	}
	summary("total %v", time.Since(start).Round(time.Second))
}
