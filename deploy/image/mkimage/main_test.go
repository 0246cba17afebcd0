package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tree makes a small file tree like rootfs.sh's, with the given mtime.
func tree(t *testing.T, mtime time.Time, content string) string {
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"usr/bin", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "usr/bin/nfsgw"), []byte(content), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/sbin/nologin\n"), 0o644)
	os.Symlink("usr/lib", filepath.Join(root, "lib"))
	os.Chmod(filepath.Join(root, "tmp"), os.ModeSticky|0o777)
	for _, p := range []string{"usr/bin/nfsgw", "etc/passwd", "usr/bin", "usr", "etc", "tmp", ""} {
		os.Chtimes(filepath.Join(root, p), mtime, mtime)
	}
	return root
}

func build(t *testing.T, root string, epoch int64) (*Result, []byte) {
	var b bytes.Buffer
	r, err := Build(Options{Root: root, Name: "nfsgw:t", Version: "t", Revision: "abc", Epoch: epoch}, &b)
	if err != nil {
		t.Fatal(err)
	}
	return r, b.Bytes()
}

// TestReproducible: the same tree packed twice, from copies made at
// different times, gives the same bytes and digest; other content or
// another epoch gives another digest.
func TestReproducible(t *testing.T) {
	r1, b1 := build(t, tree(t, time.Unix(1e9, 0), "binary"), 1700000000)
	r2, b2 := build(t, tree(t, time.Now(), "binary"), 1700000000)
	if r1.Digest != r2.Digest || !bytes.Equal(b1, b2) {
		t.Fatalf("two builds of one tree differ: %s %s", r1.Digest, r2.Digest)
	}
	if r3, _ := build(t, tree(t, time.Now(), "other"), 1700000000); r3.Digest == r1.Digest {
		t.Error("other content, same digest")
	}
	if r4, _ := build(t, tree(t, time.Now(), "binary"), 1700000001); r4.Digest == r1.Digest {
		t.Error("other epoch, same digest")
	}
}

// TestLayout: the archive is an OCI layout whose entries carry the epoch,
// and the layer keeps modes (the sticky /tmp) and symbolic links.
func TestLayout(t *testing.T) {
	r, b := build(t, tree(t, time.Now(), "binary"), 1700000000)
	tr := tar.NewReader(bytes.NewReader(b))
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
		if !h.ModTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s: mtime %v", h.Name, h.ModTime)
		}
	}
	if !names["oci-layout"] || !names["index.json"] || !names["blobs/sha256/"+r.Digest[len("sha256:"):]] {
		t.Errorf("not an OCI layout: %v", names)
	}
	want := map[string]bool{"/usr/bin/nfsgw": true, "/etc/passwd": true, "/tmp": true, "/lib": true}
	if err := CheckPaths(r.Paths, want); err != nil {
		t.Error(err)
	}
	delete(want, "/tmp")
	if err := CheckPaths(r.Paths, want); err == nil {
		t.Error("an unlisted /tmp passed")
	}
	want["/tmp"], want["/etc/shadow"] = true, true
	if err := CheckPaths(r.Paths, want); err == nil {
		t.Error("a listed /etc/shadow that is missing passed")
	}
	lt, _, err := layer(tree(t, time.Now(), "x"), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ltr := tar.NewReader(bytes.NewReader(lt))
	for {
		h, err := ltr.Next()
		if err != nil {
			break
		}
		if h.Name == "tmp/" && h.FileInfo().Mode()&os.ModeSticky == 0 {
			t.Error("/tmp lost its sticky bit")
		}
		if h.Name == "lib" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/lib") {
			t.Errorf("lib: %v %q", h.Typeflag, h.Linkname)
		}
	}
}
