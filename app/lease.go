package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/posgate/posgate/journal"
)

// Node leases (docs/deploy.md, "A node that stays dead"). In a cluster (Redis: the nodes share
// the gateway state) each node holds a lease in the KV bucket NodesBucket under "node.<id>",
// renewed every fifth of the lease. A node that sees another's key unchanged for a lease and a
// half claims it (a compare-and-set write: one claimant wins), reads what that node journaled in
// its last minutes and adopts its open write-ahead intents — reverses them upstream, journals the
// reversals — and restores the answers it died before storing in Redis; then it deletes the key.
//
// What makes this safe against a node that is slow rather than dead: the holder counts its
// lease from when it sent the renewal the bucket acknowledged, the claimant from when it saw
// that renewal, which is later; so the holder's lease has run out before anyone claims it. And
// a node sends nothing that moves money without its lease, and books no approval whose request
// left under an epoch it lost (gateway.Lease): such an approval is reversed, as the adopter
// reverses it.

// NodesBucket is the KV bucket of the node leases.
const NodesBucket = "POSGATE_NODES"

// DefaultNodeLease is how long a node's lease lasts unrenewed (Config.NodeLease): longer than
// the seconds NATS needs to elect a new leader for the bucket when one of its servers dies
// (4–9 s), so that no live node loses its lease to a NATS failover.
const DefaultNodeLease = 20 * time.Second

// adoptLookback is how far before the dead node's last renewal the adopter reads the journal:
// longer than any intent of a live node stays open (the transaction timeout, then the journal's
// retries of the outcome for as long as its stream elects a leader).
const adoptLookback = 5 * time.Minute

