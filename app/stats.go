package app

import (
	"context"
	"math"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/posgate/posgate/adminapi"
)

// stats is the dashboard's snapshot of the node (adminapi.Stats).
func (n *Node) stats(ctx context.Context) (adminapi.Stats, error) {
	s := adminapi.Stats{Time: time.Now().UTC(), Started: n.started, Mode: n.mode(),
		ResponseCodes: map[string]int64{}, Kinds: map[string]int64{}, Security: map[string]int64{},
		Duplicates: map[string]int64{}}
	if err := n.ready(ctx); err != nil {
		s.NotReady = err.Error()
	}
	if g := n.Gateway; g != nil {
		st := g.Stats()
		s.TerminalAddr = g.Addr().String()
		s.Connections, s.InFlight, s.FrameErrors, s.RefusedConns = st.Conns, st.InFlight, st.FrameErrors, st.Refused
	}
	families, err := n.Metrics.Gather()
	if err != nil {
		return s, err
	}
	for _, f := range families {
		switch f.GetName() {
		case "posgate_gateway_requests_total":
			for _, m := range f.GetMetric() {
				v := int64(m.GetCounter().GetValue())
				code, kind := label(m, "code"), label(m, "kind")
				s.Requests += v
				s.Kinds[kind] += v
				if !financialKinds[kind] || code == "close" || code == "none" || code == "dup" {
					continue
				}
				s.ResponseCodes[code] += v
				if code == "00" {
					s.Approved += v
				}
			}
		case "posgate_gateway_security_events_total":
			for _, m := range f.GetMetric() {
				s.Security[label(m, "reason")] += int64(m.GetCounter().GetValue())
			}
		case "posgate_gateway_duplicates_total":
			for _, m := range f.GetMetric() {
				s.Duplicates[label(m, "outcome")] += int64(m.GetCounter().GetValue())
			}
		case "posgate_gateway_request_duration_seconds":
			s.LatencyP50Ms, s.LatencyP99Ms = quantileMs(f, 0.50), quantileMs(f, 0.99)
		}
	}
	if f := n.Forwarder; f != nil {
		if st, err := f.Stats(ctx); err == nil {
			s.Reversals = adminapi.ReversalStats{Depth: int64(st.Depth), OldestAgeSeconds: st.OldestAge.Seconds(),
				Alerts: int64(st.Alerts)}
		}
	}
	if j := n.Journal; j != nil {
		st := j.Stats()
		s.Journal = adminapi.JournalStats{Appended: int64(st.Appended), Duplicates: int64(st.Duplicates), Failed: int64(st.Failed)}
	}
	if p := n.Processor; p != nil {
		for _, e := range p.SecurityEvents(50) {
			s.Recent = append(s.Recent, adminapi.SecurityEvent{Time: e.Time.UTC(), Terminal: e.Terminal, Reason: e.Reason})
		}
	}
	return s, nil
}

// financialKinds are the transaction kinds whose response codes the dashboard breaks down.
var financialKinds = map[string]bool{"balance": true, "purchase": true, "void": true, "refund": true, "preauth": true,
	"preauth_void": true, "completion": true, "completion_void": true}

func (n *Node) mode() string {
	if n.cfg.NATS != "" || n.cfg.Redis != "" {
		return "production"
	}
	return "embedded"
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// quantileMs estimates quantile q of a histogram family (all label sets merged) in
// milliseconds, interpolating linearly within the bucket.
func quantileMs(f *dto.MetricFamily, q float64) float64 {
	counts := map[float64]uint64{}
	var total uint64
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		total += h.GetSampleCount()
		for _, b := range h.GetBucket() {
			counts[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	if total == 0 {
		return 0
	}
	bounds := make([]float64, 0, len(counts))
	for b := range counts {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for _, b := range bounds {
		c := counts[b]
		if float64(c) >= rank {
			if math.IsInf(b, 1) {
				return lower * 1000
			}
			frac := 0.0
			if c > below {
				frac = (rank - float64(below)) / float64(c-below)
			}
			return (lower + frac*(b-lower)) * 1000
		}
		lower, below = b, c
	}
	return lower * 1000
}
