package routing_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/routing"
)

// issuer answers every request on posgate.auth.<route> with the reply MTI and response code
// rc, echoing the fields a reply must match, and counts the requests.
type issuer struct{ requests atomic.Int64 }

func (e *env) issuer(route, rc string) *issuer {
	e.t.Helper()
	nc := e.conn()
	is := &issuer{}
	_, err := nc.Subscribe(routing.SubjectPrefix+route, func(m *nats.Msg) {
		is.requests.Add(1)
		req, rep := codec.NewMessage(codec.Upstream), codec.NewMessage(codec.Upstream)
		if err := req.Unpack(m.Data); err != nil {
			return
		}
		_ = rep.SetMTI(routing.ReplyMTI(req.MTI()))
		for _, n := range [...]int{3, 4, 7, 11, 32, 37, 41, 42, 49} {
			if v := req.Field(n); v != nil {
				_ = rep.Set(n, v)
			}
		}
		_ = rep.SetString(39, rc)
		b, err := rep.Pack(nil)
		if err == nil {
			_ = m.Respond(b)
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	return is
}

func delivered(t *testing.T, f *routing.Forwarder, q routing.DeliveredQuery) []routing.DeliveredReversal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := f.Delivered(ctx, q)
	if err != nil {
		t.Fatalf("Delivered(%+v): %v", q, err)
	}
	return d
}

func pending(t *testing.T, f *routing.Forwarder, q routing.DeliveredQuery) []routing.PendingReversal {
	t.Helper()
	p, err := f.Pending(context.Background(), q)
	if err != nil {
		t.Fatalf("Pending(%+v): %v", q, err)
	}
	return p
}

func ids[T any](rs []T, id func(T) string) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = id(r)
	}
	return out
}

func deliveredID(d routing.DeliveredReversal) string { return d.Reversal.ID }
func pendingID(p routing.PendingReversal) string     { return p.Reversal.ID }

// TestDeliveredReversalsAreKept queues reversals, lets an issuer answer them with 25, and
// finds them by TID, RRN, id prefix and time, newest first; the queue is empty after.
func TestDeliveredReversalsAreKept(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("session", func(t *testing.T) {
		e := newEnv(t)
		cfg := fastConfig()
		cfg.Workers = 1 // delivery order = queue order
		f := newForwarder(t, e.client(""), cfg)
		const n = 5
		for i := 1; i <= n; i++ {
			r := testReversal(i)
			if i == 3 {
				r.TID, r.RRN = "10400099", "000000000003"
			}
			if err := f.Enqueue(context.Background(), r); err != nil {
				t.Fatalf("Enqueue %d: %v", i, err)
			}
		}
		if got := delivered(t, f, routing.DeliveredQuery{}); len(got) != 0 {
			t.Fatalf("delivered before forwarding: %v", ids(got, deliveredID))
		}
		p := pending(t, f, routing.DeliveredQuery{})
		if got := fmt.Sprint(ids(p, pendingID)); got != "[rev-1 rev-2 rev-3 rev-4 rev-5]" {
			t.Fatalf("pending %s, want all five oldest first", got)
		}
		if p[0].QueuedAt.IsZero() || p[0].OverBudget || p[0].Reversal.STAN == 0 {
			t.Errorf("pending[0] = %+v", p[0])
		}
		if got := pending(t, f, routing.DeliveredQuery{TID: "10400099"}); len(got) != 1 || got[0].Reversal.ID != "rev-3" {
			t.Errorf("pending by TID: %v", ids(got, pendingID))
		}

		is := e.issuer("cup", "25")
		start := time.Now().UTC()
		f.Start()
		eventually(t, "all delivered", func() bool { return stats(t, f).Depth == 0 })
		shutdown(t, f.Shutdown)
		// The reader works with the forwarding loop stopped, from the stream alone.
		all := delivered(t, f, routing.DeliveredQuery{})
		if got := fmt.Sprint(ids(all, deliveredID)); got != "[rev-5 rev-4 rev-3 rev-2 rev-1]" {
			t.Fatalf("delivered %s, want all five newest first", got)
		}
		d := all[4]
		want := testReversal(1)
		if d.MTI != "0410" || d.ResponseCode != "25" || d.Attempts != 1 || d.Reversal.Amount != want.Amount ||
			d.Reversal.RRN != want.RRN || d.Reversal.Original != want.Original || d.Reversal.Reason != "98" ||
			d.Reversal.STAN != p[0].Reversal.STAN || !d.Reversal.CreatedAt.Equal(p[0].Reversal.CreatedAt) {
			t.Errorf("record of rev-1 = %+v", d)
		}
		if !d.QueuedAt.Equal(p[0].QueuedAt) || d.DeliveredAt.Before(d.QueuedAt) || d.DeliveredAt.Before(start.Add(-time.Second)) {
			t.Errorf("rev-1 queued %v, delivered %v (started %v)", d.QueuedAt, d.DeliveredAt, start)
		}
		if got := is.requests.Load(); got != n {
			t.Errorf("issuer saw %d requests, want %d", got, n)
		}
		later := time.Now().Add(time.Minute)
		tests := []struct {
			name string
			q    routing.DeliveredQuery
			want string
		}{
			{"by TID", routing.DeliveredQuery{TID: "10400099"}, "[rev-3]"},
			{"by other TID", routing.DeliveredQuery{TID: "10400067"}, "[rev-5 rev-4 rev-2 rev-1]"},
			{"unknown TID", routing.DeliveredQuery{TID: "NOSUCH.*"}, "[]"},
			{"by RRN", routing.DeliveredQuery{RRN: "000000000003"}, "[rev-3]"},
			{"TID and RRN", routing.DeliveredQuery{TID: "10400067", RRN: "000000000003"}, "[]"},
			{"by id prefix", routing.DeliveredQuery{IDPrefix: "rev-4"}, "[rev-4]"},
			{"limit", routing.DeliveredQuery{Limit: 2}, "[rev-5 rev-4]"},
			{"limit with filter", routing.DeliveredQuery{TID: "10400067", Limit: 3}, "[rev-5 rev-4 rev-2]"},
			{"since", routing.DeliveredQuery{Since: start.Add(-time.Minute)}, "[rev-5 rev-4 rev-3 rev-2 rev-1]"},
			{"since later", routing.DeliveredQuery{Since: later}, "[]"},
			{"until earlier", routing.DeliveredQuery{Until: start.Add(-time.Minute)}, "[]"},
			{"until", routing.DeliveredQuery{Until: later, IDPrefix: "rev-"}, "[rev-5 rev-4 rev-3 rev-2 rev-1]"},
			{"delivered at rev-2 or before", routing.DeliveredQuery{Until: all[3].DeliveredAt}, "[rev-2 rev-1]"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := fmt.Sprint(ids(delivered(t, f, tt.q), deliveredID)); got != tt.want {
					t.Errorf("got %s, want %s", got, tt.want)
				}
			})
		}
		if got := pending(t, f, routing.DeliveredQuery{}); len(got) != 0 {
			t.Errorf("pending after delivery: %v", ids(got, pendingID))
		}
	})
	noLeak(t, before)
}