// leaseValue is a lease key's value.
type leaseValue struct {
	Node     int    `json:"node"`
	Instance string `json:"instance"` // the process that holds it (random per start)
	// State is "serving" (held by Instance) or "adopting" (claimed by node By, which adopts
	// the intents journaled since Since).
	State   string    `json:"state"`
	By      int       `json:"by,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Renewed time.Time `json:"renewed"` // the writer's clock, for people
}

const (
	leaseServing  = "serving"
	leaseAdopting = "adopting"
)

func leaseKey(node int) string { return "node." + strconv.Itoa(node) }

// nodeLease is this node's lease and its watch over the others'.
type nodeLease struct {
	kv       jetstream.KeyValue
	node     int
	instance string
	ttl      time.Duration
	adopt    func(ctx context.Context, node int, since time.Time) (int, error)
	log      *zap.Logger

	base  time.Time // the monotonic origin of until
	epoch atomic.Uint64
	until atomic.Int64 // since base: the lease of epoch is held before it

	rev     uint64                // the revision of our key we wrote last (0: not held)
	others  map[string]leaseSeen  // other nodes' keys
	peers   atomic.Pointer[[]int] // the other nodes whose keys changed within a lease and a half
	adopted atomic.Int64          // intents adopted (reversed) from dead nodes
	lost    atomic.Int64          // times this node found its lease lost
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// leaseSeen is the last revision of another node's key seen, and when it was first seen.
type leaseSeen struct {
	rev uint64
	at  time.Duration // since base
}

func openNodeLease(ctx context.Context, nc *nats.Conn, replicas, node int, ttl time.Duration,
	adopt func(context.Context, int, time.Time) (int, error), log *zap.Logger) (*nodeLease, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: NodesBucket,
		Description: "posgate gateway node leases", History: 1, Storage: jetstream.FileStorage,
		Replicas: max(replicas, 1)})
	if err != nil {
		return nil, fmt.Errorf("node leases: bucket %s: %w", NodesBucket, err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &nodeLease{kv: kv, node: node, instance: hex.EncodeToString(id[:]), ttl: ttl, adopt: adopt,
		log: log.With(zap.Int("node", node)), base: time.Now(), others: map[string]leaseSeen{}}, nil
}

func (l *nodeLease) now() time.Duration { return time.Since(l.base) }

// Hold implements gateway.Lease.
func (l *nodeLease) Hold() (uint64, bool) {
	e := l.epoch.Load()
	return e, l.Held(e)
}

// Held implements gateway.Lease.
func (l *nodeLease) Held(epoch uint64) bool {
	return epoch != 0 && l.epoch.Load() == epoch && l.now() < time.Duration(l.until.Load())
}

// period is how often the lease is renewed and the other leases looked at.
func (l *nodeLease) period() time.Duration { return max(l.ttl/5, 100*time.Millisecond) }

// acquire takes this node's key, whatever it holds: a node that starts is this node (a process
// still running under the same id loses its lease at its next renewal and stops moving money).
func (l *nodeLease) acquire(ctx context.Context) error {
	sent := l.now()
	rev, err := l.kv.Put(ctx, leaseKey(l.node), l.value())
	if err != nil {
		return fmt.Errorf("node lease: %w", err)
	}
	l.rev = rev
	l.epoch.Add(1)
	l.until.Store(int64(sent + l.ttl))
	return nil
}

func (l *nodeLease) value() []byte {
	b, _ := json.Marshal(leaseValue{Node: l.node, Instance: l.instance, State: leaseServing, Renewed: time.Now().UTC()})
	return b
}

// start acquires the lease and keeps it, and watches the others'.
func (l *nodeLease) start(ctx context.Context) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	wctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.every(wctx, l.renew) }()
	go func() { defer l.wg.Done(); l.every(wctx, l.look) }()
	return nil
}

// close stops renewing and watching, and gives the lease up: a node stopped politely owes
// nothing (its shutdown answered or reversed what was in flight).
func (l *nodeLease) close(ctx context.Context) error {
	if l.stop == nil {
		return nil
	}
	l.stop()
	l.wg.Wait()
	l.until.Store(0)
	if l.rev != 0 {
		err := l.kv.Delete(ctx, leaseKey(l.node), jetstream.LastRevision(l.rev))
		if err != nil && !isWrongRevision(err) {
			return fmt.Errorf("node lease: %w", err)
		}
	}
	return nil
}

// every calls f every period until ctx ends.
func (l *nodeLease) every(ctx context.Context, f func(context.Context)) {
	tick := time.NewTicker(l.period())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f(ctx)
	}
}

func (l *nodeLease) renew(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, l.period())
	defer cancel()
	key := leaseKey(l.node)
	if l.rev == 0 {
		// Lost: take the key again unless another process serves under this node's id.
		e, err := l.kv.Get(rctx, key)
		if err == nil {
			var v leaseValue
			if json.Unmarshal(e.Value(), &v) == nil && v.State == leaseServing && v.Instance != l.instance &&
				time.Since(e.Created()) < l.ttl {
				l.log.Error("another process serves as this node (same --node-id): not serving until its lease runs out",
					zap.String("instance", v.Instance))
				return
			}
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return
		}
		if err := l.acquire(rctx); err == nil {
			l.log.Warn("node lease taken again: serving")
		}
		return
	}
	sent := l.now()
	rev, err := l.kv.Update(rctx, key, l.value(), l.rev)
	switch {
	case err == nil:
		l.rev = rev
		l.until.Store(int64(sent + l.ttl))
	case isWrongRevision(err) || errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		// Someone wrote the key: another node claimed it (this lease had run out), or a
		// process started under this node's id. Either way the lease is gone.
		l.until.Store(0)
		l.rev = 0
		l.lost.Add(1)
		l.log.Error("node lease lost: sending nothing that moves money until it is taken again")
	default:
		// NATS unavailable: the lease runs out by itself if this lasts.
		l.log.Debug("node lease not renewed", zap.Error(err))
	}
}

// look checks every other lease once; the first one unchanged for a lease and a half is claimed
// and its node's intents adopted.
func (l *nodeLease) look(ctx context.Context) {
	if _, ok := l.Hold(); !ok {
		return // a node without its own lease adopts nothing
	}
	lctx, cancel := context.WithTimeout(ctx, l.period())
	keys, err := l.kv.ListKeys(lctx)
	if err != nil {
		cancel()
		return
	}
	var names []string
	for k := range keys.Keys() {
		names = append(names, k)
	}
	cancel()
	mine := leaseKey(l.node)
	present := map[string]bool{}
	for _, key := range names {
		if key == mine || !strings.HasPrefix(key, "node.") {
			continue
		}
		present[key] = true
		gctx, cancel := context.WithTimeout(ctx, l.period())
		e, err := l.kv.Get(gctx, key)
		cancel()
		if err != nil {
			continue
		}
		seen, ok := l.others[key]
		if !ok || seen.rev != e.Revision() {
			l.others[key] = leaseSeen{rev: e.Revision(), at: l.now()}
			continue
		}
		if l.now()-seen.at < l.ttl+l.ttl/2 {
			continue
		}
		l.claim(ctx, e)
	}
	live := []int{}
	for key, seen := range l.others {
		if !present[key] {
			delete(l.others, key)
			continue
		}
		if id, err := strconv.Atoi(strings.TrimPrefix(key, "node.")); err == nil && l.now()-seen.at < l.ttl+l.ttl/2 {
			live = append(live, id)
		}
	}
	l.peers.Store(&live)
}

// livePeers returns the other nodes seen renewing their leases at the last look.
func (l *nodeLease) livePeers() []int {
	if p := l.peers.Load(); p != nil {
		return *p
	}
	return nil
}

// claim takes a dead node's key and adopts its intents; a failure leaves the claim for a later
// look (this node's or, should this one die too, another's).
func (l *nodeLease) claim(ctx context.Context, e jetstream.KeyValueEntry) {
	var v leaseValue
	if err := json.Unmarshal(e.Value(), &v); err != nil || v.Node == l.node || v.Node < 0 || v.Node > 9 {
		return
	}
	since := v.Since
	if v.State != leaseAdopting || since.IsZero() {
		since = e.Created().Add(-adoptLookback) // e.Created: the server's time of its last renewal
	}
	claimed := leaseValue{Node: v.Node, Instance: v.Instance, State: leaseAdopting, By: l.node, Since: since,
		Renewed: time.Now().UTC()}
	b, _ := json.Marshal(claimed)
	cctx, cancel := context.WithTimeout(ctx, l.period())
	rev, err := l.kv.Update(cctx, e.Key(), b, e.Revision())
	cancel()
	if err != nil {
		return // it renewed, or another node claimed it first
	}
	l.others[e.Key()] = leaseSeen{rev: rev, at: l.now()}
	l.log.Warn("a node's lease ran out: adopting its open intents", zap.Int("dead_node", v.Node),
		zap.Time("journal_since", since))
	n, err := l.adopt(ctx, v.Node, since)
	if err != nil {
		l.log.Error("adopting a dead node's intents failed; trying again later", zap.Int("dead_node", v.Node), zap.Error(err))
		return
	}
	l.adopted.Add(int64(n))
	dctx, cancel := context.WithTimeout(ctx, l.period())
	defer cancel()
	if err := l.kv.Delete(dctx, e.Key(), jetstream.LastRevision(rev)); err == nil {
		delete(l.others, e.Key())
	}
}

// isWrongRevision: a compare-and-set write found another revision.
func isWrongRevision(err error) bool { return errors.Is(err, jetstream.ErrKeyRevisionMismatch) }

// sinceSource reads what the journal stored of a date from a time on (Adopt's source).
type sinceSource struct {
	j     *journal.Journal
	since time.Time
}

func (s sinceSource) Read(ctx context.Context, d journal.Date, fn func(journal.Record) error) error {
	return s.j.ReadRange(ctx, d, journal.Range{Since: s.since}, fn)
}
