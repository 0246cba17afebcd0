// mkimage packs a file tree (made by deploy/image/rootfs.sh) into an OCI
// image layout archive, without a registry or a container daemon, so that
// `ctr images import`, `podman load` or `skopeo copy oci-archive:` take it:
//
//	mkimage -root DIR -o nfsgw.tar -name nfsgw:VERSION -version V -revision COMMIT \
//	        -epoch SOURCE_DATE_EPOCH [-expect deploy/image/files.txt]
//
// The archive is reproducible: entries in name order, every time stamp set
// to -epoch, owners numeric and names empty, gzip without a name or time,
// JSON with sorted keys. Same tree and flags, same bytes and digest.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The image's run-time configuration. The Containerfile states the same
// (a test compares them).
var (
	imageUser       = "65532:65532"
	imageEntrypoint = []string{"/usr/bin/nfsgw"}
	imageEnv        = []string{"PATH=/usr/bin"}
	imagePorts      = []string{"2049/tcp", "9090/tcp"}
)

// Labels are the image's labels: title, version, commit and creation time.
func Labels(version, revision string, epoch int64) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    "nfsgw",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.created":  time.Unix(epoch, 0).UTC().Format(time.RFC3339),
	}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    map[string]string `json:"platform,omitempty"`
}

func digest(b []byte) string { h := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(h[:]) }

// Options is what one image is made of.
type Options struct {
	Root, Name, Version, Revision string
	Epoch                         int64
}

// Result says what was written.
type Result struct {
	Digest    string   // the manifest's digest: the image's identity
	LayerSize int64    // compressed
	TreeSize  int64    // uncompressed layer
	Paths     []string // every entry of the layer, "/"-rooted
}

// layer writes ROOT as a tar stream, normalised.
func layer(root string, epoch time.Time) ([]byte, []string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		h.ModTime, h.AccessTime, h.ChangeTime = epoch, time.Time{}, time.Time{}
		h.Uname, h.Gname, h.Devmajor, h.Devminor = "", "", 0, 0
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		h.Format = tar.FormatPAX
		h.PAXRecords = nil
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		paths = append(paths, "/"+filepath.ToSlash(rel))
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), paths, nil
}

// Build writes the OCI layout archive of o to w.
func Build(o Options, w io.Writer) (*Result, error) {
	epoch := time.Unix(o.Epoch, 0).UTC()
	tree, paths, err := layer(o.Root, epoch)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(tree)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	ports := map[string]struct{}{}
	for _, p := range imagePorts {
		ports[p] = struct{}{}
	}
	labels := Labels(o.Version, o.Revision, o.Epoch)
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": labels["org.opencontainers.image.created"],
		"config": map[string]any{"User": imageUser, "Entrypoint": imageEntrypoint, "Env": imageEnv,
			"WorkingDir": "/", "ExposedPorts": ports, "Labels": labels},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(tree)}},
	})
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest(cfg), Size: int64(len(cfg))},
		"layers":        []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: digest(gz.Bytes()), Size: int64(gz.Len())}},
		"annotations":   labels,
	})
	tag := o.Name
	if i := strings.LastIndex(tag, ":"); i > strings.LastIndex(tag, "/") {
		tag = tag[i+1:]
	}
	idx, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []descriptor{{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest(man), Size: int64(len(man)),
			Annotations: map[string]string{"io.containerd.image.name": o.Name, "org.opencontainers.image.ref.name": tag},
			Platform:    map[string]string{"architecture": "amd64", "os": "linux"}}},
	})

	ow := tar.NewWriter(w)
	put := func(name string, b []byte) error {
		if err := ow.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := ow.Write(b)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := ow.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	blobs := [][]byte{gz.Bytes(), cfg, man}
	sort.Slice(blobs, func(i, j int) bool { return digest(blobs[i]) < digest(blobs[j]) })
	for _, b := range blobs {
		if err := put("blobs/sha256/"+strings.TrimPrefix(digest(b), "sha256:"), b); err != nil {
			return nil, err
		}
	}
	if err := put("index.json", idx); err != nil {
		return nil, err
	}
	if err := put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, err
	}
	if err := ow.Close(); err != nil {
		return nil, err
	}
	return &Result{Digest: digest(man), LayerSize: int64(gz.Len()), TreeSize: int64(len(tree)), Paths: paths}, nil
}

// expected reads the paths a files.txt names (its second column).
func expected(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) >= 2 && !strings.HasPrefix(fields[0], "#") {
			want[fields[1]] = true
		}
	}
	return want, s.Err()
}

// CheckPaths: every listed path is in the layer, and every entry of the
// layer is listed or is a directory on the way to one.
func CheckPaths(paths []string, want map[string]bool) error {
	have := map[string]bool{}
	for _, p := range paths {
		have[p] = true
	}
	parents := map[string]bool{}
	for w := range want {
		if !have[w] {
			return fmt.Errorf("%s is listed but not in the image", w)
		}
		for d := filepath.Dir(w); d != "/"; d = filepath.Dir(d) {
			parents[d] = true
		}
	}
	for _, p := range paths {
		if !want[p] && !parents[p] {
			return fmt.Errorf("%s is in the image but not listed", p)
		}
	}
	return nil
}

func main() {
	var o Options
	flag.StringVar(&o.Root, "root", "", "the file tree to pack (deploy/image/rootfs.sh)")
	out := flag.String("o", "nfsgw.tar", "output OCI archive")
	flag.StringVar(&o.Name, "name", "nfsgw:dev", "image reference recorded in the archive")
	flag.StringVar(&o.Version, "version", "dev", "org.opencontainers.image.version")
	flag.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision (the commit)")
	flag.Int64Var(&o.Epoch, "epoch", 0, "every time stamp (SOURCE_DATE_EPOCH)")
	expect := flag.String("expect", "", "files.txt: refuse an image whose paths differ from it")
	// make test-k8s packs its pause image with this tool too.
	entry := flag.String("entrypoint", imageEntrypoint[0], "the image's entrypoint")
	flag.Parse()
	imageEntrypoint = []string{*entry}
	if o.Root == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mkimage -root DIR -o OUT.tar [-name REF -version V -revision C -epoch N -expect FILES]")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err == nil {
		var r *Result
		if r, err = Build(o, f); err == nil {
			if err = f.Close(); err == nil && *expect != "" {
				var want map[string]bool
				if want, err = expected(*expect); err == nil {
					err = CheckPaths(r.Paths, want)
				}
			}
			if err == nil {
				fmt.Printf("%s %s %s layer %d bytes (%d uncompressed), %d entries\n", *out, o.Name, r.Digest, r.LayerSize, r.TreeSize, len(r.Paths))
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
