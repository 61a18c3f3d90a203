package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// nodeCollector exports the live counters of the terminal server and the reversal queue at
// scrape time.
type nodeCollector struct {
	n                                   *Node
	conns, inflight, refused, frameErrs *prometheus.Desc
	revDepth, revOldest, revAlerts      *prometheus.Desc
}

func newNodeCollector(n *Node) *nodeCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &nodeCollector{n: n,
		conns:     d("posgate_gateway_connections", "Open terminal connections."),
		inflight:  d("posgate_gateway_requests_in_flight", "Terminal requests being processed."),
		refused:   d("posgate_gateway_connections_refused_total", "Connections closed at once for a limit."),
		frameErrs: d("posgate_gateway_frame_errors_total", "Connections closed for an unreadable frame."),
		revDepth:  d("posgate_reversal_queue_depth", "Reversals owed upstream and not yet acknowledged."),
		revOldest: d("posgate_reversal_queue_oldest_age_seconds", "Age of the oldest unacknowledged reversal."),
		revAlerts: d("posgate_reversal_alerts_total", "Reversals past their retry budget (operator alert)."),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.inflight, c.refused, c.frameErrs, c.revDepth, c.revOldest, c.revAlerts} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	if g := c.n.Gateway; g != nil {
		st := g.Stats()
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.Conns))
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(st.InFlight))
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused))
		ch <- prometheus.MustNewConstMetric(c.frameErrs, prometheus.CounterValue, float64(st.FrameErrors))
	}
	if f := c.n.Forwarder; f != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if st, err := f.Stats(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(c.revDepth, prometheus.GaugeValue, float64(st.Depth))
			ch <- prometheus.MustNewConstMetric(c.revOldest, prometheus.GaugeValue, st.OldestAge.Seconds())
			ch <- prometheus.MustNewConstMetric(c.revAlerts, prometheus.CounterValue, float64(st.Alerts))
		}
	}
}
