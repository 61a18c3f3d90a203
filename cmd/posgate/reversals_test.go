package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal/memstore"
)

// fakeReversals answers every query with list and remembers the query.
type fakeReversals struct {
	mu   sync.Mutex
	q    admin.ReversalQuery
	list adminapi.ReversalList
}

func (f *fakeReversals) Reversals(_ context.Context, q admin.ReversalQuery) (adminapi.ReversalList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.q = q
	return f.list, nil
}

func (f *fakeReversals) last() admin.ReversalQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.q
}

// newReversalsServer starts an admin API serving revs (nil: not configured) and points the CLI
// at it through $POSGATE_ADMIN_TOKEN; it returns the base URL.
func newReversalsServer(t *testing.T, revs admin.Reversals) string {
	t.Helper()
	store, err := memstore.Open(memstore.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tok := admin.NewToken()
	mod, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Config{Token: tok, Reversals: revs}, store, mod, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Setenv(envAdminToken, tok)
	return hs.URL
}

func sampleReversalList() adminapi.ReversalList {
	at := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	rev := adminapi.Reversal{ID: "txn-1-r000123", Route: "cup", TID: "10400067", RRN: "000000000001",
		ProcessingCode: "000000", AmountFen: 1234, Reason: "98", STAN: 42, CreatedAt: at, QueuedAt: at}
	queued := rev
	queued.ID, queued.QueuedAt = "txn-2-r000124", at.Add(time.Hour)
	return adminapi.ReversalList{
		Delivered: []adminapi.DeliveredReversal{{Reversal: rev, MTI: "0430", ResponseCode: "25", Attempts: 3, DeliveredAt: at.Add(time.Minute)}},
		Pending:   []adminapi.PendingReversal{{Reversal: queued, OverBudget: true}},
	}
}

func TestReversalsCLI(t *testing.T) {
	fake := &fakeReversals{list: sampleReversalList()}
	url := newReversalsServer(t, fake)
	before := time.Now()
	status, out, errOut := runCLI(t, "", "reversals", "--server", url, "--tid", "10400067", "--rrn", "000000000001",
		"--txn", "txn-1", "--since", "24h", "--limit", "5")
	if status != exitOK || errOut != "" {
		t.Fatalf("reversals: %d %q", status, errOut)
	}
	for _, want := range []string{"delivered: 1", "2026-03-14T10:01:00Z", "0430 25", "txn-1-r000123", "1234",
		"pending: 1", "txn-2-r000124", "past retry budget"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	q := fake.last()
	if q.TID != "10400067" || q.RRN != "000000000001" || q.TxnPrefix != "txn-1" || q.Limit != 5 ||
		q.Since.Before(before.Add(-24*time.Hour-time.Second)) || q.Since.After(time.Now().Add(-24*time.Hour)) {
		t.Errorf("query %+v", q)
	}

	status, out, _ = runCLI(t, "", "reversals", "--server", url, "--json", "--since", "2026-03-14T00:00:00Z")
	var l adminapi.ReversalList
	if status != exitOK || json.Unmarshal([]byte(out), &l) != nil || len(l.Delivered) != 1 || l.Delivered[0].ResponseCode != "25" ||
		len(l.Pending) != 1 || !l.Pending[0].OverBudget {
		t.Fatalf("reversals --json: %d %s", status, out)
	}
	if q := fake.last(); !q.Since.Equal(time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)) || q.Limit != adminapi.DefaultReversalsLimit {
		t.Errorf("query %+v", q)
	}

	fake.list = adminapi.ReversalList{}
	if status, out, _ := runCLI(t, "", "reversals", "--server", url); status != exitOK || out != "delivered: 0 (newest first)\npending: 0 (oldest first)\n" {
		t.Errorf("empty: %d %q", status, out)
	}
}

func TestReversalsCLIErrors(t *testing.T) {
	url := newReversalsServer(t, &fakeReversals{})
	tests := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"bad since", []string{"--since", "yesterday"}, exitUsage, "--since"},
		{"negative since", []string{"--since", "-1h"}, exitUsage, "--since"},
		{"bad until", []string{"--until", "24h"}, exitUsage, "--until"},
		{"limit too large", []string{"--limit", "5000"}, exitUsage, "--limit"},
		{"limit not a number", []string{"--limit", "x"}, exitUsage, "limit"},
		{"unknown flag", []string{"--pan", "6222"}, exitUsage, "pan"},
		{"argument", []string{"10400067"}, exitUsage, "unexpected argument"},
		{"until before since (server)", []string{"--since", "2026-03-14T10:00:00Z", "--until", "2026-03-14T09:00:00Z"}, exitUsage, "until"},
		{"bad server URL", []string{"--server", "localhost:8080"}, exitUsage, "--server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"reversals", "--server", url}, tt.args...)
			status, out, errOut := runCLI(t, "", args...)
			if status != tt.status || out != "" || !strings.HasPrefix(errOut, "reversals: ") || !strings.Contains(errOut, tt.want) {
				t.Errorf("status %d, stdout %q, stderr %q; want %d and %q", status, out, errOut, tt.status, tt.want)
			}
			oneLineErr(t, errOut)
		})
	}
	// Not served by this node: 404, exit 1.
	other := newReversalsServer(t, nil)
	status, _, errOut := runCLI(t, "", "reversals", "--server", other)
	if status != exitFail || !strings.Contains(errOut, "404") {
		t.Errorf("not configured: %d %q", status, errOut)
	}
	oneLineErr(t, errOut)
	// No token anywhere: exit 2.
	t.Setenv(envAdminToken, "")
	t.Chdir(t.TempDir())
	status, _, errOut = runCLI(t, "", "reversals", "--server", url)
	if status != exitUsage || !strings.Contains(errOut, "no admin token") {
		t.Errorf("no token: %d %q", status, errOut)
	}
	if status, _, errOut := runCLI(t, "", "reversals", "-h"); status != exitOK || !strings.Contains(errOut, "usage: posgate reversals") {
		t.Errorf("-h: %d %q", status, errOut)
	}
	if _, _, errOut := runCLI(t, "", "help"); !strings.Contains(errOut, "reversals") {
		t.Errorf("posgate help does not list reversals:\n%s", errOut)
	}
}
