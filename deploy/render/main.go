// render prints the nfsgw chart's objects as plain manifests, with the
// project's renderer (internal/chart), as `helm template` would:
//
//	go run ./deploy/render [-f VALUES]... [-name nfsgw] [-namespace default] > deploy/nfsgw.yaml
//
// deploy/nfsgw.yaml is this command's output for the chart's defaults
// (`make manifests`); a test keeps it so.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"nfsgw/internal/chart"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(s string) error { *f = append(*f, s); return nil }

func main() {
	var vals files
	dir := flag.String("chart", "deploy/helm/nfsgw", "chart directory")
	name := flag.String("name", "nfsgw", "release name (every object's name)")
	ns := flag.String("namespace", "default", "release namespace")
	flag.Var(&vals, "f", "values file merged over the chart's values.yaml (repeatable)")
	flag.Parse()
	out, err := Manifests(*dir, chart.Release{Name: *name, Namespace: *ns}, vals...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}

// Manifests renders the chart to one YAML stream with a header saying where
// it comes from.
func Manifests(dir string, rel chart.Release, values ...string) (string, error) {
	v, err := chart.LoadValues(dir, values...)
	if err != nil {
		return "", err
	}
	docs, err := chart.Render(dir, rel, v)
	if err != nil {
		return "", err
	}
	return "# Generated from deploy/helm/nfsgw by `make manifests` (go run ./deploy/render): do not edit.\n" +
		"# The chart is the one source; docs/kubernetes.md explains every object.\n" +
		chart.Join(docs, "nfsgw"), nil
}
