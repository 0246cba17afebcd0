#!/bin/sh
# helm-check.sh: render the chart with Helm's engine (deploy/helm/helmcheck)
# and with the project's renderer (deploy/render), for the defaults and every
# values file in deploy/helm/nfsgw/ci, and fail on any difference.
# Builds Helm's engine: ~1.5 min cold on 2 cores (not part of make test).
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd deploy/helm/helmcheck && $GO build -o "$work/helmcheck" .)
$GO build -o "$work/render" ./deploy/render
chart=deploy/helm/nfsgw
rc=0
for v in "" $chart/ci/*-values.yaml; do
	"$work/helmcheck" $chart $v | grep -v '^# Source' | grep -v '^---$' > "$work/helm"
	"$work/render" ${v:+-f $v} | tail -n +3 | grep -v '^# Source' | grep -v '^---$' > "$work/ours"
	if cmp -s "$work/helm" "$work/ours"; then
		echo "helm-check: same output for ${v:-the defaults}"
	else
		echo "helm-check: DIFFERENT for ${v:-the defaults}:"
		diff "$work/helm" "$work/ours" | head -40
		rc=1
	fi
done
exit $rc
