package memstate

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
)

// TestSweep: the sweep goroutine frees every kind of entry once it has expired — and only
// then — and Close stops it (synctest fails the test if a goroutine of the bubble is left).
func TestSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, err := New(Config{SweepInterval: time.Minute, TxnTTL: 48 * time.Hour, TotalsTTL: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		date := journal.DateOf(time.Now().UTC()) // the bubble's clock: 2000-01-01 00:00 UTC
		for i := range 10 {
			tid := string(rune('A'+i)) + "0000001"
			key := gateway.RetransmitKey{TID: tid, Batch: 1, STAN: uint32(i), MTI: "0200"}
			if _, _, err := s.Reserve(ctx, key, gateway.ContentHash{1}, time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := s.PutTxn(ctx, gateway.TxnRecord{TID: tid, Batch: 1, STAN: uint32(i)}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddTotals(ctx, tid, 1, "e", gateway.Totals{DebitCount: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CountDaily(ctx, tid, date); err != nil {
				t.Fatal(err)
			}
		}
		steps := []struct {
			after                        time.Duration // since the start
			rt, txns, totals, dailyCount int
		}{
			{59 * time.Minute, 10, 10, 10, 10},
			{61 * time.Minute, 0, 10, 10, 10}, // retransmission entries: ttl one hour
			{24*time.Hour + time.Minute, 0, 10, 0, 10},
			{48*time.Hour + time.Minute, 0, 0, 0, 10},
			{72*time.Hour + time.Minute, 0, 0, 0, 0}, // counters: 00:00 UTC of date+3
		}
		start := time.Now()
		for _, st := range steps {
			time.Sleep(time.Until(start.Add(st.after)))
			synctest.Wait()
			rt, txns, totals, daily := s.count()
			if rt != st.rt || txns != st.txns || totals != st.totals || daily != st.dailyCount {
				t.Errorf("after %v: %d/%d/%d/%d entries, want %d/%d/%d/%d", st.after,
					rt, txns, totals, daily, st.rt, st.txns, st.totals, st.dailyCount)
			}
		}
	})
}

// TestLazyExpiry: with the sweep disabled, expired entries are invisible all the same.
func TestLazyExpiry(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	s, err := New(Config{SweepInterval: -1, TxnTTL: time.Hour, TotalsTTL: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := gateway.RetransmitKey{TID: "10000001", Batch: 1, STAN: 1, MTI: "0200"}
	rec := gateway.TxnRecord{TID: "10000001", Batch: 1, STAN: 1, Amount: 5}
	date := journal.DateOf(now)
	if r, _, _ := s.Reserve(ctx, key, gateway.ContentHash{1}, time.Minute); r != gateway.ReserveNew {
		t.Fatalf("Reserve = %d", r)
	}
	if err := s.PutTxn(ctx, rec); err != nil {
		t.Fatal(err)
	}
	s.AddTotals(ctx, "10000001", 1, "e", gateway.Totals{DebitCount: 1})
	s.CountDaily(ctx, "10000001", date)

	now = now.Add(time.Hour)
	if r, _, _ := s.Reserve(ctx, key, gateway.ContentHash{2}, time.Minute); r != gateway.ReserveNew {
		t.Errorf("Reserve after expiry = %d, want ReserveNew", r)
	}
	if _, err := s.GetTxn(ctx, rec.Key()); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("GetTxn after expiry: %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateTxn(ctx, rec); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("UpdateTxn after expiry: %v, want ErrNotFound", err)
	}
	if err := s.PutTxn(ctx, rec); err != nil {
		t.Errorf("PutTxn over an expired record: %v", err)
	}
	if got, _ := s.GetTotals(ctx, "10000001", 1); got != (gateway.Totals{}) {
		t.Errorf("GetTotals after expiry = %+v, want zero", got)
	}
	if got, _ := s.AddTotals(ctx, "10000001", 1, "e", gateway.Totals{DebitCount: 1}); got.DebitCount != 1 {
		t.Errorf("AddTotals of a known id after expiry = %+v, want it counted afresh", got)
	}
	if n, _ := s.CountDaily(ctx, "10000001", date); n != 2 {
		t.Errorf("CountDaily within its date = %d, want 2", n)
	}
	now = DailyExpiry(date)
	if n, _ := s.CountDaily(ctx, "10000001", date); n != 1 {
		t.Errorf("CountDaily after its expiry = %d, want 1", n)
	}
}

// TestClose: Close is idempotent, stops the sweeper and makes every operation ErrClosed.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		key := gateway.RetransmitKey{TID: "10000001", MTI: "0200"}
		calls := []struct {
			name string
			err  error
		}{
			{"Reserve", func() error { _, _, err := s.Reserve(ctx, key, gateway.ContentHash{}, time.Hour); return err }()},
			{"Complete", s.Complete(ctx, key, nil, time.Hour)},
			{"Release", s.Release(ctx, key)},
			{"PutTxn", s.PutTxn(ctx, gateway.TxnRecord{TID: "1"})},
			{"GetTxn", func() error { _, err := s.GetTxn(ctx, gateway.TxnKey{TID: "1"}); return err }()},
			{"UpdateTxn", func() error { _, err := s.UpdateTxn(ctx, gateway.TxnRecord{TID: "1"}); return err }()},
			{"AddTotals", func() error { _, err := s.AddTotals(ctx, "1", 1, "e", gateway.Totals{}); return err }()},
			{"GetTotals", func() error { _, err := s.GetTotals(ctx, "1", 1); return err }()},
			{"CountDaily", func() error { _, err := s.CountDaily(ctx, "1", journal.Date{}); return err }()},
		}
		for _, c := range calls {
			var oe *OpError
			if !errors.Is(c.err, ErrClosed) || !errors.As(c.err, &oe) {
				t.Errorf("%s after Close: %v, want an *OpError wrapping ErrClosed", c.name, c.err)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		setting string // "" = valid
	}{
		{"Zero", Config{}, ""},
		{"NoSweep", Config{SweepInterval: -1}, ""},
		{"NegativeTxnTTL", Config{TxnTTL: -1}, "memstate.TxnTTL"},
		{"NegativeTotalsTTL", Config{TotalsTTL: -1}, "memstate.TotalsTTL"},
		{"TooManyShards", Config{Shards: 1 << 17}, "memstate.Shards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var ce *gateway.ConfigError
			switch {
			case tt.setting == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.setting != "" && (!errors.As(err, &ce) || ce.Setting != tt.setting || !errors.Is(err, gateway.ErrConfig)):
				t.Errorf("Validate: %v, want a ConfigError for %s", err, tt.setting)
			}
		})
	}
	if s, err := New(Config{Shards: 5}); err != nil || len(s.shards) != 8 {
		t.Errorf("New with 5 shards: %v; want 8 shards", err)
	} else {
		s.Close()
	}
}

// The bounds keep the maps at their size once entries are older than MinKeep, and never evict a
// young entry or a reservation in progress.
func TestBoundsEvictOldEntries(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := New(Config{Shards: 1, MaxResponses: 50, MaxTxns: 50, MinKeep: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	key := func(i int) gateway.RetransmitKey {
		return gateway.RetransmitKey{TID: "T0000001", Batch: 1, STAN: uint32(i), MTI: "0200"}
	}
	for i := 0; i < 200; i++ {
		if i == 100 {
			now = now.Add(2 * time.Minute) // the first 100 are now old enough to go
		}
		if r, _, err := s.Reserve(ctx, key(i), gateway.ContentHash{1}, time.Hour); err != nil || r != gateway.ReserveNew {
			t.Fatalf("reserve %d: %v %v", i, r, err)
		}
		if err := s.Complete(ctx, key(i), []byte("resp"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTxn(ctx, gateway.TxnRecord{TID: "T0000001", Batch: 1, STAN: uint32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	sh := &s.shards[0]
	// 100 young entries can never go; of the 100 old ones nearly all went (eviction samples
	// 16 entries, so an insertion whose sample holds no old entry evicts nothing).
	if len(sh.rt) > 125 || len(sh.rt) < 100 || len(sh.txns) > 125 || len(sh.txns) < 100 {
		t.Fatalf("after 200 inserts with a bound of 50: %d responses, %d transactions", len(sh.rt), len(sh.txns))
	}
	for i := 100; i < 200; i++ { // every young entry is still there
		if r, resp, _ := s.Reserve(ctx, key(i), gateway.ContentHash{1}, time.Hour); r != gateway.ReserveDone || string(resp) != "resp" {
			t.Fatalf("young entry %d evicted", i)
		}
	}
	// A reservation in progress is never evicted, however old.
	now = now.Add(time.Hour)
	if _, _, err := s.Reserve(ctx, key(1000), gateway.ContentHash{2}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Minute)
	for i := 2000; i < 2300; i++ {
		_, _, _ = s.Reserve(ctx, key(i), gateway.ContentHash{1}, 2*time.Hour)
		_ = s.Complete(ctx, key(i), []byte("x"), 2*time.Hour)
		now = now.Add(time.Second)
	}
	if r, _, _ := s.Reserve(ctx, key(1000), gateway.ContentHash{2}, time.Hour); r != gateway.ReserveBusy {
		t.Fatalf("the reservation in progress was evicted: %v", r)
	}
}
