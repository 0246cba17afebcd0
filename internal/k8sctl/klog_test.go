package k8sctl

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/hashicorp/go-hclog"
)

func TestHclogSink(t *testing.T) {
	var buf bytes.Buffer
	l := logr.New(hclogSink{log: hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Debug})})
	l.WithName("leaderelection").WithValues("lease", "nfsgw-controller").Info("acquired")
	l.V(2).Info("debug detail")
	l.V(5).Info("trace detail")
	l.Error(errors.New("boom"), "renew failed")
	out := buf.String()
	for _, want := range []string{"[INFO]  leaderelection: acquired: lease=nfsgw-controller", "[DEBUG] debug detail",
		"[ERROR] renew failed: error=boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "trace detail") {
		t.Errorf("trace logged at debug level:\n%s", out)
	}
}
