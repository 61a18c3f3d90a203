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
	frameTimeouts                       *prometheus.Desc
	revDepth, revOldest, revAlerts      *prometheus.Desc
	ckAge, ckTook, ckRecords, ckFails   *prometheus.Desc
	regLost, regLosses, redisDown       *prometheus.Desc
	jAppended, jDuplicates, jFailed     *prometheus.Desc
	ready                               *prometheus.Desc
	leaseHeld, leaseLosses, adopted     *prometheus.Desc
	cacheHits, cacheMisses              *prometheus.Desc
	invSent, invUnconfirmed, peers      *prometheus.Desc
}

func newNodeCollector(n *Node) *nodeCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &nodeCollector{n: n,
		conns:     d("posgate_gateway_connections", "Open terminal connections."),
		inflight:  d("posgate_gateway_requests_in_flight", "Terminal requests being processed."),
		refused:   d("posgate_gateway_connections_refused_total", "Connections closed at once for a limit."),
		frameErrs: d("posgate_gateway_frame_errors_total", "Connections closed for an unreadable frame."),
		frameTimeouts: d("posgate_gateway_frame_timeouts_total",
			"Connections closed for a frame begun and not completed within the frame timeout."),
		revDepth:  d("posgate_reversal_queue_depth", "Reversals owed upstream and not yet acknowledged."),
		revOldest: d("posgate_reversal_queue_oldest_age_seconds", "Age of the oldest unacknowledged reversal."),
		revAlerts: d("posgate_reversal_alerts_total", "Reversals past their retry budget (operator alert)."),
		ckAge:     d("posgate_checkpoint_age_seconds", "Age of the last checkpoint this process wrote (what a restart now would replay after)."),
		ckTook:    d("posgate_checkpoint_duration_seconds", "How long the last checkpoint took (load, replay, write)."),
		ckRecords: d("posgate_checkpoint_records", "Journal records the last checkpoint replayed."),
		ckFails:   d("posgate_checkpoint_failures_total", "Checkpoints that failed (a restart then replays more of the journal)."),
		regLost: d("posgate_redis_registry_lost",
			"1 while Redis lacks the registry epoch marker this node serves under (wiped or replaced; the node is not ready)."),
		regLosses:   d("posgate_redis_registry_losses_total", "Times the Redis registry was found wiped or replaced."),
		redisDown:   d("posgate_redis_unreachable_checks_total", "Registry checks Redis did not answer (the node is not ready meanwhile)."),
		jAppended:   d("posgate_journal_appended_total", "Journal records acknowledged by JetStream (durable)."),
		jDuplicates: d("posgate_journal_duplicates_total", "Journal appends of a record already stored (answered from the stream)."),
		jFailed:     d("posgate_journal_failed_total", "Journal appends that failed (ErrNotDurable: the gateway reversed and answered 96)."),
		ready:       d("posgate_node_ready", "1 while the node is ready to serve (/readyz 200), 0 otherwise."),
		leaseHeld:   d("posgate_node_lease_held", "1 while this node holds its cluster lease (it moves no money without it)."),
		leaseLosses: d("posgate_node_lease_losses_total", "Times this node found its lease taken (it had run out)."),
		adopted: d("posgate_intents_adopted_total",
			"Open write-ahead intents of dead nodes this node reversed upstream (it adopted their leases)."),
		cacheHits:   d("posgate_registry_cache_hits_total", "Terminal lookups answered from this node's registry cache."),
		cacheMisses: d("posgate_registry_cache_misses_total", "Terminal lookups that read the registry store (Redis)."),
		invSent:     d("posgate_registry_invalidations_total", "Registry changes this node announced to the other nodes."),
		invUnconfirmed: d("posgate_registry_invalidations_unconfirmed_total",
			"Registry changes some live node did not confirm within 2 s (its entry expires within the cache TTL)."),
		peers: d("posgate_registry_peers", "Other nodes seen renewing their leases: each registry change waits for their confirmations."),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.inflight, c.refused, c.frameErrs, c.frameTimeouts, c.revDepth, c.revOldest, c.revAlerts,
		c.ckAge, c.ckTook, c.ckRecords, c.ckFails, c.regLost, c.regLosses, c.redisDown,
		c.jAppended, c.jDuplicates, c.jFailed, c.ready, c.leaseHeld, c.leaseLosses, c.adopted,
		c.cacheHits, c.cacheMisses, c.invSent, c.invUnconfirmed, c.peers} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	if j := c.n.Journal; j != nil {
		st := j.Stats()
		ch <- prometheus.MustNewConstMetric(c.jAppended, prometheus.CounterValue, float64(st.Appended))
		ch <- prometheus.MustNewConstMetric(c.jDuplicates, prometheus.CounterValue, float64(st.Duplicates))
		ch <- prometheus.MustNewConstMetric(c.jFailed, prometheus.CounterValue, float64(st.Failed))
	}
	ready := 1.0
	rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
	if c.n.ready(rctx) != nil {
		ready = 0
	}
	rcancel()
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	if g := c.n.Gateway; g != nil {
		st := g.Stats()
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.Conns))
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(st.InFlight))
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused))
		ch <- prometheus.MustNewConstMetric(c.frameErrs, prometheus.CounterValue, float64(st.FrameErrors))
		ch <- prometheus.MustNewConstMetric(c.frameTimeouts, prometheus.CounterValue, float64(st.FrameTimeouts))
	}
	if w := c.n.Checkpoints; w != nil {
		st := w.Stats()
		if !st.Written.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.ckAge, prometheus.GaugeValue, time.Since(st.Written).Seconds())
			ch <- prometheus.MustNewConstMetric(c.ckTook, prometheus.GaugeValue, st.Took.Seconds())
			ch <- prometheus.MustNewConstMetric(c.ckRecords, prometheus.GaugeValue, float64(st.Records))
		}
		ch <- prometheus.MustNewConstMetric(c.ckFails, prometheus.CounterValue, float64(st.Failures))
	}
	if w := c.n.epoch; w != nil {
		lost := 0.0
		if _, l := w.status(); l {
			lost = 1
		}
		ch <- prometheus.MustNewConstMetric(c.regLost, prometheus.GaugeValue, lost)
		ch <- prometheus.MustNewConstMetric(c.regLosses, prometheus.CounterValue, float64(w.losses.Load()))
		ch <- prometheus.MustNewConstMetric(c.redisDown, prometheus.CounterValue, float64(w.unreachable.Load()))
	}
	if l := c.n.lease; l != nil {
		held := 0.0
		if _, ok := l.Hold(); ok {
			held = 1
		}
		ch <- prometheus.MustNewConstMetric(c.leaseHeld, prometheus.GaugeValue, held)
		ch <- prometheus.MustNewConstMetric(c.leaseLosses, prometheus.CounterValue, float64(l.lost.Load()))
		ch <- prometheus.MustNewConstMetric(c.adopted, prometheus.CounterValue, float64(l.adopted.Load()))
	}
	if rc, p := c.n.regCache, c.n.regPeers; rc != nil {
		st := rc.Stats()
		ch <- prometheus.MustNewConstMetric(c.cacheHits, prometheus.CounterValue, float64(st.Hits))
		ch <- prometheus.MustNewConstMetric(c.cacheMisses, prometheus.CounterValue, float64(st.Misses))
		ch <- prometheus.MustNewConstMetric(c.invSent, prometheus.CounterValue, float64(p.sent.Load()))
		ch <- prometheus.MustNewConstMetric(c.invUnconfirmed, prometheus.CounterValue, float64(p.unconfirmed.Load()))
		ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(len(p.lease.livePeers())))
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
