package metrics

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"nfsgw/grace"
)

// StateCounts is what the NFSv4 state model holds now.
type StateCounts struct {
	Clients, Sessions int
	// Opens, Locks and Delegations count stateids of each kind (a lock
	// stateid stands for one lock owner's locks on one file).
	Opens, Locks, Delegations int
}

// ExportInfo describes one export of the current table.
type ExportInfo struct {
	ID     uint16
	Pseudo string
}

// ExportTable is the current export table: its version (how many times
// it was replaced since start) and its exports.
type ExportTable struct {
	Version uint64
	Exports []ExportInfo
}

// RADOSCounts are the grace database's counters (cluster mode).
type RADOSCounts struct {
	// UpdateRetries: version conflicts that made an update read again.
	UpdateRetries uint64
	// NotifyFailures: notifies after a write that failed or were not
	// acknowledged by every watcher in time.
	NotifyFailures uint64
}

// sources are read when Prometheus scrapes; cmd/nfsgw sets them as the
// parts they read come up (the grace runner of a cluster member exists
// before the gateway listens, its RADOS database before either).
type sources struct {
	state   atomic.Pointer[func() StateCounts]
	grace   atomic.Pointer[func() (grace.Status, bool)]
	exports atomic.Pointer[func() ExportTable]
	rados   atomic.Pointer[func() RADOSCounts]
	now     func() time.Time // tests
}

// SetStateSource sets where the state counts come from.
func (m *Metrics) SetStateSource(f func() StateCounts) { m.sources.state.Store(&f) }

// SetGraceSource sets where the grace status comes from (false: no grace
// machine runs, as without a state directory).
func (m *Metrics) SetGraceSource(f func() (grace.Status, bool)) { m.sources.grace.Store(&f) }

// SetExportSource sets where the export table comes from.
func (m *Metrics) SetExportSource(f func() ExportTable) { m.sources.exports.Store(&f) }

// SetRADOSSource sets where the grace database's counters come from.
func (m *Metrics) SetRADOSSource(f func() RADOSCounts) { m.sources.rados.Store(&f) }

var (
	clientsDesc  = desc("clients", "NFSv4 clients known (confirmed or not, courtesy clients included).")
	sessionsDesc = desc("sessions", "NFSv4.1+ sessions.")
	opensDesc    = desc("opens", "Open stateids.")
	locksDesc    = desc("locks", "Lock stateids (one per lock owner and file holding byte-range locks).")
	delegsDesc   = desc("delegations", "Delegations granted and not yet returned.")

	graceCDesc       = desc("grace_current_epoch", "The grace database's current epoch C.")
	graceRDesc       = desc("grace_recovery_epoch", "The grace database's recovery epoch R; 0: no grace period in the cluster.")
	graceNeedDesc    = desc("grace_need", "1 if this node's NEED flag is set: its clients reclaim.")
	graceEnfDesc     = desc("grace_enforcing", "1 if this node's ENFORCING flag is set: it refuses new state.")
	graceMemberDesc  = desc("grace_member", "1 if this node is a member of the grace database.")
	gracePhaseDesc   = desc("grace_phase", "1 for the grace machine's current phase, 0 for the others.", "phase")
	graceGateDesc    = desc("grace_gate", "1 for what the engine may grant now (closed, enforce, reclaim, open), 0 for the others.", "mode")
	gracePendingDesc = desc("grace_pending_reclaims", "Clients of the reclaim set that have not finished reclaiming.")
	graceSetDesc     = desc("grace_reclaim_set", "Clients that may reclaim in this node's grace period.")
	graceSecsDesc    = desc("grace_seconds", "Seconds since this node last stopped granting new state (0 while it grants).")
	graceWaitDesc    = desc("grace_waiting_peers", "Members this node waits for (to enforce) before it resets and serves.")
	graceTardyDesc   = desc("grace_tardy", "1 if this start was tardy: the previous session was gone, nothing may be reclaimed.")
	graceEpochDesc   = desc("grace_store_epoch", "The recovery store's epoch: new client records are written under it.")

	exportsDesc      = desc("exports", "Exports in the current export table.")
	exportInfoDesc   = desc("export_info", "Always 1 for each export of the current table; joins export ids to pseudo paths.", "export", "pseudo")
	exportTableDesc  = desc("export_table_version", "How many times the export table was replaced since start (SIGHUP, admin API).")
	radosRetriesDesc = desc("rados_update_retries_total", "Grace database updates that met a version conflict and read again.")
	radosNotifyDesc  = desc("rados_notify_failures_total", "Grace database notifies that failed or were not acknowledged by every watcher.")
)

