package ganeshaconf

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nfsgw/gateway/config"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// fakeRados serves %url rados://POOL/NS/OBJ from testdata/cephmgr/objects.
func fakeRados(dir string) func(string) ([]byte, error) {
	return func(u string) ([]byte, error) {
		rest, ok := strings.CutPrefix(u, "rados://")
		if !ok {
			return nil, fmt.Errorf("not a rados URL")
		}
		return os.ReadFile(filepath.Join(dir, filepath.Base(rest)))
	}
}

// TestImportGolden imports real and realistic configurations (Debian's
// samples, cephadm/ceph-mgr's RADOS-held exports, a Rook gateway, a
// hand-written file with includes) and compares the YAML and the list of
// issues with testdata/NAME.golden (go test -update rewrites them). Every
// result must load in nfsgw, and no secret may appear in either output.
func TestImportGolden(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"debian-ceph", "testdata/debian/ceph.conf"},
		{"cephmgr", "testdata/cephmgr/ganesha.conf"},
		{"rook", "testdata/rook/ganesha.conf"},
		{"mixed", "testdata/mixed/ganesha.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, err := ParseFile(tc.file, Options{FetchURL: fakeRados("testdata/cephmgr/objects")})
			if err != nil {
				t.Fatal(err)
			}
			written := map[string]string{}
			r, err := Import(root, ImportOptions{KeyringDir: "/etc/nfsgw/keys", WriteKeyring: func(p string, b []byte) error {
				written[p] = string(b)
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			y, err := r.YAML(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Check(y); err != nil {
				t.Fatalf("nfsgw refuses the result: %v\n%s", err, y)
			}
			var got strings.Builder
			got.Write(y)
			fmt.Fprintf(&got, "--- issues (%d exports, %d skipped)\n", len(r.Exports), r.Skipped)
			for _, is := range r.Issues {
				fmt.Fprintln(&got, is)
			}
			fmt.Fprintf(&got, "--- keyrings\n")
			for _, k := range r.Keyrings {
				fmt.Fprintln(&got, k)
			}
			for p, content := range written {
				secret := strings.TrimSpace(strings.SplitN(content, "key = ", 2)[1])
				if strings.Contains(got.String(), secret) {
					t.Errorf("the secret written to %s appears in the output", p)
				}
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, got.String())
			}
		})
	}
}

