// helmcheck renders the nfsgw chart with Helm's own engine (helm.sh/helm/v4
// pkg/engine, the code `helm template` runs), in the format of
// `go run ./deploy/render`, so `make helm-check` can compare the two
// renderers byte for byte. Its own module: Helm's ~600 packages stay out of
// the project's build and `make test` (docs/kubernetes.md, "The chart").
//
//	helmcheck CHARTDIR [VALUES]
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"
)

func main() {
	ch, err := loader.LoadDir(os.Args[1])
	if err != nil {
		panic(err)
	}
	vals := map[string]any{}
	if len(os.Args) > 2 {
		b, _ := os.ReadFile(os.Args[2])
		if err := yaml.Unmarshal(b, &vals); err != nil {
			panic(err)
		}
	}
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "nfsgw", Namespace: "default", IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		panic(err)
	}
	out, err := engine.Render(ch, rv)
	if err != nil {
		panic(err)
	}
	var names []string
	for k := range out {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, ".tpl") {
			continue
		}
		for _, d := range strings.Split(out[n], "\n---") {
			if strings.TrimSpace(d) == "" {
				continue
			}
			fmt.Printf("---\n# Source: %s\n%s\n", n, strings.TrimRight(strings.TrimLeft(d, "\n"), "\n"))
		}
	}
}
