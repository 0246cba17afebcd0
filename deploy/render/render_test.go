package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"nfsgw/gateway/config"
	"nfsgw/internal/chart"
	"nfsgw/internal/k8sctl"
)

const chartDir = "../helm/nfsgw"

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) the chart writes; strict decoding into it
// catches a misspelt field as for the Kubernetes types.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// rendered is one values file's objects, decoded strictly.
type rendered struct {
	sts        *appsv1.StatefulSet
	deploys    []*appsv1.Deployment
	services   []*corev1.Service
	configMaps []*corev1.ConfigMap
	secrets    []*corev1.Secret
	pdbs       []*policyv1.PodDisruptionBudget
	roles      []*rbacv1.Role
	bindings   []*rbacv1.RoleBinding
	accounts   []*corev1.ServiceAccount
	monitors   []*serviceMonitor
}

// decode decodes one document into the Go type of its apiVersion and kind:
// an unknown field, a wrong type, a duplicate key or an unknown kind is an
// error.
func decode(doc string, r *rendered) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return err
	}
	strict := func(v any) error { return yaml.UnmarshalStrict([]byte(doc), v) }
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 StatefulSet":
		if r.sts != nil {
			return fmt.Errorf("two StatefulSets")
		}
		r.sts = &appsv1.StatefulSet{}
		return strict(r.sts)
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		r.deploys = append(r.deploys, o)
		return strict(o)
	case "v1 Service":
		o := &corev1.Service{}
		r.services = append(r.services, o)
		return strict(o)
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		r.configMaps = append(r.configMaps, o)
		return strict(o)
	case "v1 Secret":
		o := &corev1.Secret{}
		r.secrets = append(r.secrets, o)
		return strict(o)
	case "v1 ServiceAccount":
		o := &corev1.ServiceAccount{}
		r.accounts = append(r.accounts, o)
		return strict(o)
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		r.pdbs = append(r.pdbs, o)
		return strict(o)
	case "rbac.authorization.k8s.io/v1 Role":
		o := &rbacv1.Role{}
		r.roles = append(r.roles, o)
		return strict(o)
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		o := &rbacv1.RoleBinding{}
		r.bindings = append(r.bindings, o)
		return strict(o)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o := &serviceMonitor{}
		r.monitors = append(r.monitors, o)
		return strict(o)
	}
	return fmt.Errorf("unknown kind %q %q", tm.APIVersion, tm.Kind)
}

func render(t *testing.T, values ...string) (*rendered, map[string]any) {
	t.Helper()
	v, err := chart.LoadValues(chartDir, values...)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := chart.Render(chartDir, chart.Release{Name: "nfsgw", Namespace: "storage"}, v)
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{}
	for _, d := range docs {
		if err := decode(d.YAML, r); err != nil {
			t.Fatalf("%s: %v\n%s", d.Template, err, d.YAML)
		}
	}
	if r.sts == nil {
		t.Fatal("no StatefulSet")
	}
	return r, v
}

func valuesFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("values files: %v %v", files, err)
	}
	return files
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// TestChartObjects renders the chart with every values file in ci/ and
// checks each object strictly against the Kubernetes API types, then what
// the gateways need of them.
func TestChartObjects(t *testing.T) {
	for _, f := range valuesFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, vals := render(t, f)
			sts := r.sts
			pod := sts.Spec.Template
			replicas := int(*sts.Spec.Replicas)
			if want := int(vals["replicas"].(float64)); replicas != want {
				t.Errorf("replicas %d, values say %d", replicas, want)
			}
			if !subset(sts.Spec.Selector.MatchLabels, pod.Labels) {
				t.Errorf("selector %v does not match the pod labels %v", sts.Spec.Selector.MatchLabels, pod.Labels)
			}
			if pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot {
				t.Error("pods do not run as non-root")
			}
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("%d containers", len(pod.Spec.Containers))
			}
			c := pod.Spec.Containers[0]
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
				c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Error("want readiness on /readyz and liveness on /healthz")
			} else if _, ok := ports[c.ReadinessProbe.HTTPGet.Port.StrVal]; !ok {
				t.Errorf("probe port %v is no container port", c.ReadinessProbe.HTTPGet.Port)
			}
			args := strings.Join(c.Args, " ")
			if !strings.Contains(args, "--node-id-from-ordinal=") || !strings.Contains(args, fmt.Sprintf("--metrics=0.0.0.0:%d", ports["metrics"])) {
				t.Errorf("args %q: want the node id from the ordinal and metrics on the metrics port", args)
			}
			podName := false
			for _, e := range c.Env {
				podName = podName || (e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name")
			}
			if !podName {
				t.Error("no POD_NAME from metadata.name (--node-id-from-ordinal reads it)")
			}

			// The configuration file is one the gateway accepts.
			gwConfig := configMap(t, r, sts.Name)
			cfg, err := config.Parse([]byte(gwConfig.Data["nfsgw.yaml"]))
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Cluster.Enabled() {
				t.Error("the gateways are not a cluster")
			}
			if tgp := *pod.Spec.TerminationGracePeriodSeconds; tgp <= int64(cfg.DrainSeconds) {
				t.Errorf("terminationGracePeriodSeconds %d does not outlast drain_seconds %d", tgp, cfg.DrainSeconds)
			}
			mounts := map[string]bool{}
			for _, m := range c.VolumeMounts {
				mounts[m.Name] = true
			}
			for _, v := range pod.Spec.Volumes {
				if !mounts[v.Name] {
					t.Errorf("volume %s is not mounted", v.Name)
				}
				if v.ConfigMap != nil && v.ConfigMap.Name != gwConfig.Name {
					t.Errorf("volume %s: ConfigMap %s is not the chart's", v.Name, v.ConfigMap.Name)
				}
				if v.Secret != nil && len(r.secrets) > 0 && v.Secret.SecretName != r.secrets[0].Name {
					t.Errorf("volume %s: Secret %s is not the chart's", v.Name, v.Secret.SecretName)
				}
			}
			for _, s := range r.secrets {
				if s.StringData["ceph.conf"] == "" || s.StringData["keyring"] == "" {
					t.Errorf("Secret %s lacks ceph.conf or keyring", s.Name)
				}
			}

			controller := vals["controller"].(map[string]any)
			withController := controller["enabled"].(bool)
			gwAccount := vals["gatewayServiceAccount"].(map[string]any)["name"].(string)
			switch {
			case gwAccount != "" && (pod.Spec.ServiceAccountName != gwAccount || pod.Spec.AutomountServiceAccountToken != nil):
				t.Errorf("gateway pods: account %q, automount %v; want %q with its token", pod.Spec.ServiceAccountName,
					pod.Spec.AutomountServiceAccountToken, gwAccount)
			case gwAccount == "" && (pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken):
				t.Error("gateway pods without an account of their own must not mount a token")
			}
			checkRBAC(t, r, sts.Name, controller, gwAccount)
			if withController {
				checkController(t, r, sts, vals)
			} else if len(r.deploys) != 0 {
				t.Errorf("%d Deployments with the controller disabled", len(r.deploys))
			}

			// Services: the headless one the StatefulSet names, and, without
			// the controller, one per gateway selecting exactly its pod.
			perOrdinal := map[string]*corev1.Service{}
			headless := false
			for _, s := range r.services {
				for _, p := range s.Spec.Ports {
					if _, ok := ports[p.TargetPort.StrVal]; !ok {
						t.Errorf("Service %s targets port %v, not a container port", s.Name, p.TargetPort)
					}
				}
				pn, ok := s.Spec.Selector["statefulset.kubernetes.io/pod-name"]
				sel := map[string]string{}
				for k, v := range s.Spec.Selector {
					if k != "statefulset.kubernetes.io/pod-name" {
						sel[k] = v
					}
				}
				if !subset(sel, pod.Labels) {
					t.Errorf("Service %s selects %v, not the gateways", s.Name, s.Spec.Selector)
				}
				switch {
				case s.Spec.ClusterIP == corev1.ClusterIPNone:
					headless = headless || s.Name == sts.Spec.ServiceName
				case ok:
					if pn != s.Name {
						t.Errorf("Service %s selects pod %s", s.Name, pn)
					}
					perOrdinal[s.Name] = s
					if s.Annotations["helm.sh/resource-policy"] != "keep" {
						t.Errorf("Service %s: an upgrade would delete it (no helm.sh/resource-policy: keep)", s.Name)
					}
					if want := corev1.ServiceType(vals["service"].(map[string]any)["type"].(string)); s.Spec.Type != want {
						t.Errorf("Service %s type %s, want %s", s.Name, s.Spec.Type, want)
					}
				default:
					t.Errorf("Service %s is neither headless nor a gateway's", s.Name)
				}
			}
			if !headless {
				t.Errorf("no headless Service %s", sts.Spec.ServiceName)
			}
			if withController {
				replicas = 0 // the controller's
			}
			for i := 0; i < replicas; i++ {
				if perOrdinal[fmt.Sprintf("%s-%d", sts.Name, i)] == nil {
					t.Errorf("no Service for gateway %d", i)
				}
			}
			if len(perOrdinal) != replicas {
				t.Errorf("%d per-gateway Services for %d replicas", len(perOrdinal), replicas)
			}
			for _, p := range r.pdbs {
				if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 || !subset(p.Spec.Selector.MatchLabels, pod.Labels) {
					t.Errorf("PodDisruptionBudget %s: want maxUnavailable 1 over the gateways", p.Name)
				}
			}
			for _, m := range r.monitors {
				if !subset(m.Spec.Selector.MatchLabels, r.services[0].Labels) || m.Spec.Endpoints[0].Port != "metrics" {
					t.Errorf("ServiceMonitor %s does not scrape the metrics port", m.Name)
				}
			}
		})
	}
}

