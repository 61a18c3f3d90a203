// Package natsstore keeps the admin API's named tokens and audit trail in JetStream, shared
// by every gateway node: tokens in a key-value bucket that each node watches (a revocation
// reaches every node's cache as soon as the server has it), the audit trail in a stream
// stored with the server's fsync policy (deploy/nats.conf: sync_interval always).
package natsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
)

// Defaults.
const (
	DefaultTokenBucket  = "POSGATE_ADMIN_TOKENS"
	DefaultAuditStream  = "POSGATE_AUDIT"
	AuditSubjectPrefix  = "posgate.audit."
	DefaultAuditMaxAge  = 400 * 24 * time.Hour // PCI DSS 10.5.1: a year, three months at hand
	defaultWatchTimeout = 10 * time.Second
)

// Tokens is an admin.Tokens on a KV bucket: key = token name, value = JSON with the token's
// SHA-256 (hex), role and creation. Every node keeps the whole bucket in memory from a watch.
type Tokens struct {
	kv      jetstream.KeyValue
	watcher jetstream.KeyWatcher
	mu      sync.RWMutex
	byHash  map[[sha256.Size]byte]admin.TokenRecord
	byName  map[string][sha256.Size]byte
	rev     uint64        // last revision applied
	applied chan struct{} // closed and replaced whenever an update is applied
	done    chan struct{}
}

var _ admin.Tokens = (*Tokens)(nil)

