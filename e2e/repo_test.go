package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDeveloperPaths checks what a developer meets before any gateway
// runs: make run goes through scripts/dev-run.sh (TestMakeRunDemo runs
// that), the binaries get their version from git describe, pynfs.sh does
// not default to a path of one machine, no script hides apt's progress,
// and docs/testing.md names no file the repository lacks.
func TestDeveloperPaths(t *testing.T) {
	if testBackend(t).Name() != "local" {
		t.Skip("repository checks do not depend on the backend")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	// -n prints the recipes without running them (nor their
	// prerequisites' recipes).
	out, err := exec.Command("make", "-s", "-n", "-C", "..", "run", "build").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "scripts/dev-run.sh") {
		t.Errorf("make run does not run scripts/dev-run.sh:\n%s", out)
	}
	if !regexp.MustCompile(`-X main\.version=\S+`).Match(out) {
		t.Errorf("make build sets no version (-X main.version):\n%s", out)
	}

	script, err := os.ReadFile("../scripts/pynfs.sh")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^PYNFS_DIR=.*`).Find(script); m == nil || strings.Contains(string(m), "/work/") {
		t.Errorf("pynfs.sh's default PYNFS_DIR is machine-specific: %s", m)
	}

	// Installing Ceph takes minutes: the scripts that install packages
	// show apt's progress instead of hiding it.
	hidden := regexp.MustCompile(`apt-get [^|;&]*>\s*/dev/null`)
	scripts, _ := filepath.Glob("../scripts/*.sh")
	for _, p := range scripts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "#") && hidden.MatchString(line) {
				t.Errorf("%s hides apt's output: %s", filepath.Base(p), strings.TrimSpace(line))
			}
		}
	}

	doc, err := os.ReadFile("../docs/testing.md")
	if err != nil {
		t.Fatal(err)
	}
	// Repository paths in backquotes, e.g. `scripts/pynfs.sh`, and bare
	// NAME.md references.
	for _, m := range regexp.MustCompile("`((?:scripts|e2e|docs|bench|cmd|gateway|\\.ci)/[A-Za-z0-9_./-]+)|\\b([A-Z]+\\.md)\\b").FindAllSubmatch(doc, -1) {
		p := string(m[1])
		if p == "" {
			p = string(m[2])
		}
		p = strings.TrimRight(p, ".")
		if _, err := os.Stat(filepath.Join("..", p)); err != nil {
			if _, err2 := os.Stat(filepath.Join("../docs", p)); err2 != nil {
				t.Errorf("docs/testing.md refers to %s, which is not in the repository", p)
			}
		}
	}
}