func configMap(t *testing.T, r *rendered, name string) *corev1.ConfigMap {
	t.Helper()
	for _, c := range r.configMaps {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no ConfigMap %s", name)
	return nil
}

// checkController: the controller's Deployment names the StatefulSet, the
// node id prefix and the namespace, reads a Service configuration it
// accepts and that is the values', runs as its account, and is not
// selected as a gateway.
func checkController(t *testing.T, r *rendered, sts *appsv1.StatefulSet, vals map[string]any) {
	t.Helper()
	if len(r.deploys) != 1 {
		t.Fatalf("%d Deployments, want the controller's", len(r.deploys))
	}
	d := r.deploys[0]
	pod := d.Spec.Template
	if subset(sts.Spec.Selector.MatchLabels, pod.Labels) || !subset(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("controller pod labels %v: selected by the gateways' selector, or not by its own", pod.Labels)
	}
	controller := vals["controller"].(map[string]any)
	if pod.Spec.ServiceAccountName != controller["serviceAccountName"] {
		t.Errorf("controller account %q", pod.Spec.ServiceAccountName)
	}
	if got, want := *d.Spec.Replicas, int32(controller["replicas"].(float64)); got != want {
		t.Errorf("controller replicas %d, values %d", got, want)
	}
	c := pod.Spec.Containers[0]
	if c.Image != sts.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("controller image %s, not the gateways'", c.Image)
	}
	args := map[string]string{}
	for _, a := range c.Args[1:] {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	if c.Args[0] != "controller" || args["--statefulset"] != sts.Name || args["--namespace"] != "storage" ||
		args["--node-id-prefix"] != vals["nodeIdPrefix"] || args["--lease"] == "" {
		t.Errorf("controller args %q", c.Args)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	files := map[string]string{} // path of a mounted file → its text
	for _, v := range pod.Spec.Volumes {
		if _, ok := mounts[v.Name]; !ok {
			t.Errorf("controller volume %s is not mounted", v.Name)
		}
		if v.ConfigMap != nil {
			for k, text := range configMap(t, r, v.ConfigMap.Name).Data {
				files[mounts[v.Name]+"/"+k] = text
			}
		}
	}
	if _, err := config.Parse([]byte(files[args["--config"]])); err != nil || files[args["--config"]] == "" {
		t.Errorf("--config %s: %v", args["--config"], err)
	}
	svc, err := k8sctl.ParseServiceConfig([]byte(files[args["--service-config"]]))
	if err != nil || files[args["--service-config"]] == "" {
		t.Fatalf("--service-config %s: %v", args["--service-config"], err)
	}
	sv := vals["service"].(map[string]any)
	if string(svc.Type) != sv["type"] || int(svc.Port) != int(sv["port"].(float64)) ||
		len(svc.Ordinals) != len(sv["ordinals"].(map[string]any)) {
		t.Errorf("service config %+v is not the values' %v", svc, sv)
	}
}

// checkRBAC: each RoleBinding binds a rendered account to a rendered Role;
// the gateways may only get their own StatefulSet; the controller may do
// what it does and nothing of pods/exec or scaling.
func checkRBAC(t *testing.T, r *rendered, sts string, controller map[string]any, gwAccount string) {
	t.Helper()
	roles := map[string]*rbacv1.Role{}
	for _, ro := range r.roles {
		roles[ro.Name] = ro
	}
	accounts := map[string]bool{}
	for _, a := range r.accounts {
		accounts[a.Name] = true
	}
	bound := map[string]*rbacv1.Role{}
	for _, b := range r.bindings {
		ro := roles[b.RoleRef.Name]
		if ro == nil || len(b.Subjects) != 1 || !accounts[b.Subjects[0].Name] || b.Subjects[0].Namespace != "storage" {
			t.Errorf("RoleBinding %s does not bind a rendered account to a rendered Role", b.Name)
			continue
		}
		bound[b.Subjects[0].Name] = ro
	}
	if gw := bound[gwAccount]; gw != nil {
		if len(gw.Rules) != 1 || !slicesEqual(gw.Rules[0].Verbs, "get") || !slicesEqual(gw.Rules[0].Resources, "statefulsets") ||
			!slicesEqual(gw.Rules[0].ResourceNames, sts) {
			t.Errorf("gateway Role %s: %+v; want get on statefulset %s only", gw.Name, gw.Rules, sts)
		}
	}
	ctl := bound[controller["serviceAccountName"].(string)]
	rbac := controller["rbac"].(map[string]any)["create"].(bool)
	if controller["enabled"].(bool) && rbac && ctl == nil {
		t.Fatal("the controller's account has no Role")
	}
	if ctl == nil {
		return
	}
	can := map[string]bool{}
	for _, rule := range ctl.Rules {
		for _, res := range rule.Resources {
			for _, v := range rule.Verbs {
				can[res+" "+v] = true
			}
		}
	}
	for _, need := range []string{"services create", "services delete", "services update", "services watch", "pods watch",
		"pods/status patch", "statefulsets watch", "events create", "leases create", "leases update"} {
		if !can[need] {
			t.Errorf("controller Role lacks %s", need)
		}
	}
	for _, never := range []string{"pods/exec create", "statefulsets/scale update", "statefulsets update", "pods delete"} {
		if can[never] {
			t.Errorf("controller Role grants %s", never)
		}
	}
}

func slicesEqual(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}

// TestChartDefaults pins the defaults the issue asks for.
func TestChartDefaults(t *testing.T) {
	r, _ := render(t)
	a := r.sts.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 ||
		a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
		t.Error("by default two gateways must not share a node")
	}
	if len(r.pdbs) != 1 || len(r.roles) != 2 || len(r.monitors) != 0 || len(r.secrets) != 0 || len(r.deploys) != 1 {
		t.Errorf("defaults: %d PDBs, %d Roles, %d ServiceMonitors, %d Secrets, %d Deployments; want 1, 2, 0, 0, 1",
			len(r.pdbs), len(r.roles), len(r.monitors), len(r.secrets), len(r.deploys))
	}
	if r.sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Error("want Parallel pod management")
	}
}