// TestDebianSampleUncommented imports Debian's commented ganesha.conf with
// its settings switched on ("#" removed where it comments out a setting;
// "##" and "# " prose stays), as an operator starting from it would.
func TestDebianSampleUncommented(t *testing.T) {
	b, err := os.ReadFile("testdata/debian/ganesha.conf")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if t := strings.TrimLeft(l, "\t "); len(t) > 1 && t[0] == '#' && t[1] != '#' && t[1] != ' ' {
			l = strings.Replace(l, "#", "", 1)
		}
		lines = append(lines, l)
	}
	root, err := Parse("ganesha.conf", []byte(strings.Join(lines, "\n")), Options{NoIncludes: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Import(root, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Exports) != 1 {
		t.Fatalf("exports: %+v\n%s", r.Exports, issues(r))
	}
	want := "id=12345 pseudo=/nonexistent path=/nonexistent fs= user= keyring= access=rw squash=root anon=4294967294:4294967294 clients=[] deleg=false"
	if got := dump(r.Exports[0].Export); got != want {
		t.Errorf("export:\n got %s\nwant %s", got, want)
	}
	for _, s := range []string{
		"ganesha.conf:15: NFS_CORE_PARAM mount_path_pseudo = \"true\": not honoured",
		"ganesha.conf:20: Protocols: nfsgw serves NFSv4 only (no NFSv3, no 9P)",
		"ganesha.conf:50: export 12345: Protocols = \"3, 4\": only NFSv4 is served",
		"ganesha.conf:60: export 12345: SecType = \"sys, krb5, krb5i, krb5p\": Kerberos flavours are not offered",
		"ganesha.conf:33: MDCACHE Entries_HWMark = \"100000\": not honoured",
		"ganesha.conf:72: LOG Default_Log_Level = \"WARN\": not honoured",
		"ganesha.conf:83: Facility destination = \"/var/log/ganesha.log\": not honoured",
		"FSAL VFS: nfsgw's local-directory file handles are not Ganesha's",
	} {
		if !strings.Contains(issues(r), s) {
			t.Errorf("issues lack %q:\n%s", s, issues(r))
		}
	}
	y, err := r.YAML("ganesha.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(y); err != nil {
		t.Errorf("nfsgw refuses it: %v\n%s", err, y)
	}
}

func TestDebianSampleHasNoExports(t *testing.T) {
	root, err := ParseFile("testdata/debian/ganesha.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(root, ImportOptions{}); !errors.Is(err, ErrNoExports) {
		t.Fatalf("Import of the all-comments sample: %v, want ErrNoExports", err)
	}
}

// importText imports one configuration text without includes.
func importText(t *testing.T, src string) *Result {
	t.Helper()
	root, err := Parse("test.conf", []byte(src), Options{NoIncludes: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Import(root, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func issues(r *Result) string {
	var s []string
	for _, i := range r.Issues {
		s = append(s, i.String())
	}
	return strings.Join(s, "\n")
}

// TestImportMapping: given an EXPORT, this nfsgw export and these issues.
func TestImportMapping(t *testing.T) {
	u := func(n uint32) *uint32 { return &n }
	no := false
	for _, tc := range []struct {
		name   string
		conf   string
		want   *config.Export // nil: not imported
		issues []string       // substrings, each must appear
	}{
		{name: "ceph with defaults",
			conf: `EXPORT { Export_Id = 7; Path = /a/; Pseudo = /x/; Access_Type = RW; FSAL { Name = CEPH; } }`,
			want: &config.Export{ID: 7, Pseudo: "/x", Path: "ceph:/a", Access: "rw", Squash: "root",
				AnonUID: u(0xfffffffe), AnonGID: u(0xfffffffe), Delegations: &no}},
		{name: "squash spellings and anon ids",
			conf: `export { export_id=8; path="/b"; pseudo='/b'; access_type=ro; squash=AllAnonymous; anonymous_uid=-3; Anonymous_GID = 0x10; fsal{name=vfs;} }`,
			want: &config.Export{ID: 8, Pseudo: "/b", Path: "/b", Access: "ro", Squash: "all",
				AnonUID: u(0xfffffffd), AnonGID: u(16), Delegations: &no},
			issues: []string{"FSAL VFS: nfsgw's local-directory file handles are not Ganesha's"}},
		{name: "ceph-mgr FSAL",
			conf: `EXPORT { FSAL { name = "CEPH"; user_id = "nfs.x.1"; filesystem = "cephfs"; secret_access_key = "S3CR3T"; }
				export_id = 1; path = "/"; pseudo = "/c"; access_type = "RW"; squash = "no_root_squash"; protocols = 4; transports = "TCP"; }`,
			want: &config.Export{ID: 1, Pseudo: "/c", Path: "ceph:/", CephUser: "nfs.x.1", CephFS: "cephfs", Access: "rw", Squash: "none",
				AnonUID: u(0xfffffffe), AnonGID: u(0xfffffffe), Delegations: &no},
			issues: []string{"Secret_Access_Key: not honoured", "--keyring-dir"}},
		{name: "no access anywhere",
			conf:   `EXPORT { Export_Id = 2; Path = /a; Pseudo = /a; FSAL { Name = CEPH; } }`,
			issues: []string{"test.conf:1: export 2: EXPORT not imported: no client has access"}},
		{name: "client grants, export denies",
			conf: "EXPORT { Export_Id = 3; Path = /a; Pseudo = /a; Access_Type = None;\n FSAL { Name = CEPH; }\n" +
				"CLIENT { Clients = 10.0.0.0/8, 192.168.1.7; Access_Type = RW; Squash = None; }\n" +
				"CLIENT { Clients = 10.2.0.0/16; Access_Type = RO; }\n}",
			want: &config.Export{ID: 3, Pseudo: "/a", Path: "ceph:/a", Access: "ro", Squash: "root",
				AnonUID: u(0xfffffffe), AnonGID: u(0xfffffffe), Clients: []string{"10.0.0.0/8", "192.168.1.7", "10.2.0.0/16"}, Delegations: &no},
			issues: []string{"test.conf:3: export 3: CLIENT at test.conf:3 (10.0.0.0/8, 192.168.1.7): Access_Type RW becomes ro, Squash No_Root_Squash becomes root"}},
		{name: "a denied network cannot be excluded",
			conf: "EXPORT { Export_Id = 4; Path = /a; Pseudo = /a; Access_Type = RW; FSAL { Name = CEPH; }\n" +
				"CLIENT { Clients = 10.1.0.0/16; Access_Type = None; }\nCLIENT { Clients = 10.0.0.0/8; Access_Type = RW; }\n}",
			want: &config.Export{ID: 4, Pseudo: "/a", Path: "ceph:/a", Access: "rw", Squash: "root",
				AnonUID: u(0xfffffffe), AnonGID: u(0xfffffffe), Clients: []string{"10.0.0.0/8"}, Delegations: &no},
			issues: []string{"clients that no CLIENT block lists lose their access (rw): nfsgw's clients list cannot exclude the clients CLIENT at test.conf:2 (10.1.0.0/16) denies"}},
		{name: "star client",
			conf: `EXPORT { Export_Id = 5; Path = /a; Pseudo = /a; FSAL { Name = CEPH; } CLIENT { Clients = *; Access_Type = RO; } CLIENT { Clients = 1.2.3.4; Access_Type = RW; } }`,
			want: &config.Export{ID: 5, Pseudo: "/a", Path: "ceph:/a", Access: "ro", Squash: "root",
				AnonUID: u(0xfffffffe), AnonGID: u(0xfffffffe), Delegations: &no}},
		{name: "delegations need NFSV4 and the export",
			conf: `NFSV4 { Delegations = true; } EXPORT { Export_Id = 6; Path = /a; Pseudo = /a; Access_Type = RW; Delegations = Readwrite; FSAL { Name = CEPH; } }`,
			want: &config.Export{ID: 6, Pseudo: "/a", Path: "ceph:/a", Access: "rw", Squash: "root",
				AnonUID: u(0xfffffffe), AnonGID: u(0xfffffffe)},
			issues: []string{"Delegations: nfsgw grants read delegations only"}},
		{name: "AUTH_NONE only",
			conf: `EXPORT { Export_Id = 9; Path = /a; Pseudo = /a; Access_Type = RW; Squash = None; SecType = none; FSAL { Name = CEPH; } }`,
			want: &config.Export{ID: 9, Pseudo: "/a", Path: "ceph:/a", Access: "rw", Squash: "all",
				AnonUID: u(0xfffffffe), AnonGID: u(0xfffffffe), Delegations: &no},
			issues: []string{"SecType = none only"}},
		{name: "unknown options are listed with their line",
			conf: "EXPORT { Export_Id = 1; Path = /a; Pseudo = /a; Access_Type = RW;\nAttr_Expiration_Time = 0;\nFrobnicate = yes;\nFSAL { Name = CEPH; cmount_path = /; } }",
			want: &config.Export{ID: 1, Pseudo: "/a", Path: "ceph:/a", Access: "rw", Squash: "root",
				AnonUID: u(0xfffffffe), AnonGID: u(0xfffffffe), Delegations: &no},
			issues: []string{"test.conf:2: export 1: Attr_Expiration_Time = \"0\": not honoured", "test.conf:3: export 1: Frobnicate = \"yes\": not honoured", "test.conf:4: export 1: FSAL cmount_path"}},
		{name: "export id 0", conf: `EXPORT { Export_Id = 0; Path = /; Pseudo = /; FSAL { Name = PSEUDO; } }`,
			issues: []string{"Export_Id 0 is Ganesha's pseudo-filesystem root"}},
		{name: "no pseudo", conf: `EXPORT { Export_Id = 3; Path = /a; Access_Type = RW; FSAL { Name = VFS; } }`,
			issues: []string{"no Pseudo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := importText(t, tc.conf)
			all := issues(r)
			for _, s := range tc.issues {
				if !strings.Contains(all, s) {
					t.Errorf("issues lack %q:\n%s", s, all)
				}
			}
			if tc.want == nil {
				if len(r.Exports) != 0 {
					t.Errorf("imported %+v, want nothing", r.Exports[0].Export)
				}
				return
			}
			if len(r.Exports) != 1 {
				t.Fatalf("%d exports, want 1; issues:\n%s", len(r.Exports), all)
			}
			got := fmt.Sprintf("%+v", dump(r.Exports[0].Export))
			want := fmt.Sprintf("%+v", dump(*tc.want))
			if got != want {
				t.Errorf("export:\n got %s\nwant %s\nissues:\n%s", got, want, all)
			}
			y, err := r.YAML("test.conf")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Check(y); err != nil {
				t.Errorf("nfsgw refuses the result: %v\n%s", err, y)
			}
		})
	}
}

// dump makes an Export's pointers printable.
func dump(e config.Export) string {
	p := func(v *uint32) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	d := "-"
	if e.Delegations != nil {
		d = fmt.Sprint(*e.Delegations)
	}
	return fmt.Sprintf("id=%d pseudo=%s path=%s fs=%s user=%s keyring=%s access=%s squash=%s anon=%s:%s clients=%v deleg=%s",
		e.ID, e.Pseudo, e.Path, e.CephFS, e.CephUser, e.CephKeyring, e.Access, e.Squash, p(e.AnonUID), p(e.AnonGID), e.Clients, d)
}

func TestGlobalSettings(t *testing.T) {
	r := importText(t, `NFS_CORE_PARAM { Bind_Addr = 10.0.0.5; NFS_Port = 2050; Enable_NLM = false; Dispatch_Max_Reqs = 5000; }
NFSv4 { Lease_Lifetime = 30; Grace_Period = 45; }
CEPH { Ceph_Conf = /etc/ceph/c.conf; }
EXPORT { Export_Id = 1; Path = /a; Pseudo = /a; Access_Type = RW; FSAL { Name = CEPH; } }`)
	if fmt.Sprintf("%v %d %d %s", r.Listen, r.LeaseSeconds, r.GraceSeconds, r.CephConf) != "[10.0.0.5:2050] 30 45 /etc/ceph/c.conf" {
		t.Errorf("globals: %v %d %d %s", r.Listen, r.LeaseSeconds, r.GraceSeconds, r.CephConf)
	}
	if !strings.Contains(issues(r), "test.conf:1: NFS_CORE_PARAM Dispatch_Max_Reqs") || strings.Contains(issues(r), "Enable_NLM") {
		t.Errorf("issues:\n%s", issues(r))
	}
}

func TestClientWithoutNFSv4(t *testing.T) {
	r := importText(t, "EXPORT { Export_Id = 1; Path = /a; Pseudo = /a; FSAL { Name = CEPH; }\n"+
		"CLIENT { Clients = 10.0.0.0/8; Access_Type = RW; Protocols = 3; }\nCLIENT { Clients = 10.1.0.0/16; Access_Type = RO; Transports = TCP; }\n}")
	if len(r.Exports) != 1 || fmt.Sprint(r.Exports[0].Export.Clients) != "[10.1.0.0/16]" || r.Exports[0].Export.Access != "ro" {
		t.Fatalf("%+v\n%s", r.Exports, issues(r))
	}
	if !strings.Contains(issues(r), "test.conf:2: export 1: CLIENT at test.conf:2 (10.0.0.0/8): Protocols = \"3\": no NFSv4, so no access through nfsgw") {
		t.Errorf("issues:\n%s", issues(r))
	}
	if len(importText(t, "EXPORT { Export_Id = 1; Path = /a; Pseudo = /a; Access_Type = RW; FSAL { Name = CEPH; } }").Listen) != 1 {
		t.Errorf("no NFS_CORE_PARAM: want Ganesha's 0.0.0.0:2049")
	}
}
