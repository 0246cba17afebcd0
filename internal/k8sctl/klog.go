package k8sctl

import (
	"github.com/go-logr/logr"
	"github.com/hashicorp/go-hclog"
	"k8s.io/klog/v2"
)

// LogClientGoTo sends client-go's own messages (leader election, watch
// errors), which it writes through klog, to log, so that the controller
// writes one log in one format.
func LogClientGoTo(log hclog.Logger) {
	klog.SetLogger(logr.New(hclogSink{log: log}))
}

// hclogSink is a logr.LogSink over hclog: klog's verbosity 0 is Info, 1 to
// 3 Debug, more Trace.
type hclogSink struct {
	log hclog.Logger
}

func (hclogSink) Init(logr.RuntimeInfo) {}

func (s hclogSink) Enabled(level int) bool {
	switch s.level(level) {
	case hclog.Info:
		return s.log.IsInfo()
	case hclog.Debug:
		return s.log.IsDebug()
	}
	return s.log.IsTrace()
}

func (hclogSink) level(v int) hclog.Level {
	switch {
	case v <= 0:
		return hclog.Info
	case v <= 3:
		return hclog.Debug
	}
	return hclog.Trace
}

func (s hclogSink) Info(level int, msg string, kv ...any) { s.log.Log(s.level(level), msg, kv...) }

func (s hclogSink) Error(err error, msg string, kv ...any) {
	s.log.Error(msg, append(kv, "error", err)...)
}

func (s hclogSink) WithValues(kv ...any) logr.LogSink { return hclogSink{log: s.log.With(kv...)} }

func (s hclogSink) WithName(name string) logr.LogSink { return hclogSink{log: s.log.Named(name)} }
