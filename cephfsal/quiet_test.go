package cephfsal

import (
	"maps"
	"testing"
)

func TestQuietLevels(t *testing.T) {
	defaults := map[string]string{"debug_client": "0/5", "debug_ms": "0/0", "debug_monc": "0/10", "debug_auth": "1/5"}
	for _, tc := range []struct {
		name    string
		current map[string]string
		config  map[string]string
		want    map[string]string
	}{
		{"defaults quieted", defaults, nil,
			map[string]string{"debug_client": "0/0", "debug_monc": "0/0", "debug_auth": "0/0"}},
		{"ceph.conf level kept",
			map[string]string{"debug_client": "5/20", "debug_ms": "0/0", "debug_monc": "0/10", "debug_auth": "1/5"}, nil,
			map[string]string{"debug_monc": "0/0", "debug_auth": "0/0"}},
		{"Config level kept, any spelling", defaults,
			map[string]string{"debug client": "0/5", "debug-monc": "1/1", " debug_auth ": "1/5"},
			map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quietLevels(tc.current, defaults, tc.config); !maps.Equal(got, tc.want) {
				t.Errorf("quietLevels = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestQuietLogging mounts the real cluster and reads back the levels
// libcephfs runs with.
func TestQuietLogging(t *testing.T) {
	opts := clusterOptions(t)
	m := mount(t, opts)
	for _, opt := range []string{"debug_client", "debug_objecter", "debug_monc"} {
		if v, err := m.ll.ConfGet(opt); err != nil || v != "0/0" {
			t.Errorf("%s = %q, %v; want 0/0", opt, v, err)
		}
	}
	opts.Config = map[string]string{"debug client": "1/7"}
	m = mount(t, opts)
	if v, err := m.ll.ConfGet("debug_client"); err != nil || v != "1/7" {
		t.Errorf("with Config debug client=1/7: debug_client = %q, %v", v, err)
	}
	if v, err := m.ll.ConfGet("debug_monc"); err != nil || v != "0/0" {
		t.Errorf("with Config debug client=1/7: debug_monc = %q, %v; want 0/0", v, err)
	}
}