// TestDeliveryRecordedOnce stops the forwarder, in effect, between recording a delivery and
// acking the queue message: the reversal comes back, is found in the log and removed without
// being sent again, and the log holds one record.
func TestDeliveryRecordedOnce(t *testing.T) {
	e := newEnv(t)
	is := e.issuer("cup", "00")
	f := newForwarder(t, e.client(""), fastConfig())
	var crashed atomic.Int64
	routing.SetAfterRecord(f, func(*routing.Reversal) bool { return crashed.Add(1) == 1 })
	if err := f.Enqueue(context.Background(), testReversal(1)); err != nil {
		t.Fatal(err)
	}
	f.Start()
	eventually(t, "queue drained", func() bool { return stats(t, f).Depth == 0 })
	shutdown(t, f.Shutdown)
	if crashed.Load() != 1 {
		t.Fatalf("the hook ran %d times, want once (the redelivery must not be sent again)", crashed.Load())
	}
	if got := is.requests.Load(); got != 1 {
		t.Errorf("issuer saw %d requests, want 1", got)
	}
	d := delivered(t, f, routing.DeliveredQuery{})
	if len(d) != 1 || d[0].Attempts != 1 || d[0].MTI != "0410" || d[0].ResponseCode != "00" {
		t.Errorf("delivered = %+v, want one record of the first attempt", d)
	}
	if n := logInfo(t, e).State.Msgs; n != 1 {
		t.Errorf("log holds %d records, want 1", n)
	}
}

func logInfo(t *testing.T, e *env) *jetstream.StreamInfo {
	t.Helper()
	js, err := jetstream.New(e.conn())
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), routing.DefaultReversalLogStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestReversalLogStream checks the log's retention: file storage, limits, at least 7 days.
func TestReversalLogStream(t *testing.T) {
	e := newEnv(t)
	newForwarder(t, e.client(""), routing.ForwarderConfig{})
	c := logInfo(t, e).Config
	if c.MaxAge < 7*24*time.Hour || c.MaxAge != routing.DefaultReversalLogMaxAge || c.Storage != jetstream.FileStorage ||
		c.Retention != jetstream.LimitsPolicy || c.Replicas != 1 || c.MaxMsgs > 0 || c.MaxBytes > 0 {
		t.Errorf("log stream config: max age %v, storage %v, retention %v, replicas %d, max msgs %d, max bytes %d",
			c.MaxAge, c.Storage, c.Retention, c.Replicas, c.MaxMsgs, c.MaxBytes)
	}
	if len(c.Subjects) != 1 || c.Subjects[0] != routing.DefaultReversalLogSubject+".>" {
		t.Errorf("log subjects %v", c.Subjects)
	}
	// A longer retention is kept as configured.
	e2 := newEnv(t)
	newForwarder(t, e2.client(""), routing.ForwarderConfig{LogMaxAge: 30 * 24 * time.Hour})
	if got := logInfo(t, e2).Config.MaxAge; got != 30*24*time.Hour {
		t.Errorf("MaxAge %v, want 720h", got)
	}
}