// sourceCollector exposes what the sources say at scrape time.
type sourceCollector struct{ m *Metrics }

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clientsDesc, sessionsDesc, opensDesc, locksDesc, delegsDesc,
		graceCDesc, graceRDesc, graceNeedDesc, graceEnfDesc, graceMemberDesc, gracePhaseDesc, graceGateDesc,
		gracePendingDesc, graceSetDesc, graceSecsDesc, graceWaitDesc, graceTardyDesc, graceEpochDesc,
		exportsDesc, exportInfoDesc, exportTableDesc, radosRetriesDesc, radosNotifyDesc} {
		ch <- d
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	s := &c.m.sources
	if f := s.state.Load(); f != nil {
		st := (*f)()
		ch <- gauge(clientsDesc, float64(st.Clients))
		ch <- gauge(sessionsDesc, float64(st.Sessions))
		ch <- gauge(opensDesc, float64(st.Opens))
		ch <- gauge(locksDesc, float64(st.Locks))
		ch <- gauge(delegsDesc, float64(st.Delegations))
	}
	if f := s.grace.Load(); f != nil {
		if st, ok := (*f)(); ok {
			collectGrace(ch, st, s.now)
		}
	}
	if f := s.exports.Load(); f != nil {
		t := (*f)()
		ch <- gauge(exportsDesc, float64(len(t.Exports)))
		ch <- gauge(exportTableDesc, float64(t.Version))
		for _, e := range t.Exports {
			ch <- gauge(exportInfoDesc, 1, strconv.Itoa(int(e.ID)), e.Pseudo)
		}
	}
	if f := s.rados.Load(); f != nil {
		r := (*f)()
		ch <- prometheus.MustNewConstMetric(radosRetriesDesc, prometheus.CounterValue, float64(r.UpdateRetries))
		ch <- prometheus.MustNewConstMetric(radosNotifyDesc, prometheus.CounterValue, float64(r.NotifyFailures))
	}
}

func collectGrace(ch chan<- prometheus.Metric, st grace.Status, now func() time.Time) {
	ch <- gauge(graceCDesc, float64(st.DB.C))
	ch <- gauge(graceRDesc, float64(st.DB.R))
	ch <- gauge(graceNeedDesc, b2f(st.Own&grace.FlagNeed != 0))
	ch <- gauge(graceEnfDesc, b2f(st.Own&grace.FlagEnforcing != 0))
	ch <- gauge(graceMemberDesc, b2f(st.Member))
	for p := grace.PhaseInit; p <= grace.PhaseFailed; p++ {
		ch <- gauge(gracePhaseDesc, b2f(st.Phase == p), p.String())
	}
	for g := grace.GateClosed; g <= grace.GateOpen; g++ {
		ch <- gauge(graceGateDesc, b2f(st.Gate == g), g.String())
	}
	ch <- gauge(gracePendingDesc, float64(st.Pending))
	ch <- gauge(graceSetDesc, float64(st.Reclaim))
	secs := 0.0
	if !st.Since.IsZero() && st.Gate != grace.GateOpen {
		t := time.Now()
		if now != nil {
			t = now()
		}
		secs = t.Sub(st.Since).Seconds()
	}
	ch <- gauge(graceSecsDesc, secs)
	ch <- gauge(graceWaitDesc, float64(len(st.Waiting)))
	ch <- gauge(graceTardyDesc, b2f(st.Tardy))
	ch <- gauge(graceEpochDesc, float64(st.Epoch))
}