type tokenValue struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	SHA256    string    `json:"sha256"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// OpenTokens creates or binds the bucket ("" = DefaultTokenBucket; replicas 0 = 1) and loads
// it; Close stops the watch.
func OpenTokens(ctx context.Context, nc *nats.Conn, bucket string, replicas int) (*Tokens, error) {
	if bucket == "" {
		bucket = DefaultTokenBucket
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsstore: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket,
		Description: "posgate admin API tokens (SHA-256 only)", History: 1, Storage: jetstream.FileStorage,
		Replicas: max(replicas, 1)})
	if err != nil {
		return nil, fmt.Errorf("natsstore: bucket %s: %w", bucket, err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsstore: watch %s: %w", bucket, err)
	}
	t := &Tokens{kv: kv, watcher: w, byHash: map[[sha256.Size]byte]admin.TokenRecord{},
		byName: map[string][sha256.Size]byte{}, applied: make(chan struct{}), done: make(chan struct{})}
	initial := make(chan struct{})
	go t.watch(initial)
	select {
	case <-initial:
	case <-ctx.Done():
		_ = w.Stop()
		return nil, ctx.Err()
	}
	return t, nil
}

// watch applies the bucket's updates; the nil entry marks the end of the initial values.
func (t *Tokens) watch(initial chan struct{}) {
	defer close(t.done)
	for e := range t.watcher.Updates() {
		if e == nil {
			close(initial)
			continue
		}
		t.apply(e)
	}
}

func (t *Tokens) apply(e jetstream.KeyValueEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.byName[e.Key()]; ok {
		delete(t.byHash, h)
		delete(t.byName, e.Key())
	}
	var v tokenValue
	if e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &v) == nil {
		b, err := hex.DecodeString(v.SHA256)
		if err == nil && len(b) == sha256.Size && admin.ValidRole(v.Role) {
			var h [sha256.Size]byte
			copy(h[:], b)
			t.byHash[h] = admin.TokenRecord{Name: v.Name, Role: v.Role, Hash: h, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy}
			t.byName[e.Key()] = h
		}
	}
	t.rev = max(t.rev, e.Revision())
	close(t.applied)
	t.applied = make(chan struct{})
}

// waitFor blocks until the watch has applied a change for which done (called with the lock
// held) holds, so the caller's change is in this node's cache when it returns.
func (t *Tokens) waitFor(ctx context.Context, done func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, defaultWatchTimeout)
	defer cancel()
	for {
		t.mu.RLock()
		ok, ch := done(), t.applied
		t.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("natsstore: token change not seen by the watch: %w", ctx.Err())
		}
	}
}

// Lookup implements admin.Tokens.
func (t *Tokens) Lookup(hash [sha256.Size]byte) (admin.TokenRecord, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	rec, ok := t.byHash[hash]
	return rec, ok
}

// Create implements admin.Tokens.
func (t *Tokens) Create(ctx context.Context, rec admin.TokenRecord) error {
	b, err := json.Marshal(tokenValue{Name: rec.Name, Role: rec.Role, SHA256: hex.EncodeToString(rec.Hash[:]),
		CreatedAt: rec.CreatedAt, CreatedBy: rec.CreatedBy})
	if err != nil {
		return err
	}
	rev, err := t.kv.Create(ctx, rec.Name, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return admin.ErrTokenExists
	}
	if err != nil {
		return fmt.Errorf("natsstore: create token: %w", err)
	}
	return t.waitFor(ctx, func() bool { return t.rev >= rev })
}

// Revoke implements admin.Tokens: the key is purged (no copy of the hash stays).
func (t *Tokens) Revoke(ctx context.Context, name string) error {
	if _, err := t.kv.Get(ctx, name); errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return admin.ErrTokenNotFound
	} else if err != nil {
		return fmt.Errorf("natsstore: revoke token: %w", err)
	}
	if err := t.kv.Purge(ctx, name); err != nil {
		return fmt.Errorf("natsstore: revoke token: %w", err)
	}
	return t.waitFor(ctx, func() bool { _, ok := t.byName[name]; return !ok })
}

// List implements admin.Tokens.
func (t *Tokens) List(context.Context) ([]admin.TokenRecord, error) {
	t.mu.RLock()
	out := make([]admin.TokenRecord, 0, len(t.byHash))
	for _, rec := range t.byHash {
		out = append(out, rec)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b admin.TokenRecord) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Close stops the watch. A connection already drained or closed has ended it.
func (t *Tokens) Close() error {
	err := t.watcher.Stop()
	if errors.Is(err, nats.ErrBadSubscription) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining) ||
		errors.Is(err, nats.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		// Gone already: the watcher's ephemeral consumer went with the connection or the
		// server that is stopping (seen in a clean-clone CI run of TestServeEmbedded).
		err = nil
	}
	select {
	case <-t.done:
	case <-time.After(defaultWatchTimeout):
	}
	return err
}

// Audit is an admin.AuditLog on a stream: one JSON record per message on
// posgate.audit.<node>, kept DefaultAuditMaxAge.
type Audit struct {
	js      jetstream.JetStream
	stream  jetstream.Stream
	subject string
}

var _ admin.AuditLog = (*Audit)(nil)

// OpenAudit creates or binds the stream ("" = DefaultAuditStream; replicas 0 = 1); node names
// the subject records of this node go to.
func OpenAudit(ctx context.Context, nc *nats.Conn, stream string, replicas int, node string) (*Audit, error) {
	if stream == "" {
		stream = DefaultAuditStream
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsstore: %w", err)
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: stream,
		Description: "posgate admin audit trail", Subjects: []string{AuditSubjectPrefix + ">"},
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1), MaxAge: DefaultAuditMaxAge,
		DenyDelete: true, DenyPurge: true})
	if err != nil {
		return nil, fmt.Errorf("natsstore: stream %s: %w", stream, err)
	}
	return &Audit{js: js, stream: st, subject: AuditSubjectPrefix + subjectToken(node)}, nil
}

// subjectToken keeps a node name usable as one subject token.
func subjectToken(s string) string {
	if s == "" {
		return "node"
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c == '.' || c == '*' || c == '>' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}

// Append implements admin.AuditLog: it returns once the server has stored the record.
func (a *Audit) Append(ctx context.Context, e adminapi.AuditEntry) (uint64, error) {
	e.Seq = 0
	b, err := json.Marshal(e)
	if err != nil {
		return 0, err
	}
	ack, err := a.js.Publish(ctx, a.subject, b)
	if err != nil {
		return 0, fmt.Errorf("natsstore: audit append: %w", err)
	}
	return ack.Sequence, nil
}

// List implements admin.AuditLog.
func (a *Audit) List(ctx context.Context, after uint64, limit int) ([]adminapi.AuditEntry, error) {
	info, err := a.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsstore: audit: %w", err)
	}
	last := info.State.LastSeq
	start := max(after+1, info.State.FirstSeq)
	if start > last || limit <= 0 {
		return nil, nil
	}
	c, err := a.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return nil, fmt.Errorf("natsstore: audit: %w", err)
	}
	want := int(min(uint64(limit), last-start+1))
	out := make([]adminapi.AuditEntry, 0, want)
	for len(out) < want {
		batch, err := c.Fetch(want-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("natsstore: audit: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("natsstore: audit: %w", err)
			}
			var e adminapi.AuditEntry
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return nil, fmt.Errorf("natsstore: audit record %d: not JSON", md.Sequence.Stream)
			}
			e.Seq = md.Sequence.Stream
			out = append(out, e)
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("natsstore: audit: %w", err)
		}
		if n == 0 {
			break
		}
	}
	return out, nil
}
