package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
)

// fakeReversals answers with list (or err) and remembers the last query.
type fakeReversals struct {
	mu   sync.Mutex
	last admin.ReversalQuery
	list adminapi.ReversalList
	err  error
}

func (f *fakeReversals) Reversals(_ context.Context, q admin.ReversalQuery) (adminapi.ReversalList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = q
	return f.list, f.err
}

func (f *fakeReversals) query() admin.ReversalQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

var (
	revQueued    = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	revDelivered = revQueued.Add(3 * time.Second)
)

func sampleReversals() adminapi.ReversalList {
	rev := adminapi.Reversal{ID: "txn-1-r000123", Route: "cup", TID: "10400067", MID: "000000000000004",
		RRN: "000000000001", ProcessingCode: "000000", AmountFen: 1234, Currency: "156", Reason: "98", STAN: 42,
		Original:  adminapi.ReversalOriginal{MTI: "0200", STAN: 123, Transmission: "0314100000"},
		CreatedAt: revQueued, QueuedAt: revQueued}
	later := rev
	later.ID, later.STAN = "txn-2-r000124", 43
	return adminapi.ReversalList{
		Delivered: []adminapi.DeliveredReversal{{Reversal: rev, MTI: "0430", ResponseCode: "25", Attempts: 2, DeliveredAt: revDelivered}},
		Pending:   []adminapi.PendingReversal{{Reversal: later, OverBudget: true}},
	}
}

func TestReversalsAPI(t *testing.T) {
	fake := &fakeReversals{list: sampleReversals()}
	e := newEnv(t, memStore(t), func(c *admin.Config) { c.Reversals = fake })
	ctx := ctxT(t)
	before := time.Now()
	got, err := e.c.Reversals(ctx, adminapi.ReversalsRequest{TID: "10400067", RRN: "000000000001", Txn: "txn-1",
		Since: revQueued, Until: revDelivered, Limit: 5})
	if err != nil {
		t.Fatalf("Reversals: %v", err)
	}
	want := sampleReversals()
	if len(got.Delivered) != 1 || got.Delivered[0] != want.Delivered[0] || len(got.Pending) != 1 || got.Pending[0] != want.Pending[0] {
		t.Errorf("Reversals = %+v, want %+v", got, want)
	}
	q := fake.query()
	if q.TID != "10400067" || q.RRN != "000000000001" || q.TxnPrefix != "txn-1" || !q.Since.Equal(revQueued) ||
		!q.Until.Equal(revDelivered) || q.Limit != 5 {
		t.Errorf("query = %+v", q)
	}

	// Defaults; since as a duration back from now.
	if _, err := e.c.Reversals(ctx, adminapi.ReversalsRequest{}); err != nil {
		t.Fatal(err)
	}
	if q := fake.query(); q != (admin.ReversalQuery{Limit: adminapi.DefaultReversalsLimit}) {
		t.Errorf("query without parameters = %+v", q)
	}
	st, _, body := e.raw(t, http.MethodGet, adminapi.PathReversals+"?since=24h&limit=1000", "", "")
	if st != http.StatusOK {
		t.Fatalf("since=24h: %d %s", st, body)
	}
	if q := fake.query(); q.Limit != 1000 || q.Since.Before(before.Add(-24*time.Hour-time.Second)) || q.Since.After(time.Now().Add(-24*time.Hour)) {
		t.Errorf("since=24h gave %+v", q)
	}

	bad := []struct{ query, field string }{
		{"limit=1001", "limit"}, {"limit=x", "limit"}, {"limit=-1", "limit"},
		{"since=-1h", "since"}, {"since=yesterday", "since"}, {"since=2026-03-14", "since"},
		{"until=24h", "until"}, {"since=2026-03-14T10:00:00Z&until=2026-03-14T09:00:00Z", "until"},
		{"tid=" + strings.Repeat("1", 200), "tid"}, {"tid=a&tid=b", "tid"},
	}
	for _, b := range bad {
		t.Run(b.query, func(t *testing.T) {
			st, _, body := e.raw(t, http.MethodGet, adminapi.PathReversals+"?"+b.query, "", "")
			if st != http.StatusBadRequest || !strings.Contains(string(body), `"field":"`+b.field+`"`) {
				t.Errorf("%s: %d %s, want 400 on %s", b.query, st, body, b.field)
			}
		})
	}
	if st, _, _ := e.raw(t, http.MethodGet, adminapi.PathReversals+"?pan=6222", "", ""); st != http.StatusBadRequest {
		t.Errorf("unknown parameter: %d, want 400", st)
	}
	if st, _, _ := e.raw(t, http.MethodGet, adminapi.PathReversals, "", "", ""); st != http.StatusUnauthorized {
		t.Errorf("without token: %d, want 401", st)
	}
	if st, _, _ := e.raw(t, http.MethodPost, adminapi.PathReversals, "", ""); st != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", st)
	}
}

func TestReversalsAPIEmptyAndErrors(t *testing.T) {
	fake := &fakeReversals{}
	e := newEnv(t, memStore(t), func(c *admin.Config) { c.Reversals = fake })
	st, _, body := e.raw(t, http.MethodGet, adminapi.PathReversals, "", "")
	if st != http.StatusOK || strings.TrimSpace(string(body)) != `{"delivered":[],"pending":[]}` {
		t.Errorf("empty: %d %s", st, body)
	}
	fake.err = context.DeadlineExceeded
	_, err := e.c.Reversals(ctxT(t), adminapi.ReversalsRequest{})
	wantAPIError(t, err, http.StatusGatewayTimeout, adminapi.ErrTimeout)
	fake.err = errors.New("stream gone")
	_, err = e.c.Reversals(ctxT(t), adminapi.ReversalsRequest{})
	wantAPIError(t, err, http.StatusInternalServerError, adminapi.ErrInternal)
}

func TestReversalsNotConfigured(t *testing.T) {
	e := newEnv(t, memStore(t), nil)
	_, err := e.c.Reversals(ctxT(t), adminapi.ReversalsRequest{})
	wantAPIError(t, err, http.StatusNotFound, adminapi.ErrNotFound)
}
