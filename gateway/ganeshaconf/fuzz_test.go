package ganeshaconf

import (
	"os"
	"testing"
)

// FuzzParseImport feeds arbitrary text to the parser and the importer:
// neither may panic or hang, and whatever Import produces from text the
// parser accepts must be a configuration nfsgw loads.
func FuzzParseImport(f *testing.F) {
	for _, p := range []string{
		"testdata/debian/ceph.conf", "testdata/debian/ganesha.conf", "testdata/rook/ganesha.conf",
		"testdata/mixed/conf.d/exports.conf", "testdata/mixed/conf.d/vfs.conf", "testdata/cephmgr/objects/export-2",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`EXPORT { Export_Id = 1; Path = "/a\"b"; Pseudo = '/x y'; Access_Type = RW; FSAL { Name = CEPH; } CLIENT { Clients = *; } }`))
	f.Add([]byte("%url rados://a/b/c\nA { x = -\n 1, ~2, \"\\\n\"; }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 64<<10 {
			return
		}
		// %url fetches the text itself again: the self-inclusion check and
		// the include limits must stop it.
		o := Options{NoIncludes: true, FetchURL: func(string) ([]byte, error) { return src, nil }}
		root, err := Parse("fuzz", src, o)
		if err != nil {
			return
		}
		r, err := Import(root, ImportOptions{KeyringDir: "/k", WriteKeyring: func(string, []byte) error { return nil }})
		if err != nil || len(r.Exports) == 0 {
			return
		}
		y, err := r.YAML("fuzz")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Check(y); err != nil {
			t.Fatalf("nfsgw refuses the import: %v\n%s", err, y)
		}
	})
}
