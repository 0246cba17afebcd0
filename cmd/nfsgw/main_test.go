package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCaptured runs the command line in-process and returns its exit
// status, stdout and stderr.
func runCaptured(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	capture := func(f **os.File) func() string {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		old := *f
		*f = w
		done := make(chan string)
		go func() { b, _ := io.ReadAll(r); done <- string(b) }()
		return func() string { *f = old; w.Close(); return <-done }
	}
	outDone, errDone := capture(&os.Stdout), capture(&os.Stderr)
	code := run(args)
	return code, outDone(), errDone()
}

// startErrors are configuration mistakes nfsgw must find before it serves
// anything: each exits 2 with one plain line on stderr.
func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfgFile := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	free := "127.0.0.1:0"
	base := []string{"--listen", free, "--admin", "none", "--state-dir", "none"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"extra word", append(base, "--export", "/e="+dir, "serve"), `unexpected argument "serve"`},
		{"bad log level", append(base, "--export", "/e="+dir, "--log-level", "verbose"), `log level "verbose"`},
		{"missing directory", append(base, "--export", "/e="+filepath.Join(dir, "nope")), "no such file or directory"},
		{"duplicate pseudo", append(base, "--export", "/e="+dir, "--export", "/e="+dir), "duplicate pseudo path"},
		{"nested pseudo", append(base, "--export", "/e="+dir, "--export", "/e/f="+dir), "nested"},
		// Ids come from the pseudo paths; these two hash to the same one.
		{"colliding quick-start ids", append(base, "--export", "/e138="+dir, "--export", "/e248="+dir), "explicit ids in a config file"},
		{"duplicate id", append(base, "--config", cfgFile("dup.yaml",
			"exports: [{id: 3, pseudo: /a, path: "+dir+"}, {id: 3, pseudo: /b, path: "+dir+"}]\n")), "duplicate export id 3"},
		{"export without id", append(base, "--config", cfgFile("noid.yaml",
			"exports: [{pseudo: /a, path: "+dir+"}]\n")), "has no id"},
		{"port in use", []string{"--listen", busy.Addr().String(), "--admin", "none", "--state-dir", "none",
			"--export", "/e=" + dir}, "address already in use"},
		{"admin port in use", append(base, "--export", "/e="+dir, "--admin", busy.Addr().String()), "admin API: listen"},
		{"metrics port in use", append(base, "--export", "/e="+dir, "--metrics", busy.Addr().String()), "metrics: listen"},
		{"metrics without a port", append(base, "--export", "/e="+dir, "--metrics", "localhost"), "metrics address"},
		{"bad log format", append(base, "--export", "/e="+dir, "--log-format", "xml"), `log format "xml"`},
		{"admin on the network without TLS", append(base, "--export", "/e="+dir, "--admin", "0.0.0.0:0"), "mutual TLS"},
	} {
		code, _, errs := runCaptured(t, tc.args...)
		lines := strings.Split(strings.TrimRight(errs, "\n"), "\n")
		if code != 2 || len(lines) != 1 || !strings.HasPrefix(errs, "nfsgw: ") || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line with %q", tc.name, code, errs, tc.want)
		}
		if strings.Count(errs, "admin API") > 1 || strings.Count(errs, "config:") > 1 {
			t.Errorf("%s: repeated prefix in %q", tc.name, errs)
		}
	}
}

// TestNonRootLocalExport: the local backend needs root; say so instead of
// failing inside localfs with a message about handle keys.
func TestNonRootLocalExport(t *testing.T) {
	euid = func() int { return 1000 }
	defer func() { euid = os.Geteuid }()
	code, _, errs := runCaptured(t, "--listen", "127.0.0.1:0", "--admin", "none", "--export", "/e="+t.TempDir())
	if code != 2 || !strings.Contains(errs, "needs root") || strings.Contains(errs, "HandleKey") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

func TestHelpAndVersion(t *testing.T) {
	if code, _, errs := runCaptured(t, "--help"); code != 0 || !strings.Contains(errs, "-export") {
		t.Errorf("--help: exit %d, stderr %q", code, errs)
	}
	version = "v0.3.0-12-gdeadbee"
	defer func() { version = "dev" }()
	if code, out, _ := runCaptured(t, "--version"); code != 0 || out != "nfsgw v0.3.0-12-gdeadbee\n" {
		t.Errorf("--version: exit %d, stdout %q", code, out)
	}
}
