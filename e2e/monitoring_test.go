package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestMetricsMonitoringConfig checks deploy/monitoring: the alert rules
// with promtool (check, and their unit tests) when it is installed (Debian's
// prometheus package; scripts/deps.sh installs it), else as YAML; the
// dashboard parses; and every metric either uses is one docs/operations.md
// documents (gateway/metrics checks that those are the metrics exposed).
func TestMetricsMonitoringConfig(t *testing.T) {
	if testBackend(t).Name() != "local" {
		t.Skip("repository checks do not depend on the backend")
	}
	const dir = "../deploy/monitoring/"
	rules, err := os.ReadFile(dir + "nfsgw-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		for _, args := range [][]string{{"check", "rules", "nfsgw-rules.yaml"}, {"test", "rules", "nfsgw-rules.test.yaml"}} {
			cmd := exec.Command(promtool, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	} else {
		t.Log("promtool not installed (Debian package prometheus): checking the rules as YAML only")
	}
	var rf struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(rules, &rf); err != nil {
		t.Fatalf("nfsgw-rules.yaml: %v", err)
	}
	alerts := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v: want alert, expr, a severity label and a summary", r)
			}
		}
	}
	if alerts < 5 {
		t.Errorf("%d alerts", alerts)
	}

	dash, err := os.ReadFile(dir + "nfsgw-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("nfsgw-dashboard.json: %v", err)
	}
	targets := 0
	for _, p := range d.Panels {
		targets += len(p.Targets)
	}
	if d.Title == "" || targets < 10 {
		t.Errorf("dashboard %q with %d queries", d.Title, targets)
	}

	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(nfsgw_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	used := regexp.MustCompile(`nfsgw_[a-z_]+`)
	for _, src := range []struct {
		name string
		text []byte
	}{{"nfsgw-rules.yaml", rules}, {"nfsgw-dashboard.json", dash}} {
		for _, name := range used.FindAllString(string(src.text), -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && documented[b] {
					base = b
				}
			}
			if !documented[base] {
				t.Errorf("%s uses %s, which docs/operations.md does not document", src.name, name)
			}
		}
	}
}
