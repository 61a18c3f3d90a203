// Package kvruns keeps settlement run records in a JetStream key-value bucket, so that every
// gateway node and `posgate settle` on the same NATS see one record per business date and a
// date is claimed by one run at a time (compare-and-set on the key's revision).
package kvruns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/settlement"
)

// DefaultBucket is the bucket name.
const DefaultBucket = "POSGATE_SETTLEMENT_RUNS"

// Store is a settlement.RunStore on a JetStream KV bucket; the key is the business date
// YYYYMMDD and the value the JSON RunRecord. The bucket keeps a short history, file storage.
type Store struct {
	kv jetstream.KeyValue
}

var _ settlement.RunStore = (*Store)(nil)

// New creates or binds the bucket (bucket "" means DefaultBucket) on nc. replicas 0 binds an
// existing bucket unchanged and creates a missing one with 1.
func New(ctx context.Context, nc *nats.Conn, bucket string, replicas int) (*Store, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("kvruns: %w", err)
	}
	if replicas == 0 {
		// Keep an existing bucket as it is (a tool must not scale a cluster's bucket down).
		if kv, err := js.KeyValue(ctx, bucket); err == nil {
			return &Store{kv: kv}, nil
		}
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "posgate settlement runs by business date", History: 16,
		Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("kvruns: bucket %s: %w", bucket, err)
	}
	return &Store{kv: kv}, nil
}

func key(isoDate string) (string, error) {
	d, err := settlement.ParseDate(isoDate)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func (s *Store) get(ctx context.Context, k string) (*settlement.RunRecord, uint64, error) {
	e, err := s.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("kvruns: get %s: %w", k, err)
	}
	var r settlement.RunRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("kvruns: record %s: %w", k, err)
	}
	r.Revision = e.Revision()
	return &r, e.Revision(), nil
}

// Begin implements settlement.RunStore with compare-and-set: of two processes claiming the
// same date at once, one gets ErrRunInProgress.
func (s *Store) Begin(ctx context.Context, rec settlement.RunRecord, rerun bool, staleAfter time.Duration) (settlement.RunRecord, *settlement.RunRecord, error) {
	k, err := key(rec.BusinessDate)
	if err != nil {
		return rec, nil, err
	}
	stored, storedRev, err := s.get(ctx, k)
	if err != nil {
		return rec, nil, err
	}
	cur, err := settlement.Claim(stored, rec, rerun, staleAfter)
	if err != nil {
		return cur, stored, err
	}
	val, err := json.Marshal(cur)
	if err != nil {
		return cur, stored, fmt.Errorf("kvruns: %w", err)
	}
	var rev uint64
	if stored == nil {
		rev, err = s.kv.Create(ctx, k, val)
	} else {
		rev, err = s.kv.Update(ctx, k, val, storedRev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || wrongRevision(err) {
		return cur, stored, settlement.ErrRunInProgress
	}
	if err != nil {
		return cur, stored, fmt.Errorf("kvruns: claim %s: %w", k, err)
	}
	cur.Revision = rev
	return cur, stored, nil
}

// wrongRevision reports whether err is the server refusing an update whose expected
// revision is no longer the key's.
func wrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Update implements settlement.RunStore: an update of the key at rec.Revision.
func (s *Store) Update(ctx context.Context, rec settlement.RunRecord) (settlement.RunRecord, error) {
	k, err := key(rec.BusinessDate)
	if err != nil {
		return rec, err
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return rec, fmt.Errorf("kvruns: %w", err)
	}
	rev, err := s.kv.Update(ctx, k, val, rec.Revision)
	if wrongRevision(err) || errors.Is(err, jetstream.ErrKeyExists) {
		return rec, settlement.ErrSuperseded
	}
	if err != nil {
		return rec, fmt.Errorf("kvruns: update %s: %w", k, err)
	}
	rec.Revision = rev
	return rec, nil
}

// Finish implements settlement.RunStore.
func (s *Store) Finish(ctx context.Context, rec settlement.RunRecord) error {
	_, err := s.Update(ctx, rec)
	return err
}

// Get implements settlement.RunStore.
func (s *Store) Get(ctx context.Context, d journal.Date) (settlement.RunRecord, error) {
	r, _, err := s.get(ctx, d.String())
	if err != nil {
		return settlement.RunRecord{}, err
	}
	if r == nil {
		return settlement.RunRecord{}, settlement.ErrNoRun
	}
	return *r, nil
}

// List implements settlement.RunStore.
func (s *Store) List(ctx context.Context) ([]settlement.RunRecord, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("kvruns: list: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	_ = lister.Stop() // the channel is drained; Stop only releases the subscription
	out := make([]settlement.RunRecord, 0, len(keys))
	for _, k := range keys {
		r, _, err := s.get(ctx, k)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, *r)
		}
	}
	settlement.SortRuns(out)
	return out, nil
}
