package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nfsgw/gateway/config"
)

const ganeshaTestdata = "../../gateway/ganeshaconf/testdata/"

// TestImportGanesha runs the command on Ganesha configurations: the YAML
// goes to stdout or -o, loads in nfsgw, keeps the export ids, and every
// issue is on stderr with its file and line.
func TestImportGanesha(t *testing.T) {
	code, out, errs := ctl(t, "import-ganesha", ganeshaTestdata+"mixed/ganesha.conf")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	c, err := config.Parse([]byte(out))
	if err != nil {
		t.Fatalf("stdout is not an nfsgw configuration: %v\n%s", err, out)
	}
	var ids []int
	for _, e := range c.Exports {
		ids = append(ids, e.ID)
	}
	if len(ids) != 3 || ids[0] != 10 || ids[1] != 11 || ids[2] != 20 {
		t.Errorf("export ids %v, want Ganesha's 10 11 20", ids)
	}
	for _, want := range []string{
		ganeshaTestdata + "mixed/conf.d/exports.conf:9: export 10: Clients: host name host1.example.com cannot be matched",
		ganeshaTestdata + "mixed/conf.d/exports.conf:33: export 13: EXPORT not imported: Protocols",
		"imported 3 export(s) into stdout; 6 EXPORT block(s) not imported, 18 issue(s) listed above",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}

	// -o and --keyring-dir: the secret lands in a 0600 keyring, and
	// nowhere else.
	dir := t.TempDir()
	conf := filepath.Join(dir, "ganesha.conf")
	secret := "AQBsecretsecretsecretsecretsecretsecre=="
	os.WriteFile(conf, []byte(`EXPORT { FSAL { name = "CEPH"; user_id = "nfs.x.1"; filesystem = "cephfs"; secret_access_key = "`+secret+`"; }
    export_id = 4; path = "/vol"; pseudo = "/vol"; access_type = "RW"; squash = "none"; protocols = 4; transports = "TCP"; }`), 0o644)
	outFile := filepath.Join(dir, "nfsgw.yaml")
	code, out, errs = ctl(t, "import-ganesha", "-o", outFile, "--keyring-dir", filepath.Join(dir, "keys"), conf)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q\n%s", code, out, errs)
	}
	y, _ := os.ReadFile(outFile)
	kr := filepath.Join(dir, "keys", "ceph.client.nfs.x.1.keyring")
	if !strings.Contains(string(y), "ceph_keyring: "+kr) || !strings.Contains(string(y), "ceph_user: nfs.x.1") {
		t.Errorf("output:\n%s", y)
	}
	if strings.Contains(string(y)+errs, secret) {
		t.Errorf("the secret is printed")
	}
	k, err := os.ReadFile(kr)
	fi, _ := os.Stat(kr)
	if err != nil || string(k) != "[client.nfs.x.1]\n\tkey = "+secret+"\n" || fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring: %v %q %v", err, k, fi.Mode())
	}
	if !strings.Contains(errs, "wrote keyring "+kr) {
		t.Errorf("stderr: %s", errs)
	}

	// Without --keyring-dir the secret is an issue; --strict then writes nothing.
	code, out, errs = ctl(t, "import-ganesha", "--strict", conf)
	if code != 1 || out != "" || !strings.Contains(errs, "Secret_Access_Key: not honoured") || !strings.Contains(errs, "--strict") {
		t.Errorf("--strict: exit %d stdout %q stderr %s", code, out, errs)
	}
	// With it, the secret is honoured, and --strict passes.
	code, out, errs = ctl(t, "import-ganesha", "--strict", "--keyring-dir", filepath.Join(dir, "keys2"), conf)
	if code != 0 || !strings.Contains(out, "id: 4") || !strings.Contains(errs, "0 issue(s)") {
		t.Errorf("--strict --keyring-dir: exit %d stdout %q stderr %s", code, out, errs)
	}
	// A refused import writes no keyring.
	os.WriteFile(conf, []byte(`EXPORT { FSAL { name = "CEPH"; user_id = "nfs.x.1"; secret_access_key = "`+secret+`"; }
    export_id = 4; path = "/vol"; pseudo = "/vol"; access_type = "RW"; security_label = true; }`), 0o644)
	code, _, errs = ctl(t, "import-ganesha", "--strict", "--keyring-dir", filepath.Join(dir, "keys3"), conf)
	if _, err := os.Stat(filepath.Join(dir, "keys3")); code != 1 || err == nil {
		t.Errorf("--strict with an issue: exit %d, keyring directory made (%v)\n%s", code, err, errs)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"import-ganesha"}, 2, "usage: nfsgwctl import-ganesha"},
		{[]string{"import-ganesha", "a", "b"}, 2, "usage: nfsgwctl import-ganesha"},
		{[]string{"import-ganesha", filepath.Join(dir, "none.conf")}, 1, "no such file"},
		{[]string{"import-ganesha", ganeshaTestdata + "debian/ganesha.conf"}, 1, "no EXPORT blocks: nothing to import"},
	} {
		code, out, errs := ctl(t, tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errs, tc.msg) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errs, tc.code, tc.msg)
		}
	}
}