// TestStrictDecodingRejects shows the validation is strict: a misspelt
// field is an error, not a silently dropped key.
func TestStrictDecodingRejects(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: nfs}]}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x, name: y}\n",
		"apiVersion: v1\nkind: Deployment\nmetadata: {name: x}\n",
	} {
		if err := decode(doc, &rendered{}); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
}

// TestPlainManifests: deploy/nfsgw.yaml is the chart rendered with its
// defaults (`make manifests`), so the chart is the one source.
func TestPlainManifests(t *testing.T) {
	want, err := Manifests(chartDir, chart.Release{Name: "nfsgw", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../nfsgw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Error("deploy/nfsgw.yaml is not the chart's rendering: run `make manifests`")
	}
}

// TestTemplatesUseTheSubset: every function a template calls is one the
// renderer implements with Helm's meaning (text/template would refuse an
// unknown one at parse time; this names it).
func TestTemplatesUseTheSubset(t *testing.T) {
	allowed := map[string]bool{"include": true, "toYaml": true, "indent": true, "nindent": true, "quote": true,
		"toString": true, "default": true, "required": true, "int": true, "add": true, "mul": true, "until": true,
		"sha256sum": true, "if": true, "else": true, "end": true, "range": true, "with": true, "define": true,
		"template": true, "and": true, "or": true, "not": true, "eq": true, "ne": true, "index": true, "len": true, "printf": true, "print": true}
	action := regexp.MustCompile(`(?s)\{\{-?(.*?)-?\}\}`)
	str := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	ident := regexp.MustCompile(`(?:^|[\s(|])([a-zA-Z][a-zA-Z0-9]*)`)
	files, _ := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, a := range action.FindAllStringSubmatch(string(b), -1) {
			body := strings.TrimSpace(a[1])
			if strings.HasPrefix(body, "/*") {
				continue
			}
			for _, m := range ident.FindAllStringSubmatch(str.ReplaceAllString(body, `""`), -1) {
				if !allowed[m[1]] {
					t.Errorf("%s: %s is not in the renderer's subset", filepath.Base(f), m[1])
				}
			}
		}
	}
}
