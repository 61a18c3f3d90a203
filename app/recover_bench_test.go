package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/proctest"
	"github.com/posgate/posgate/journal"
)

// BenchmarkTimeToReady measures how long a node killed with SIGKILL takes to serve again when
// its journal holds n transactions of the current business date — each a write-ahead intent and
// a capture carrying its answer, as the gateway writes them. Without a checkpoint the restarted
// node replays all of them into its in-memory state before its listener opens; with one (made
// every 5 s here), it loads the checkpoint that covers the first n and replays the tail
// journaled after it. Reported: s/ready, from the restart to /readyz answering 200 (the
// listener opens only after the replay).
//
//	go test -run '^$' -bench TimeToReady -benchtime 1x -timeout 30m ./app/
func BenchmarkTimeToReady(b *testing.B) {
	for _, c := range []struct {
		n, tail    int
		checkpoint bool
	}{
		{100_000, 0, false},
		{1_000_000, 0, false},
		{1_000_000, 30_000, true}, // a minute at 500/s journaled after the last checkpoint
	} {
		name := fmt.Sprintf("txns=%d", c.n)
		args := []string{"--log-level", "info", "--checkpoint-interval", "0"}
		if c.checkpoint {
			name += fmt.Sprintf("/checkpoint+tail=%d", c.tail)
			args = []string{"--log-level", "info", "--checkpoint-interval", "5s"}
		}
		b.Run(name, func(b *testing.B) {
			node := proctest.StartNode(b, proctest.NodeConfig{Args: args, ReadyTimeout: 10 * time.Minute})
			fillJournal(b, node.NATSURL, 0, c.n)
			if c.checkpoint {
				start := time.Now()
				awaitFullCheckpoint(b, node)
				b.Logf("checkpoint of %d transactions written %v after the last append", c.n, time.Since(start).Round(time.Millisecond))
				fillJournal(b, node.NATSURL, c.n, c.tail)
			}
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				node.Kill()
				start := time.Now()
				node.Restart(b)
				total += time.Since(start)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/ready")
			b.StopTimer()
			for _, line := range strings.Split(node.LogTail(), "\n") {
				if strings.Contains(line, "recovered from the journal") || strings.Contains(line, "checkpoint loaded") {
					b.Log(line)
				}
			}
		})
	}
}

// awaitFullCheckpoint waits until node's checkpoint covers its whole journal and logs its size
// and the node's checkpoint metrics.
func awaitFullCheckpoint(b *testing.B, node *proctest.Node) {
	b.Helper()
	nc, err := nats.Connect(node.NATSURL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	ck := awaitCheckpoint(b, nc, node.DataDir, 15*time.Minute)
	if info, err := os.Stat(filepath.Join(node.DataDir, "checkpoint-node0.bin")); err == nil {
		b.Logf("checkpoint: %d MB, %d records replayed into it", info.Size()>>20, ck.Records)
	}
	token, err := os.ReadFile(filepath.Join(node.DataDir, "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+node.AdminAddr+"/metrics", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "posgate_checkpoint_") {
			b.Log(line)
		}
	}
}

// fillJournal appends n transactions numbered from first on (intent + capture with a 160-byte
// answer) of today's business date through 64 concurrent writers.
func fillJournal(b *testing.B, url string, first, n int) {
	b.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	j, err := journal.New(ctx, nc, journal.Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close(ctx)
	date := journal.Calendar{}.BusinessDate(time.Now())
	answer := string(make([]byte, 160))
	now := time.Now().UTC()
	const writers = 64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := first + w; i < first+n; i += writers {
				tid := fmt.Sprintf("B%07d", i/1000)
				batch, stan := "000001", fmt.Sprintf("%06d", i%1000+1)
				id := fmt.Sprintf("%s-%s-%s-%s-purchase", date, tid, batch, stan)
				up := journal.Upstream{MTI: "0200", STAN: uint32(i%999_999 + 1), Transmission: now.Format("0102150405")}
				capture := journal.Record{TxnID: id, Type: journal.TypePurchase, MTI: "0200", ProcessingCode: "000000",
					Amount: int64(100 + i%10000), Currency: "156", MaskedPAN: "622202******0123",
					PANToken: "0123456789abcdef0123456789abcdef", CardKind: journal.CardDebit, TID: tid,
					MID: "898310048160001", Batch: batch, STAN: stan, RRN: fmt.Sprintf("%012d", i), AuthCode: "123456",
					ResponseCode: "00", Route: "cup", RequestTime: now, ResponseTime: now, BusinessDate: date,
					Upstream: up, RequestHash: "00112233445566778899aabbccddeeff", Answer: answer}
				intent := capture
				intent.TxnID, intent.Type, intent.Of, intent.AuthCode, intent.ResponseCode = id+"-I", journal.TypeIntent,
					journal.TypePurchase, "", ""
				intent.RequestHash, intent.Answer = "", ""
				intent.Original = journal.OriginalRef{TxnID: id, Batch: batch, STAN: stan, Date: date}
				for _, r := range []journal.Record{intent, capture} {
					if err := j.Append(ctx, r); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.Logf("journaled %d transactions (%d records) in %v", n, 2*n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkRecoverInProcess is BenchmarkTimeToReady's replay in the test process (a clean
// shutdown instead of the kill), so that -cpuprofile sees it.
func BenchmarkRecoverInProcess(b *testing.B) {
	const n = 200_000
	dir := b.TempDir()
	ctx := context.Background()
	cfg := app.Config{Listen: "127.0.0.1:0", DataDir: dir, NoSimulator: true, CheckpointInterval: -1}
	first, err := app.Start(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	fillJournal(b, first.NATSURL(), 0, n)
	if err := first.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		node, err := app.Start(ctx, cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if node.Recovery.Transactions != n {
			b.Fatalf("recovered %d transactions, want %d", node.Recovery.Transactions, n)
		}
		b.ReportMetric(node.Recovery.Took.Seconds(), "s/replay")
		_ = node.Shutdown(ctx)
		b.StartTimer()
	}
}
