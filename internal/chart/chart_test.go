package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// mkchart writes a chart with the given templates and values.
func mkchart(t *testing.T, values string, templates map[string]string) string {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"4.5\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(values), 0o644)
	for n, s := range templates {
		os.WriteFile(filepath.Join(dir, "templates", n), []byte(s), 0o644)
	}
	return dir
}

// TestLoadValuesMerges: override files merge map by map, replace anything
// else, and a null removes a key, as helm -f does.
func TestLoadValuesMerges(t *testing.T) {
	dir := mkchart(t, "a: {b: 1, c: 2, l: [1, 2]}\nd: x\ne: y\n", nil)
	o := filepath.Join(dir, "o.yaml")
	os.WriteFile(o, []byte("a: {c: 3, l: [9]}\ne: null\n"), 0o644)
	v, err := LoadValues(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": map[string]any{"b": 1.0, "c": 3.0, "l": []any{9.0}}, "d": "x"}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %v, want %v", v, want)
	}
}

// TestRender: Helm's objects and functions, documents split, partials and
// empty documents left out, templates in name order.
func TestRender(t *testing.T) {
	dir := mkchart(t, "count: 2\nm: {k: v}\nempty: \"\"\n", map[string]string{
		"_h.tpl": `{{- define "demo.name" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end -}}`,
		"b.yaml": `{{- range $i := until (int .Values.count) }}
---
name: {{ include "demo.name" $ }}-{{ $i }}
next: {{ add $i 1 }}
{{- end }}`,
		"a.yaml": `# only a comment
---
ns: {{ .Release.Namespace | quote }}
ver: {{ .Chart.AppVersion }}/{{ .Chart.Version }}
def: {{ default "d" .Values.empty }}
m:{{ toYaml .Values.m | nindent 2 }}
base: {{ .Template.BasePath }}
sum: {{ include (print $.Template.BasePath "/c.yaml") . | sha256sum }}`,
		"c.yaml": `{{- if .Values.none }}x: 1{{ end }}`,
	})
	docs, err := Render(dir, Release{Name: "r", Namespace: "ns"}, must(LoadValues(dir)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.Template+": "+strings.TrimSpace(d.YAML))
	}
	want := []string{
		"a.yaml: ns: \"ns\"\nver: 4.5/1.2.3\ndef: d\nm:\n  k: v\nbase: demo/templates\nsum: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"b.yaml: name: r-demo-0\nnext: 1",
		"b.yaml: name: r-demo-1\nnext: 2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// TestRequiredAndUnknown: required fails with its message; a function
// outside the subset fails at parse time.
func TestRequiredAndUnknown(t *testing.T) {
	dir := mkchart(t, "{}", map[string]string{"a.yaml": `x: {{ required "x is required" .Values.x }}`})
	if _, err := Render(dir, Release{Name: "r"}, must(LoadValues(dir))); err == nil || !strings.Contains(err.Error(), "x is required") {
		t.Errorf("required: %v", err)
	}
	dir = mkchart(t, "{}", map[string]string{"a.yaml": `x: {{ upper "a" }}`})
	if _, err := Render(dir, Release{Name: "r"}, must(LoadValues(dir))); err == nil {
		t.Error("upper is not in the subset, yet it rendered")
	}
}

func must(v map[string]any, err error) map[string]any {
	if err != nil {
		panic(err)
	}
	return v
}
