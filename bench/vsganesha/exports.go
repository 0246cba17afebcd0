package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// exportsRun is one server's export-scaling figures in one round.
type exportsRun struct {
	Server  string    `json:"server"`
	Round   int       `json:"round"`
	Exports int       `json:"exports"`
	StartMs float64   `json:"start_ms"` // exec until the last export is served
	AddMs   []float64 `json:"add_ms"`   // change request until the new export is served
	RemMs   []float64 `json:"remove_ms"`
	// A change not seen within -export-change-limit counts as the limit.
	AddTimedOut bool `json:"add_timed_out,omitempty"`
	RemTimedOut bool `json:"remove_timed_out,omitempty"`
	// nfsgw only: the same changes by SIGHUP reload.
	AddHupMs []float64 `json:"add_sighup_ms,omitempty"`
	RemHupMs []float64 `json:"remove_sighup_ms,omitempty"`
	RSS      int64     `json:"rss_bytes"`
	How      string    `json:"how"`
}

func (h *harness) runExports(ctx context.Context) error {
	n := h.cfg.exports
	specs := make([]exportSpec, n)
	dirs := make([]string, n+1)
	for i := range specs {
		p := path.Join(h.be.Root(), "exports", fmt.Sprintf("e%05d", i+1))
		specs[i] = exportSpec{ID: i + 1, Pseudo: fmt.Sprintf("/e/%05d", i+1), Path: p}
		dirs[i] = p
	}
	extra := exportSpec{ID: n + 1, Pseudo: "/e/new", Path: path.Join(h.be.Root(), "exports", "new")}
	dirs[n] = extra.Path
	logf("exports: making %d export directories", n+1)
	if err := h.be.Mkdirs(dirs); err != nil {
		return err
	}
	last := specs[n-1].Pseudo
	withExtra := append(specs[:n:n], extra)
	for round := 1; round <= h.cfg.exportRounds; round++ {
		for _, s := range h.servers {
			if err := ctx.Err(); err != nil {
				return err
			}
			r := exportsRun{Server: s.Label(), Round: round, Exports: n, How: s.ReconfigureHow()}
			logf("exports: round %d: starting %s with %d exports", round, s.Label(), n)
			t0 := time.Now()
			if err := s.Start(ctx, specs); err != nil {
				return err
			}
			cl, err := waitServed(ctx, s.Addr(), last, 5*time.Minute)
			if err != nil {
				s.Stop()
				return fmt.Errorf("%s: %w", s.Label(), err)
			}
			r.StartMs = ms(time.Since(t0))
			r.RSS = rssOf(s.PID())
			logf("exports: %s served %s %s after exec", s.Label(), last, time.Since(t0).Round(time.Millisecond))
			for i := range h.cfg.exportChanges {
				add, err := timeChange(ctx, s, cl, withExtra, extra.Pseudo, true, h.cfg.changeLimit)
				if errors.Is(err, errTimedOut) {
					// A lower bound is a result: record it, and stop, since
					// the server is still busy with the change.
					r.AddMs, r.AddTimedOut = append(r.AddMs, ms(h.cfg.changeLimit)), true
					h.notes = append(h.notes, fmt.Sprintf("exports, round %d, %s: add: %v; counted as %s, remove not measured",
						round, s.Label(), err, h.cfg.changeLimit))
					break
				}
				if err != nil {
					h.notes = append(h.notes, fmt.Sprintf("exports, round %d, %s: add: %v", round, s.Label(), err))
					break
				}
				rem, err := timeChange(ctx, s, cl, specs, extra.Pseudo, false, h.cfg.changeLimit)
				if errors.Is(err, errTimedOut) {
					r.AddMs = append(r.AddMs, ms(add))
					r.RemMs, r.RemTimedOut = append(r.RemMs, ms(h.cfg.changeLimit)), true
					h.notes = append(h.notes, fmt.Sprintf("exports, round %d, %s: remove: %v; counted as %s",
						round, s.Label(), err, h.cfg.changeLimit))
					break
				}
				if err != nil {
					h.notes = append(h.notes, fmt.Sprintf("exports, round %d, %s: remove: %v", round, s.Label(), err))
					break
				}
				r.AddMs = append(r.AddMs, ms(add))
				r.RemMs = append(r.RemMs, ms(rem))
				if add+rem > 10*time.Second {
					h.notes = append(h.notes, fmt.Sprintf("exports, round %d, %s: one add + remove took %s; measured %d time(s) only",
						round, s.Label(), (add+rem).Round(time.Millisecond), i+1))
					break
				}
			}
			if hs, ok := s.(*nfsgw); ok && !hs.viaHUP && len(r.AddMs) > 0 {
				// The same through a SIGHUP reload of the configuration
				// file, Ganesha's way.
				hs.viaHUP = true
				for range h.cfg.exportChanges {
					add, err := timeChange(ctx, s, cl, withExtra, extra.Pseudo, true, h.cfg.changeLimit)
					if err != nil {
						h.notes = append(h.notes, fmt.Sprintf("exports, round %d, nfsgw SIGHUP: add: %v", round, err))
						break
					}
					rem, err := timeChange(ctx, s, cl, specs, extra.Pseudo, false, h.cfg.changeLimit)
					if err != nil {
						h.notes = append(h.notes, fmt.Sprintf("exports, round %d, nfsgw SIGHUP: remove: %v", round, err))
						break
					}
					r.AddHupMs = append(r.AddHupMs, ms(add))
					r.RemHupMs = append(r.RemHupMs, ms(rem))
				}
				hs.viaHUP = false
				logf("exports: nfsgw by SIGHUP: add %.2f ms, remove %.2f ms (medians)", median(r.AddHupMs), median(r.RemHupMs))
			}
			logf("exports: %s add %.2f ms, remove %.2f ms (medians)", s.Label(), median(r.AddMs), median(r.RemMs))
			cl.Close()
			if err := s.Stop(); err != nil {
				h.notes = append(h.notes, err.Error())
			}
			h.exportRuns = append(h.exportRuns, r)
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// waitServed connects a client and polls until it can walk to pseudo.
func waitServed(ctx context.Context, addr, pseudo string, limit time.Duration) (*nfsclient.Client, error) {
	deadline := time.Now().Add(limit)
	var cl *nfsclient.Client
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if cl == nil {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c, err := nfsclient.Dial(dctx, addr, nfsclient.Options{})
			cancel()
			if err != nil {
				last = err
				time.Sleep(time.Millisecond)
				continue
			}
			cl = c
		}
		if _, _, err := cl.LookupPath(ctx, pseudo); err == nil {
			return cl, nil
		} else {
			last = err
		}
		time.Sleep(200 * time.Microsecond)
	}
	if cl != nil {
		cl.Close()
	}
	return nil, fmt.Errorf("%s not served within %s: %v", pseudo, limit, last)
}

// timeChange asks s to serve exps and returns the time until pseudo is
// served (present) or gone (!present) for client cl.
func timeChange(ctx context.Context, s server, cl *nfsclient.Client, exps []exportSpec, pseudo string, present bool, limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if err := s.Reconfigure(ctx, exps); err != nil {
		return 0, err
	}
	if os.Getenv("VSGANESHA_DEBUG") != "" {
		logf("%s: request took %s", s.Label(), time.Since(t0))
	}
	deadline := t0.Add(limit)
	for time.Now().Before(deadline) {
		_, _, err := cl.LookupPath(ctx, pseudo)
		switch {
		case present && err == nil:
			return time.Since(t0), nil
		case !present && nfsclient.StatusOf(err) == nfs4.ErrNoent:
			return time.Since(t0), nil
		case err != nil && nfsclient.StatusOf(err) == nfsclient.NoStatus:
			return 0, err
		}
		time.Sleep(100 * time.Microsecond)
	}
	state := "served"
	if !present {
		state = "gone"
	}
	return 0, fmt.Errorf("%s not %s within %s: %w", pseudo, state, limit, errTimedOut)
}

var errTimedOut = errors.New("gave up waiting")

// rssOf returns a process's VmRSS in bytes (0 if unknown).
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}
