package metrics

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

var (
	opsDesc = desc("ops_total",
		"NFSv4 operations run, by operation, minor version and status (NFS4_OK or the NFS4ERR_ name).", "op", "minor", "status")
	compoundsDesc = desc("compounds_total",
		"COMPOUND requests answered, by minor version and status (that of the last operation run).", "minor", "status")
	inflightDesc   = desc("compounds_in_flight", "COMPOUND requests being run now.")
	readBytesDesc  = desc("read_bytes_total", "File data bytes returned by READ.")
	writeBytesDesc = desc("written_bytes_total", "File data bytes written by WRITE.")
	exportOpsDesc  = desc("export_ops_total",
		"Operations run on files of an export (pseudo-filesystem operations excluded), by export id.", "export")
	exportReadDesc   = desc("export_read_bytes_total", "File data bytes returned by READ, by export id.", "export")
	exportWriteDesc  = desc("export_written_bytes_total", "File data bytes written by WRITE, by export id.", "export")
	connsDesc        = desc("connections", "Client TCP connections open now.")
	connsOpenedDesc  = desc("connections_accepted_total", "Client TCP connections accepted.")
	opTimeDesc       = desc("op_duration_seconds", "Time to run one NFSv4 operation of a COMPOUND, by operation.", "op")
	compoundTimeDesc = desc("compound_duration_seconds",
		"Time to run one COMPOUND, from its decoding to its last operation, by minor version.", "minor")
	connsRefDesc = desc("connections_refused_total",
		"Client TCP connections closed at once because their address had max_connections_per_address open.")
)

// minorLabel names a minor version index; minors itself stands for a
// minor version this server does not serve.
func minorLabel(i uint32) string {
	if i >= minors {
		return "unsupported"
	}
	return strconv.Itoa(int(i))
}

// requestCollector exposes the counters the request path keeps.
type requestCollector struct{ m *Metrics }

func (c *requestCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{opsDesc, compoundsDesc, inflightDesc, readBytesDesc, writeBytesDesc,
		exportOpsDesc, exportReadDesc, exportWriteDesc, connsDesc, connsOpenedDesc, connsRefDesc, opTimeDesc, compoundTimeDesc, backendTimeDesc} {
		ch <- d
	}
}

func (c *requestCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	ok := "NFS4_OK"
	for k := range opKeys {
		var n uint64
		for i := range m.shards {
			n += m.shards[i].opsOK[k].Load()
		}
		if n == 0 {
			continue // never sent: no series
		}
		op, minor := uint32(k/minors), uint32(k%minors)
		ch <- prometheus.MustNewConstMetric(opsDesc, prometheus.CounterValue, float64(n), m.opName(op), minorLabel(minor), ok)
	}
	for minor := range uint32(minors) {
		var n uint64
		for i := range m.shards {
			n += m.shards[i].compoundsOK[minor].Load()
		}
		if n > 0 {
			ch <- prometheus.MustNewConstMetric(compoundsDesc, prometheus.CounterValue, float64(n), minorLabel(minor), ok)
		}
	}
	m.failures.Range(func(k, v any) bool {
		key, n := k.(uint64), float64(v.(*atomic.Uint64).Load())
		op, minor, st := uint32(key>>40)&0xffff, uint32(key>>32)&0xff, uint32(key)
		if key>>62 == 1 {
			ch <- prometheus.MustNewConstMetric(compoundsDesc, prometheus.CounterValue, n, minorLabel(minor), m.statusName(st))
		} else {
			ch <- prometheus.MustNewConstMetric(opsDesc, prometheus.CounterValue, n, m.opName(op), minorLabel(minor), m.statusName(st))
		}
		return true
	})
	started, done := m.Progress()
	ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(started-min(done, started)))
	var rb, wb uint64
	for i := range m.shards {
		rb += m.shards[i].readBytes.Load()
		wb += m.shards[i].writeBytes.Load()
	}
	ch <- prometheus.MustNewConstMetric(readBytesDesc, prometheus.CounterValue, float64(rb))
	ch <- prometheus.MustNewConstMetric(writeBytesDesc, prometheus.CounterValue, float64(wb))
	m.exports.Range(func(k, v any) bool {
		id, e := strconv.Itoa(int(k.(uint16))), v.(*ExportCounts)
		ch <- prometheus.MustNewConstMetric(exportOpsDesc, prometheus.CounterValue, float64(e.ops.Load()), id)
		ch <- prometheus.MustNewConstMetric(exportReadDesc, prometheus.CounterValue, float64(e.readBytes.Load()), id)
		ch <- prometheus.MustNewConstMetric(exportWriteDesc, prometheus.CounterValue, float64(e.writeBytes.Load()), id)
		return true
	})
	for op := range m.opHist {
		if h := &m.opHist[op]; h.used() {
			ch <- h.metric(opTimeDesc, m.created, m.opName(uint32(op)))
		}
	}
	for minor := range m.compoundHist {
		if h := &m.compoundHist[minor]; h.used() {
			ch <- h.metric(compoundTimeDesc, m.created, minorLabel(uint32(minor)))
		}
	}
	m.backendsMu.Lock()
	backends := m.backends
	m.backendsMu.Unlock()
	for _, b := range backends {
		b.collect(ch)
	}
	closed := m.connsClosed.Load()
	opened := m.connsOpened.Load()
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.GaugeValue, float64(opened-min(closed, opened)))
	ch <- prometheus.MustNewConstMetric(connsOpenedDesc, prometheus.CounterValue, float64(opened))
	ch <- prometheus.MustNewConstMetric(connsRefDesc, prometheus.CounterValue, float64(m.connsRefused.Load()))
}
