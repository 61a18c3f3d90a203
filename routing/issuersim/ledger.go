package issuersim

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/nats-io/nats.go"
)

// Amount is a count of transactions and their total in fen.
type Amount struct {
	Count int64 `json:"count"`
	Fen   int64 `json:"fen"`
}

func (a *Amount) add(fen int64) { a.Count++; a.Fen += fen }

func (a Amount) plus(b Amount) Amount { return Amount{a.Count + b.Count, a.Fen + b.Fen} }

// RouteLedger is what one simulator instance did on one route. Amounts are the requests' field
// 4. Approved means answered 00 (including requests then dropped: they were authorized, only
// the answer was lost).
type RouteLedger struct {
	Requests int64 `json:"requests"` // every request received, answered or not
	// Approvals counts every approved purchase, completion and pre-authorization; the three
	// following fields break it down.
	Approvals   Amount `json:"approvals"`
	Purchases   Amount `json:"purchases"`
	Completions Amount `json:"completions"`
	PreAuths    Amount `json:"preauths"`
	Voids       Amount `json:"voids"`   // approved voids of all three kinds
	Refunds     Amount `json:"refunds"` // approved refunds
	Declines    Amount `json:"declines"`
	Balances    int64  `json:"balance_inquiries"`
	// Reversals counts distinct reversals received (a 0400, or a 0420 whose 0400 never came),
	// with their field-4 amounts; ReversalRepeats counts the further copies.
	Reversals       Amount `json:"reversals"`
	ReversalRepeats int64  `json:"reversal_repeats"`
	// ReversedApprovals are reversals of an approval this instance made (with the original's
	// amount): what the approval totals must be reduced by. ReversalsUnknown are reversals of
	// an original this instance did not approve: unknown to it (another instance's, or never
	// received), declined, or already reversed.
	ReversedApprovals Amount `json:"reversed_approvals"`
	ReversalsUnknown  Amount `json:"reversals_unknown_original"`
	Dropped           int64  `json:"dropped"`   // processed and recorded, but not answered
	Malformed         int64  `json:"malformed"` // undecodable or unsupported requests
}

func (r RouteLedger) plus(o RouteLedger) RouteLedger {
	return RouteLedger{
		Requests:          r.Requests + o.Requests,
		Approvals:         r.Approvals.plus(o.Approvals),
		Purchases:         r.Purchases.plus(o.Purchases),
		Completions:       r.Completions.plus(o.Completions),
		PreAuths:          r.PreAuths.plus(o.PreAuths),
		Voids:             r.Voids.plus(o.Voids),
		Refunds:           r.Refunds.plus(o.Refunds),
		Declines:          r.Declines.plus(o.Declines),
		Balances:          r.Balances + o.Balances,
		Reversals:         r.Reversals.plus(o.Reversals),
		ReversalRepeats:   r.ReversalRepeats + o.ReversalRepeats,
		ReversedApprovals: r.ReversedApprovals.plus(o.ReversedApprovals),
		ReversalsUnknown:  r.ReversalsUnknown.plus(o.ReversalsUnknown),
		Dropped:           r.Dropped + o.Dropped,
		Malformed:         r.Malformed + o.Malformed,
	}
}

// Ledger is one instance's record, by route. Instances lists the instances summed into it
// (one, unless it comes from Sum).
type Ledger struct {
	Instances []string               `json:"instances"`
	Routes    map[string]RouteLedger `json:"routes"`
}

// Total returns the sum over all routes.
func (l Ledger) Total() RouteLedger {
	var t RouteLedger
	for _, r := range l.Routes {
		t = t.plus(r)
	}
	return t
}

// Sum adds ledgers of several instances route by route. A reversal one instance lists as of
// an unknown original may be of another instance's approval: across instances, reconcile with
// the totals (approvals − reversals), not with ReversedApprovals.
func Sum(ls ...Ledger) Ledger {
	out := Ledger{Routes: map[string]RouteLedger{}}
	for _, l := range ls {
		out.Instances = append(out.Instances, l.Instances...)
		for name, r := range l.Routes {
			out.Routes[name] = out.Routes[name].plus(r)
		}
	}
	slices.Sort(out.Instances)
	return out
}

// QueryLedgers asks every simulator on nc's server for its ledger (a request on subject, which
// all instances answer) and collects the answers until want have arrived (want > 0) or ctx
// ends; with want <= 0 it collects until ctx ends. It returns what arrived, with ctx's error only
// if fewer than want came (and, for want <= 0, never).
func QueryLedgers(ctx context.Context, nc *nats.Conn, subject string, want int) ([]Ledger, error) {
	if subject == "" {
		subject = DefaultLedgerSubject
	}
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("issuersim: ledger query: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, fmt.Errorf("issuersim: ledger query: %w", err)
	}
	var out []Ledger
	for want <= 0 || len(out) < want {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if want <= 0 && ctx.Err() != nil {
				return out, nil
			}
			return out, fmt.Errorf("issuersim: ledger query: %d of %d answers: %w", len(out), want, err)
		}
		var l Ledger
		if err := json.Unmarshal(msg.Data, &l); err != nil {
			return out, fmt.Errorf("issuersim: ledger answer: %w", err)
		}
		out = append(out, l)
	}
	return out, nil
}

// ledger is the simulator's mutable record.
type ledger struct {
	instance string
	mu       sync.Mutex
	routes   map[string]*RouteLedger
	// originals remembers financial requests by route, STAN and transmission time (what a
	// field 90 names); reversals remembers reversals received, by route and field 90.
	originals *bounded[original]
	reversals *bounded[struct{}]
}

type original struct {
	amount   int64
	approved bool
	reversed bool
}

func newLedger(instance string, maxTracked int) *ledger {
	return &ledger{instance: instance, routes: map[string]*RouteLedger{},
		originals: newBounded[original](maxTracked), reversals: newBounded[struct{}](maxTracked)}
}

// route returns the route's record; l.mu must be held.
func (l *ledger) route(name string) *RouteLedger {
	r := l.routes[name]
	if r == nil {
		r = &RouteLedger{}
		l.routes[name] = r
	}
	return r
}

func (l *ledger) snapshot() Ledger {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := Ledger{Instances: []string{l.instance}, Routes: make(map[string]RouteLedger, len(l.routes))}
	for _, name := range slices.Sorted(maps.Keys(l.routes)) {
		out.Routes[name] = *l.routes[name]
	}
	return out
}

// bounded is a map that forgets its oldest keys beyond a capacity.
type bounded[V any] struct {
	m    map[string]V
	ring []string // keys in insertion order, used as a ring once full
	next int
	max  int
}

func newBounded[V any](capacity int) *bounded[V] {
	return &bounded[V]{m: map[string]V{}, ring: make([]string, 0, min(capacity, 1024)), max: capacity}
}

func (b *bounded[V]) get(k string) (V, bool) { v, ok := b.m[k]; return v, ok }

// put stores v under k; a new key evicts the oldest one when the map is full.
func (b *bounded[V]) put(k string, v V) {
	if _, ok := b.m[k]; ok {
		b.m[k] = v
		return
	}
	if len(b.ring) < b.max {
		b.ring = append(b.ring, k)
	} else {
		delete(b.m, b.ring[b.next])
		b.ring[b.next] = k
		b.next = (b.next + 1) % b.max
	}
	b.m[k] = v
}
