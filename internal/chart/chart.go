// Package chart renders the project's Helm chart (deploy/helm/nfsgw) without
// Helm: Go's text/template over every file in templates/, with .Values,
// .Release and .Chart as Helm sets them and a small subset of Helm's template
// functions (funcs below), each with Helm's meaning. A template that uses
// only these renders the same here and under `helm template`; one that uses
// anything else fails to parse here, so the chart cannot drift from the
// subset unnoticed. docs/kubernetes.md says why not Helm's own engine.
package chart

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// Release is what a template sees as .Release.
type Release struct {
	Name      string
	Namespace string
	Service   string
}

// Document is one rendered YAML document and the template it came from.
type Document struct {
	Template string
	YAML     string
}

// LoadValues reads the chart's values.yaml and merges each override file over
// it, in order, as `helm -f` does (maps merge key by key, anything else
// replaces; a null removes the key).
func LoadValues(chartDir string, overrides ...string) (map[string]any, error) {
	vals, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range overrides {
		o, err := readYAML(f)
		if err != nil {
			return nil, err
		}
		merge(vals, o)
	}
	return vals, nil
}

func readYAML(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// Render executes every template of the chart (files in templates/ whose
// name does not start with "_") and returns the non-empty YAML documents in
// template-name order, as `helm template` prints them.
func Render(chartDir string, rel Release, values map[string]any) ([]Document, error) {
	meta, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	chartName, _ := meta["name"].(string)
	base := chartName + "/templates"
	root := template.New("chart").Option("missingkey=zero")
	root.Funcs(funcs(root))
	var names []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".yaml") && !strings.HasSuffix(f, ".tpl") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		// Helm's template names, so that include of a whole file
		// (print $.Template.BasePath "/x.yaml") works the same.
		name := base + "/" + filepath.Base(f)
		if _, err := root.New(name).Parse(string(b)); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(filepath.Base(f), "_") {
			names = append(names, name)
		}
	}
	if rel.Service == "" {
		rel.Service = "Helm"
	}
	data := map[string]any{
		"Values":  values,
		"Release": rel,
		"Chart": map[string]any{
			"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"],
		},
	}
	var docs []Document
	for _, n := range names {
		data["Template"] = map[string]any{"Name": n, "BasePath": base}
		var out bytes.Buffer
		if err := root.ExecuteTemplate(&out, n, data); err != nil {
			return nil, err
		}
		n = strings.TrimPrefix(n, base+"/")
		for _, d := range strings.Split(out.String(), "\n---") {
			if strings.TrimSpace(stripComments(d)) == "" {
				continue
			}
			docs = append(docs, Document{Template: n, YAML: strings.TrimLeft(d, "\n")})
		}
	}
	return docs, nil
}

func stripComments(d string) string {
	var b strings.Builder
	for _, l := range strings.Split(d, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Join writes documents as one multi-document YAML stream, each headed by
// the template it came from (as `helm template` does).
func Join(docs []Document, chartName string) string {
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "---\n# Source: %s/templates/%s\n%s", chartName, d.Template, strings.TrimRight(d.YAML, "\n")+"\n")
	}
	return b.String()
}

// funcs is the subset of Helm's template functions the chart may use.
func funcs(root *template.Template) template.FuncMap {
	return template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b bytes.Buffer
			err := root.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"toYaml": func(v any) string {
			b, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(b), "\n")
		},
		"indent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"quote": func(v ...any) string {
			var out []string
			for _, s := range v {
				if s != nil {
					out = append(out, fmt.Sprintf("%q", fmt.Sprint(s)))
				}
			}
			return strings.Join(out, " ")
		},
		"toString": func(v any) string { return fmt.Sprint(v) },
		"default": func(d any, given ...any) any {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"required": func(msg string, v any) (any, error) {
			if empty(v) {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"sha256sum": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
		"int": toInt,
		"add": func(a, b any) int { return toInt(a) + toInt(b) },
		"mul": func(a, b any) int { return toInt(a) * toInt(b) },
		"until": func(n int) []int {
			s := make([]int, 0, n)
			for i := 0; i < n; i++ {
				s = append(s, i)
			}
			return s
		},
	}
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case string:
		var n int
		fmt.Sscan(x, &n)
		return n
	}
	return 0
}

// empty is sprig's notion of an empty value, which `default` and `required` use.
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case int:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
