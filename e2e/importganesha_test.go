package e2e

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

var (
	ctlOnce sync.Once
	ctlPath string
	ctlErr  error
)

// nfsgwctlBin returns nfsgwctl: the one beside NFSGW_BIN (make build puts
// both in bin/), or one built on the fly.
func nfsgwctlBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("NFSGW_BIN"); p != "" {
		c := filepath.Join(filepath.Dir(p), "nfsgwctl")
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	ctlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nfsgwctl-e2e")
		if err != nil {
			ctlErr = err
			return
		}
		ctlPath = filepath.Join(dir, "nfsgwctl")
		out, err := exec.Command("go", "build", "-tags", "pacific", "-o", ctlPath, "nfsgw/cmd/nfsgwctl").CombinedOutput()
		if err != nil {
			ctlErr = fmt.Errorf("go build nfsgwctl: %v\n%s", err, out)
		}
	})
	if ctlErr != nil {
		t.Fatal(ctlErr)
	}
	return ctlPath
}

// TestImportGanesha is the zero-remount migration: NFS-Ganesha 4.3 serves
// two CephFS exports from a configuration written the way ceph-mgr/Rook
// and hand-written sites write them (one with a cephx secret and a CLIENT
// block, one in an included file), a client records file handles, Ganesha
// stops, nfsgwctl import-ganesha converts the configuration, nfsgw starts
// from it on Ganesha's address, and the recorded handles work there: same
// export ids, same bytes, same access rules.
func TestImportGanesha(t *testing.T) {
	b := testBackend(t)
	if b.Name() != "ceph" {
		t.Skip("FSAL_CEPH migration: this test runs in the CephFS pass (NFSGW_E2E_BACKEND=ceph)")
	}
	ganesha, err := exec.LookPath("ganesha.nfsd")
	if err != nil {
		t.Fatal("ganesha.nfsd not installed (make deps installs nfs-ganesha and nfs-ganesha-ceph)")
	}
	cephConf := os.Getenv("CEPH_CONF")
	key, err := exec.Command("ceph", "-c", cephConf, "auth", "get-key", "client.nfsgw").Output()
	if err != nil {
		t.Fatalf("the test cluster's client.nfsgw key: %v", err)
	}
	secret := strings.TrimSpace(string(key))

	shared, archive := b.NewDir(t), b.NewDir(t)
	const text = "written before the switch"
	if err := shared.Mkdir("sub", 0o777); err != nil {
		t.Fatal(err)
	}
	if err := shared.WriteFile("sub/kept.txt", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := archive.WriteFile("old.txt", []byte("archived"), 0o644); err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	ganeshaConf := filepath.Join(work, "ganesha.conf")
	os.MkdirAll(filepath.Join(work, "exports.d"), 0o755)
	writeFile(t, ganeshaConf, fmt.Sprintf(`# Main file, in ceph-mgr's style.
NFS_CORE_PARAM {
        Enable_NLM = false;
        Enable_RQUOTA = false;
        Protocols = 4;
        NFS_Port = %s;
        Bind_addr = %s;
}

NFSv4 {
        Delegations = false;
        RecoveryBackend = "fs";
        RecoveryRoot = "%s/recov";
        Graceless = true;
        Minor_Versions = 1, 2;
}

CEPH { Ceph_Conf = "%s"; }

EXPORT {
    FSAL {
        name = "CEPH";
        user_id = "nfsgw";
        filesystem = "cephfs";
        secret_access_key = "%s";
    }
    CLIENT {
        clients = 127.0.0.0/8;
        access_type = "RW";
        squash = "none";
    }
    export_id = 4242;
    path = "%s";
    pseudo = "/shared";
    access_type = "none";
    squash = "root_squash";
    attr_expiration_time = 0;
    security_label = true;
    protocols = 4;
    transports = "TCP";
}

%%include "exports.d/archive.conf"
`, port, host, work, cephConf, secret, strings.TrimPrefix(shared.Spec(), "ceph:")))
	writeFile(t, filepath.Join(work, "exports.d", "archive.conf"), fmt.Sprintf(`## hand-written, any case
Export {
	Export_Id = 7; Path = %s; Pseudo = /archive/b;
	Access_Type = RO; SQUASH = All_Squash;   # read-only for everyone
	Fsal { Name = Ceph; Filesystem = 'cephfs'; }
}
`, strings.TrimPrefix(archive.Spec(), "ceph:")))

	// Ganesha serves, a client records handles.
	stopGanesha := runGanesha(t, ganesha, addr, ganeshaConf)
	ctx := ctxT(t)
	gc, err := nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())})
	if err != nil {
		t.Fatalf("dial Ganesha: %v", err)
	}
	paths := []string{"/shared", "/shared/sub", "/shared/sub/kept.txt", "/archive/b", "/archive/b/old.txt"}
	handles := map[string][]byte{}
	for _, p := range paths {
		fh, _, err := gc.LookupPath(ctx, p)
		if err != nil {
			t.Fatalf("Ganesha: lookup %s: %v", p, err)
		}
		handles[p] = fh
	}
	if got, err := gc.ReadFile(ctx, "/shared/sub/kept.txt"); err != nil || string(got) != text {
		t.Fatalf("Ganesha: read: %q %v", got, err)
	}
	gc.Abandon() // the client does not unmount: its server goes away under it

	// Import while Ganesha still runs (the operator's order), then switch.
	ctl := exec.Command(nfsgwctlBin(t), "import-ganesha", "--keyring-dir", filepath.Join(work, "keys"),
		"-o", filepath.Join(work, "nfsgw.yaml"), ganeshaConf)
	var stderr bytes.Buffer
	ctl.Stderr = &stderr
	if err := ctl.Run(); err != nil {
		t.Fatalf("nfsgwctl import-ganesha: %v\n%s", err, stderr.String())
	}
	report := stderr.String()
	if strings.Contains(report, secret) {
		t.Errorf("the report shows the cephx secret")
	}
	for _, want := range []string{
		ganeshaConf + ":37: export 4242: attr_expiration_time = \"0\": not honoured",
		"wrote keyring " + filepath.Join(work, "keys", "ceph.client.nfsgw.keyring"),
		"imported 2 export(s)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("import report lacks %q:\n%s", want, report)
		}
	}
	y, _ := os.ReadFile(filepath.Join(work, "nfsgw.yaml"))
	t.Logf("imported configuration:\n%s", y)
	if strings.Contains(string(y), secret) {
		t.Errorf("the configuration holds the cephx secret")
	}
	stopGanesha()

	g := &gateway{t: t, Addr: addr, Dir: shared, Node: nodeName(t)}
	g.args = []string{"--config", filepath.Join(work, "nfsgw.yaml"), "--state-dir", "none", "--admin", "none", "--node-id", g.Node}
	g.start()
	t.Cleanup(g.stop)
	if !strings.Contains(g.log.String(), addr) {
		t.Logf("nfsgw log:\n%s", g.log.String())
	}

	// The handles Ganesha handed out work on nfsgw, and nfsgw hands out
	// the same bytes.
	nc := g.dial(t, 0, 0, nil)
	for _, p := range paths {
		a, err := nc.Getattr(ctx, handles[p])
		if err != nil {
			t.Errorf("nfsgw: GETATTR with Ganesha's handle of %s (%s): %v", p, hex.EncodeToString(handles[p]), err)
			continue
		}
		if p == "/shared/sub/kept.txt" && a.Size != uint64(len(text)) {
			t.Errorf("size through Ganesha's handle: %d", a.Size)
		}
		fh, _, err := nc.LookupPath(ctx, p)
		if err != nil || !bytes.Equal(fh, handles[p]) {
			t.Errorf("nfsgw: handle of %s: %x %v, Ganesha's %x", p, fh, err, handles[p])
		}
	}
	ents, err := nc.Readdir(ctx, handles["/shared/sub"])
	if err != nil || len(ents) != 1 || ents[0].Name != "kept.txt" {
		t.Errorf("READDIR with Ganesha's directory handle: %+v %v", ents, err)
	}
	if got, err := nc.ReadFile(ctx, "/shared/sub/kept.txt"); err != nil || string(got) != text {
		t.Errorf("nfsgw: read: %q %v", got, err)
	}

	// The access rules came along: the CLIENT block's RW without squash
	// on /shared, read-only on /archive/b.
	d, err := nc.Mkdir(ctx, handles["/shared/sub"], "made-as-root", 0o755)
	if err != nil {
		t.Fatalf("nfsgw: MKDIR as root in /shared (CLIENT squash none, RW): %v", err)
	}
	if a, err := nc.Getattr(ctx, d); err != nil || a.Owner != "0" {
		t.Errorf("owner of a directory root made: %q %v (want 0: squash none)", a.Owner, err)
	}
	if _, err := nc.Mkdir(ctx, handles["/archive/b"], "nope", 0o755); !errors.Is(err, nfsclient.ErrStatus(nfs4.ErrRofs)) {
		t.Errorf("MKDIR in the read-only export: %v, want NFS4ERR_ROFS", err)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImportGaneshaRadosURL imports exports the way cephadm, ceph-mgr's nfs
// module and Rook keep them: the main file names a RADOS object with
// %url, and that object names one object per export.
func TestImportGaneshaRadosURL(t *testing.T) {
	if testBackend(t).Name() != "ceph" {
		t.Skip("RADOS objects: this test runs in the CephFS pass (NFSGW_E2E_BACKEND=ceph)")
	}
	conf, pool := os.Getenv("CEPH_CONF"), os.Getenv("CEPH_POOL")
	if pool == "" {
		pool = "nfsgw"
	}
	ns := fmt.Sprintf("import-%d", time.Now().UnixNano())
	work := t.TempDir()
	put := func(obj, text string) {
		t.Helper()
		f := filepath.Join(work, obj)
		writeFile(t, f, text)
		if out, err := exec.Command("rados", "-c", conf, "-p", pool, "-N", ns, "put", obj, f).CombinedOutput(); err != nil {
			t.Fatalf("rados put %s: %v\n%s", obj, err, out)
		}
		t.Cleanup(func() { exec.Command("rados", "-c", conf, "-p", pool, "-N", ns, "rm", obj).Run() })
	}
	put("conf-nfs.test", fmt.Sprintf("%%url \"rados://%s/%s/export-1\"\n\n%%url \"rados://%s/%s/export-2\"\n", pool, ns, pool, ns))
	put("export-1", `EXPORT {
    FSAL {
        name = "CEPH";
        user_id = "nfs.test.1";
        filesystem = "cephfs";
    }
    export_id = 1;
    path = "/volumes/_nogroup/a/0000";
    pseudo = "/a";
    access_type = "RW";
    squash = "none";
    protocols = 4;
    transports = "TCP";
}
`)
	put("export-2", `EXPORT {
    FSAL {
        name = "CEPH";
        user_id = "nfs.test.2";
        filesystem = "cephfs";
    }
    CLIENT {
        clients = 10.0.0.0/8;
        access_type = "RO";
        squash = "root_squash";
    }
    export_id = 2;
    path = "/volumes/_nogroup/b/0000";
    pseudo = "/b";
    access_type = "none";
    squash = "none";
    protocols = 4;
    transports = "TCP";
}
`)
	mainConf := filepath.Join(work, "ganesha.conf")
	writeFile(t, mainConf, fmt.Sprintf("NFS_CORE_PARAM { Protocols = 4; }\n%%url\trados://%s/%s/conf-nfs.test\n", pool, ns))
	cmd := exec.Command(nfsgwctlBin(t), "import-ganesha", "--ceph-conf", conf, mainConf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("nfsgwctl import-ganesha: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{
		"# EXPORT at rados://" + pool + "/" + ns + "/export-1:1\n  - id: 1\n    pseudo: /a\n    path: ceph:/volumes/_nogroup/a/0000\n    ceph_fs: cephfs\n    ceph_user: nfs.test.1\n    access: rw\n    squash: none\n",
		"  - id: 2\n    pseudo: /b\n    path: ceph:/volumes/_nogroup/b/0000\n    ceph_fs: cephfs\n    ceph_user: nfs.test.2\n    access: ro\n    squash: root\n",
		"    clients:\n      - 10.0.0.0/8\n",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks\n%s\nin\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "imported 2 export(s) into stdout") {
		t.Errorf("report:\n%s", stderr.String())
	}
}
