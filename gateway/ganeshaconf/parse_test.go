package ganeshaconf

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

// render prints a parsed tree compactly: name{param=v1|v2;...}.
func render(b *Block) string {
	var s strings.Builder
	for _, p := range b.Params {
		vals := make([]string, len(p.Values))
		for i, v := range p.Values {
			vals[i] = v.Text
			if v.Quoted {
				vals[i] = fmt.Sprintf("%q", v.Text)
			}
		}
		fmt.Fprintf(&s, "%s@%d=%s;", p.Name, p.Pos.Line, strings.Join(vals, "|"))
	}
	for _, c := range b.Blocks {
		fmt.Fprintf(&s, "%s@%d{%s}", c.Name, c.Pos.Line, render(c))
	}
	return s.String()
}

// TestParse: the forms Ganesha's scanner and grammar accept.
func TestParse(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"empty", "", ""},
		{"comments only", "# a\n  # b\n", ""},
		{"block and params", "EXPORT { Export_Id = 1; Path = /a/b; }", "EXPORT@1{Export_Id@1=1;Path@1=/a/b;}"},
		{"no blanks", "export{export_id=1;path=/;}", "export@1{export_id@1=1;path@1=/;}"},
		{"lines", "A {\n x = 1;\n\n y = 2;\n}", "A@1{x@2=1;y@4=2;}"},
		{"lists", "C { Clients = 10.0.0.0/8, 192.168.1.7 ,host.example.com,@ng, *.lab, *; }",
			"C@1{Clients@1=10.0.0.0/8|192.168.1.7|host.example.com|@ng|*.lab|*;}"},
		{"empty value", "A { x = ; }", "A@1{x@1=;}"},
		{"double quotes and escapes", `A { p = "a b\"c\\d\te"; }`, "A@1{p@1=\"a b\\\"c\\\\d\\te\";}"},
		{"single quotes keep backslashes", `A { p = 'x\n y'; }`, "A@1{p@1=\"x\\\\n y\";}"},
		{"quoted string over lines", "A { p = \"x\ny\";\n q = 1; }", "A@1{p@1=\"x\\ny\";q@3=1;}"},
		{"comment after value", "A { p = 1; # c = 2;\n q = 2; }", "A@1{p@1=1;q@2=2;}"},
		{"hash ends a bare value", "A { p = abc#def\n; }", "A@1{p@1=abc;}"},
		{"hash inside quotes", `A { p = "a#b"; }`, "A@1{p@1=\"a#b\";}"},
		{"signed numbers", "A { u = -2; g = - 3; m = ~0; }", "A@1{u@1=-2;g@1=-3;m@1=~0;}"},
		{"nested", "E { F { Name = CEPH; } C { Clients = *; } }", "E@1{F@1{Name@1=CEPH;}C@1{Clients@1=*;}}"},
		{"top-level parameter", "x = 1;", "x@1=1;"},
		{"ipv6", "C { Clients = fe80::1, 2001:db8::/32; }", "C@1{Clients@1=fe80::1|2001:db8::/32;}"},
		{"crlf", "A {\r\n x = 1;\r\n}\r\n", "A@1{x@2=1;}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Parse("t", []byte(tc.src), Options{NoIncludes: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := render(b); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestParseErrors: what Ganesha refuses, refused with the line.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"missing semicolon", "A { x = 1 }", "t:1: x: missing ; at the end of the value"},
		{"missing semicolon at the end", "A { x = 1", "t:1: x: missing ; at the end of the value"},
		{"unclosed block", "A {\n x = 1;\n", "t:1: block A is not closed (missing })"},
		{"unclosed string", "A {\n x = \"abc;\n}", "t:2: string not closed"},
		{"stray brace", "}", "t:1: unexpected \"}\" at the top level"},
		{"value without name", "A { = 1; }", "t:1: unexpected \"=\" in block A"},
		{"bad name", "A { 1x = 1; }", "t:1: \"1x\" is not a block or parameter name"},
		{"two values without comma", "A { x = 1 2; }", "t:1: x: unexpected \"2\" (want , or ;)"},
		{"trailing comma", "A { x = 1,; }", "t:1: x: a value is missing"},
		{"block value", "A { x = { }; }", "t:1: x: unexpected \"{\""},
		{"sign without number", "A { x = - ; }", "t:1: x: \"-\" must be followed by a number"},
		{"include in block", "A { %include x }", "t:1: %include inside a block"},
		{"includes off", "%include x.conf", "t:1: %include x.conf: includes are not read here"},
		{"url without fetcher", "%url rados://p/n/o", "t:1: %url rados://p/n/o: cannot fetch URLs here"},
		{"unknown directive", "%frob x", "t:1: unknown directive %frob"},
		{"directive without argument", "%include", "t:1: a directive needs a file name or URL"},
		{"too deep", strings.Repeat("A {", 20) + strings.Repeat("}", 20), "blocks nested more than 16 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t", []byte(tc.src), Options{NoIncludes: true})
			var pe *Error
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestIncludes: %include and %dir resolve relative to the top file's
// directory, in place; loops and missing files are errors with the line.
func TestIncludes(t *testing.T) {
	files := map[string]string{
		"/etc/ganesha/ganesha.conf":   "A { x = 1; }\n%include \"exports.conf\"\n%dir /etc/ganesha/d/*.conf\nB { y = 2; }\n",
		"/etc/ganesha/exports.conf":   "# exports\nE { id = 1; }\n",
		"/etc/ganesha/d/2.conf":       "E { id = 3; }",
		"/etc/ganesha/d/1.conf":       "E { id = 2; }",
		"/etc/ganesha/d/skip.txt":     "garbage {",
		"/etc/ganesha/loop.conf":      "%include loop2.conf",
		"/etc/ganesha/loop2.conf":     "\n%include /etc/ganesha/loop.conf",
		"/etc/ganesha/missing.conf":   "\n\n%include nothere.conf",
		"/etc/ganesha/cephmgr.conf":   "%url rados://.nfs/ns/conf-nfs.a\n",
		"/etc/ganesha/self-url.conf":  "%url rados://.nfs/ns/self\n",
		"/etc/ganesha/include-d.conf": "%dir \"d/1*\"\n",
	}
	urls := map[string]string{
		"rados://.nfs/ns/conf-nfs.a": "%url \"rados://.nfs/ns/export-1\"\n\n%url \"rados://.nfs/ns/export-2\"\n",
		"rados://.nfs/ns/export-1":   "EXPORT { export_id = 1; }",
		"rados://.nfs/ns/export-2":   "EXPORT { export_id = 2; }",
		"rados://.nfs/ns/self":       "%url rados://.nfs/ns/self",
	}
	o := Options{
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		},
		ReadDir: func(p string) ([]string, error) {
			var out []string
			for f := range files {
				if dir, name, _ := strings.Cut(strings.TrimPrefix(f, p+"/"), "/"); name == "" && strings.HasPrefix(f, p+"/") {
					out = append(out, dir)
				}
			}
			return out, nil
		},
		FetchURL: func(u string) ([]byte, error) {
			if s, ok := urls[u]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
	}
	b, err := ParseFile("/etc/ganesha/ganesha.conf", o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(b), "A@1{x@1=1;}E@2{id@2=1;}E@1{id@1=2;}E@1{id@1=3;}B@4{y@4=2;}"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if f := b.Blocks[1].Pos.File; f != "/etc/ganesha/exports.conf" {
		t.Errorf("included block's file: %s", f)
	}
	b, err = ParseFile("/etc/ganesha/cephmgr.conf", o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(b), "EXPORT@1{export_id@1=1;}EXPORT@1{export_id@1=2;}"; got != want {
		t.Errorf("ceph-mgr %%url: got %s want %s", got, want)
	}
	if f := b.Blocks[1].Pos.File; f != "rados://.nfs/ns/export-2" {
		t.Errorf("fetched block's file: %s", f)
	}
	b, err = ParseFile("/etc/ganesha/include-d.conf", o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(b), "E@1{id@1=2;}"; got != want {
		t.Errorf("%%dir relative with a glob: got %s want %s", got, want)
	}
	for name, want := range map[string]string{
		"/etc/ganesha/loop.conf":     "/etc/ganesha/loop2.conf:2: %include /etc/ganesha/loop.conf includes itself",
		"/etc/ganesha/missing.conf":  "/etc/ganesha/missing.conf:3: %include: open /etc/ganesha/nothere.conf: file does not exist",
		"/etc/ganesha/self-url.conf": "rados://.nfs/ns/self:1: %url rados://.nfs/ns/self includes itself",
	} {
		if _, err := ParseFile(name, o); err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %s", name, err, want)
		}
	}
}

// TestCaseInsensitive: Ganesha compares names ignoring case.
func TestCaseInsensitive(t *testing.T) {
	b, err := Parse("t", []byte("export { EXPORT_ID = 1; export_id = 2; Fsal { NAME = x; } }"), Options{NoIncludes: true})
	if err != nil {
		t.Fatal(err)
	}
	e := b.Sub("EXPORT")
	if len(e) != 1 || e[0].Param("Export_Id").Values[0].Text != "2" || len(e[0].Sub("fsal")) != 1 {
		t.Errorf("lookups: %s", render(b))
	}
}
