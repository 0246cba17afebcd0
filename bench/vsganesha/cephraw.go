package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// cephraw runs bench/cephraw, the CephFS counterpart of nfsbench's raw
// figures and of its -make-fixtures: one libcephfs client in a process of
// its own, which must end cleanly (unmount) so that no cap stays with a
// dead client and holds up the servers or the removal of the tree.
type cephraw struct {
	bin, conf, user string
}

// buildCephraw builds bench/cephraw into dir (the harness is run from the
// module, as make bench-vs-ganesha does). It needs cgo and libcephfs-dev.
func buildCephraw(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "cephraw")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "nfsgw/bench/cephraw")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build nfsgw/bench/cephraw: %v: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// run runs cephraw with args and waits for it; what names the run in
// errors. Cancelling ctx sends it
// SIGTERM (it then removes its work directory and unmounts) and, if it has
// not exited two minutes later, SIGKILL, both by its pid.
func (c *cephraw) run(ctx context.Context, what string, args ...string) error {
	argv := append([]string{"-conf", c.conf, "-user", c.user}, args...)
	cmd := exec.CommandContext(ctx, c.bin, argv...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group, as the servers: a ^C at the terminal reaches
	// the harness only, which then stops cephraw in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Minute
	if err := cmd.Run(); err != nil {
		if ps := cmd.ProcessState; ps != nil {
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				// Killed before it could unmount.
				evictSessions(c.conf, c.user, ps.Pid())
			}
		}
		return fmt.Errorf("cephraw (%s): %w", what, err)
	}
	return nil
}

// evictSessions evicts the CephFS sessions that process pid of this host
// left open when it exited without unmounting, with the ceph CLI (as the
// cephx user of the run, which needs the mds caps to evict). Sessions
// carry their process's pid and host name in their metadata; a process
// that unmounted has none left, and evicting nothing succeeds.
func evictSessions(conf, user string, pid int) error {
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ceph", "-c", conf, "--id", user, "tell", "mds.*", "client", "evict",
		fmt.Sprintf("client_metadata.pid=%d", pid), "client_metadata.hostname="+host).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ceph tell mds.* client evict: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rawRunner is a backend whose raw figures come from a program of their
// own rather than from nfsbench (CephFS: bench/cephraw), which must not
// share the backend with a running server: the harness runs it once per
// round, after both servers' runs, with the servers stopped.
type rawRunner interface {
	RawReady() bool
	RunRaw(ctx context.Context, round int, args []string, out string) error
}

// rawServer labels the raw runs in h.runs and the JSON.
const rawServer = "raw"

// rawOnce runs the raw figures of one round and merges them as nfsbench's
// own "NAME (raw)" rows; a failure is noted, not fatal: that round's raw
// figures are missing, or partial.
func (h *harness) rawOnce(ctx context.Context, rr rawRunner, round int, wl string) {
	out := filepath.Join(h.work, "runs", fmt.Sprintf("raw-%d.json", round))
	args := append(h.fixtures().args(), "-workloads", wl, "-clients", fmt.Sprint(h.cfg.clients),
		"-duration", h.cfg.duration.String(), "-readdirbig-duration", h.readdirbigDuration().String(),
		"-size", h.cfg.size)
	logf("round %d: raw (bench/cephraw, servers stopped)", round)
	err := rr.RunRaw(ctx, round, args, out)
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		if err == nil {
			err = rerr
		}
		h.notef("round %d: no raw figures: %v", round, err)
		return
	}
	var rep struct {
		Results []result `json:"results"`
	}
	if jerr := json.Unmarshal(b, &rep); jerr != nil {
		h.notef("round %d: no raw figures: %s: %v", round, out, jerr)
		return
	}
	h.runs = append(h.runs, benchRun{Server: rawServer, Round: round, Results: rep.Results})
	if err != nil {
		h.notef("round %d: cephraw reported an error (%v); see its output", round, err)
	}
}
