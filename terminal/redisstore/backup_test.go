package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/terminal"
	"github.com/posgate/posgate/terminal/redisstore"
)

// An export restored into an empty Redis (a wiped one) gives back the same registry, epoch
// marker included; an import into a registry that has terminals is refused unless replace.
func TestExportImport(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	now := func() time.Time { return clock }
	src := newStore(t, redistest.Start(t), now)
	if e, err := src.Epoch(ctx); err != nil || e != "" {
		t.Fatalf("fresh registry: epoch %q, %v", e, err)
	}
	epoch, err := src.EnsureEpoch(ctx)
	if err != nil || !strings.HasPrefix(epoch, "20310506T070809Z-") {
		t.Fatalf("EnsureEpoch = %q, %v", epoch, err)
	}
	if again, err := src.EnsureEpoch(ctx); err != nil || again != epoch {
		t.Fatalf("second EnsureEpoch = %q, %v; want the first %q", again, err, epoch)
	}
	if _, err := src.CreateMerchant(ctx, terminal.Merchant{MID: "898310000000001", Name: "Shop", MCC: "5411"}); err != nil {
		t.Fatal(err)
	}
	for _, tid := range []string{"10000001", "10000002"} {
		if _, err := src.CreateTerminal(ctx, terminal.Terminal{TID: tid, MID: "898310000000001"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.BindSN(ctx, "10000001", "000002021SN0000001"); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	n, err := src.Export(ctx, &dump)
	if err != nil || n == 0 {
		t.Fatalf("Export: %d keys, %v", n, err)
	}

	// The same prefix on another server: what a Redis restarted without persistence looks like.
	dst, err := redisstore.New(redisstore.Config{URL: redistest.Start(t).URL(), Prefix: prefixOf(t, dump.Bytes()), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got, err := dst.Import(ctx, bytes.NewReader(dump.Bytes()), false)
	if err != nil || got != n {
		t.Fatalf("Import: %d of %d keys, %v", got, n, err)
	}
	if e, _ := dst.Epoch(ctx); e != epoch {
		t.Errorf("restored epoch %q, want %q", e, epoch)
	}
	for _, tid := range []string{"10000001", "10000002"} {
		a, _ := src.GetTerminal(ctx, tid)
		b, err := dst.GetTerminal(ctx, tid)
		if err != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("terminal %s after import: %+v, %v; want %+v", tid, b, err, a)
		}
	}
	if b, err := dst.GetTerminalBySN(ctx, "000002021SN0000001"); err != nil || b.TID != "10000001" {
		t.Errorf("SN binding after import: %+v, %v", b, err)
	}
	if _, err := dst.Import(ctx, bytes.NewReader(dump.Bytes()), false); !errors.Is(err, redisstore.ErrNotEmpty) {
		t.Errorf("import into a registry with terminals: %v, want ErrNotEmpty", err)
	}
	if got, err := dst.Import(ctx, bytes.NewReader(dump.Bytes()), true); err != nil || got != n {
		t.Errorf("import --replace: %d, %v", got, err)
	}
	for _, bad := range []string{"", "{}\n", `{"format":"posgate-registry-export/1","prefix":"other:"}` + "\n"} {
		if _, err := dst.Import(ctx, strings.NewReader(bad), true); err == nil {
			t.Errorf("import of %q: no error", bad)
		}
	}
}

// prefixOf reads the key prefix from an export's header.
func prefixOf(t *testing.T, dump []byte) string {
	t.Helper()
	line, _, _ := bytes.Cut(dump, []byte("\n"))
	_, rest, ok := bytes.Cut(line, []byte(`"prefix":"`))
	p, _, ok2 := bytes.Cut(rest, []byte(`"`))
	if !ok || !ok2 {
		t.Fatalf("no prefix in %s", line)
	}
	return string(p)
}
