package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus metrics. Labels are bounded sets — transaction kind,
// response code, security-event reason — never a PAN, TID or MID.
type Metrics struct {
	Requests       *prometheus.CounterVec   // posgate_gateway_requests_total{kind,code}
	Duration       *prometheus.HistogramVec // posgate_gateway_request_duration_seconds{kind}
	Upstream       *prometheus.HistogramVec // posgate_gateway_upstream_duration_seconds{kind}
	SecurityEvents *prometheus.CounterVec   // posgate_gateway_security_events_total{reason}
	Duplicates     *prometheus.CounterVec   // posgate_gateway_duplicates_total{outcome}
	ReversalsOwed  *prometheus.CounterVec   // posgate_gateway_reversals_queued_total{reason}
}

// latencyBuckets span 0.5 ms to 30 s.
var latencyBuckets = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30}

// NewMetrics creates the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posgate_gateway_requests_total",
			Help: "Terminal requests answered, by transaction kind and response code (close: connection closed unanswered).",
		}, []string{"kind", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "posgate_gateway_request_duration_seconds",
			Help:    "Time from a request frame's arrival to its response, by transaction kind.",
			Buckets: latencyBuckets,
		}, []string{"kind"}),
		Upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "posgate_gateway_upstream_duration_seconds",
			Help:    "Time spent waiting for the upstream authorization, by transaction kind.",
			Buckets: latencyBuckets,
		}, []string{"kind"}),
		SecurityEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posgate_gateway_security_events_total",
			Help: "Security events: wrong MAC, SN mismatch, bad SN cipher, blocked terminal, wrong activation proof, unknown terminal.",
		}, []string{"reason"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posgate_gateway_duplicates_total",
			Help: "Retransmissions: answered from the cache, refused for different content (94), or still in flight.",
		}, []string{"outcome"}),
		ReversalsOwed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posgate_gateway_reversals_queued_total",
			Help: "Reversals the gateway queued upstream, by reason (terminal reversal, upstream timeout, lost response, journal failure).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Duration, m.Upstream, m.SecurityEvents, m.Duplicates, m.ReversalsOwed)
	}
	return m
}

func (m *Metrics) requests(k Kind, code string) { m.Requests.WithLabelValues(k.String(), code).Inc() }

func (m *Metrics) observe(k Kind, code string, start time.Time, upstream time.Duration) {
	m.requests(k, code)
	m.Duration.WithLabelValues(k.String()).Observe(time.Since(start).Seconds())
	if upstream > 0 {
		m.Upstream.WithLabelValues(k.String()).Observe(upstream.Seconds())
	}
}

// Security event reasons.
const (
	secMAC      = "mac"
	secSN       = "sn_mismatch"
	secSNCipher = "sn_cipher"
	secRandom   = "random_factor"
	secBlocked  = "blocked"
	secUnknown  = "unknown_terminal"
	secProof    = "activation_proof"
	// secProofDelay: an activation proof sooner than the SN's back-off allows.
	secProofDelay = "activation_delayed"
	secOperator   = "operator"
	secMerchant   = "merchant_mismatch"
	secKeys       = "keys"
	// secReplay: a sign-on whose batch and STAN do not follow the last accepted one.
	secReplay = "replayed_sign_on"
	// secLegacyRate: a legacy sign-on (no 59) sooner than LegacySignOnInterval after the last.
	secLegacyRate = "legacy_sign_on_rate"
)

func (m *Metrics) security(reason string) { m.SecurityEvents.WithLabelValues(reason).Inc() }
