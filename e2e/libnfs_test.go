package e2e

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nfsgw/gateway/nfs4"
)

// These tests drive the gateway with Debian's libnfs-utils (NFSv4.0): a
// client nobody on this project wrote. libnfs 4.0.0 cannot send a WRITE of
// more than 3,944 bytes, so uploads stay below that.

func TestLibnfsUploadListDownload(t *testing.T) {
	g := startGateway(t)
	local := t.TempDir()
	payload := make([]byte, 3900)
	rand.Read(payload)
	src := filepath.Join(local, "up.bin")
	os.WriteFile(src, payload, 0644)

	out, err := runTool(t, "nfs-cp", src, g.libnfsURL("/up.bin"))
	if err != nil || !strings.Contains(out, "copied 3900 bytes") {
		t.Fatalf("nfs-cp upload: %v\n%s", err, out)
	}
	onDisk, err := g.Dir.ReadFile("up.bin")
	if err != nil || !bytes.Equal(onDisk, payload) {
		t.Fatalf("uploaded file on disk differs: %v", err)
	}

	// A bigger file written locally comes back whole: READ has no limit.
	big := make([]byte, 2<<20+7)
	rand.Read(big)
	if err := g.Dir.WriteFile("big.bin", big, 0644); err != nil {
		t.Fatal(err)
	}
	if err := g.Dir.Mkdir("subdir", 0755); err != nil {
		t.Fatal(err)
	}

	out, err = runTool(t, "nfs-ls", g.libnfsURL("/"))
	if err != nil {
		t.Fatalf("nfs-ls: %v\n%s", err, out)
	}
	for _, want := range []string{"up.bin", "big.bin", "subdir"} {
		if !strings.Contains(out, want) {
			t.Fatalf("nfs-ls output lacks %s:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "3900 up.bin") || !strings.Contains(out, "d") {
		t.Fatalf("nfs-ls sizes or types wrong:\n%s", out)
	}

	dst := filepath.Join(local, "down.bin")
	if out, err := runTool(t, "nfs-cp", g.libnfsURL("/big.bin"), dst); err != nil {
		t.Fatalf("nfs-cp download: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, big) {
		t.Fatal("downloaded file differs")
	}
	out, err = runTool(t, "nfs-cat", g.libnfsURL("/up.bin"))
	if err != nil || out != string(payload) {
		t.Fatalf("nfs-cat: %v (got %d bytes)", err, len(out))
	}
}

func TestLibnfsErrors(t *testing.T) {
	g := startGateway(t)
	out, err := runTool(t, "nfs-cat", g.libnfsURL("/does-not-exist"))
	if err == nil || !strings.Contains(out, "NFS4ERR_NOENT") {
		t.Fatalf("nfs-cat of a missing file: %v\n%s", err, out)
	}
	if err := g.Dir.WriteFile("exists", []byte("x"), 0644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("y"), 0644)
	// libnfs creates exclusively (EXCLUSIVE4): an existing name is refused
	// and the file is untouched.
	out, err = runTool(t, "nfs-cp", src, g.libnfsURL("/exists"))
	if err == nil || !strings.Contains(out, "NFS4ERR_EXIST") {
		t.Fatalf("nfs-cp onto an existing file: %v\n%s", err, out)
	}
	if b, _ := g.Dir.ReadFile("exists"); string(b) != "x" {
		t.Fatalf("existing file changed: %q", b)
	}
}

// TestLibnfsSeesOurWrites crosses the two clients: what our 4.1 client
// writes, libnfs (4.0) reads, and the other way round.
func TestLibnfsSeesOurWrites(t *testing.T) {
	g := startGateway(t)
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	if err := c.WriteFile(ctx, "/export/ours.txt", []byte("written by nfsclient\n"), 0644); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, "nfs-cat", g.libnfsURL("/ours.txt"))
	if err != nil || out != "written by nfsclient\n" {
		t.Fatalf("nfs-cat: %v %q", err, out)
	}
	src := filepath.Join(t.TempDir(), "theirs")
	os.WriteFile(src, []byte("written by libnfs"), 0644)
	if out, err := runTool(t, "nfs-cp", src, g.libnfsURL("/theirs.txt")); err != nil {
		t.Fatalf("nfs-cp: %v\n%s", err, out)
	}
	data, err := c.ReadFile(ctx, "/export/theirs.txt")
	if err != nil || string(data) != "written by libnfs" {
		t.Fatalf("read libnfs's file: %q %v", data, err)
	}
	a, _, err := c.LookupPath(ctx, "/export/theirs.txt")
	if err != nil || len(a) == 0 {
		t.Fatal(err)
	}
	if attrs, _ := c.Getattr(ctx, a); attrs.Type != nfs4.NF4REG {
		t.Fatalf("type %d", attrs.Type)
	}
}
