package settlement

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/natsembed/natstest"
)

// The 10-million-record benchmark runs only when asked, in two processes so that the
// settling process's peak RSS is its own:
//
//	POSGATE_SETTLE_BENCH_DIR=/tmp/sb POSGATE_SETTLE_BENCH_N=10000000 \
//	  go test -run TestSettleBenchGenerate -timeout 60m -v ./settlement/
//	POSGATE_SETTLE_BENCH_DIR=/tmp/sb go test -run TestSettleBenchRun -timeout 60m -v ./settlement/
//
// The generator appends N records through journal.Append (group commit, 512 writers) to an
// embedded server in DIR/nats; the run settles them and reports wall time, records/s, the
// process's VmHWM and the Go heap's peak.
const (
	envBenchDir = "POSGATE_SETTLE_BENCH_DIR"
	envBenchN   = "POSGATE_SETTLE_BENCH_N"
)

var benchDate = journal.NewDate(2026, time.May, 20)

func benchServer(t *testing.T, dir string) *natsembed.Server {
	return natstest.StartWithConfig(t, natsembed.Config{DataDir: filepath.Join(dir, "nats"), NoSyncAlways: true})
}

// benchRecord is record i of the generated day: 20,000 terminals, 2,000 merchants; per
// terminal sequence: mostly purchases, with voids, reversals, refunds, pre-auths and
// completions, and every 1,000th record stored twice.
func benchRecord(i int) journal.Record {
	term := i % 20000
	seq := i / 20000
	tid := fmt.Sprintf("%08d", 10000000+term)
	mid := fmt.Sprintf("8983100%08d", term%2000)
	r := txn(benchDate, "", journal.TypePurchase, journal.CardKind(1+i%3), int64(100+(i*7919)%900000), func(r *journal.Record) {
		r.TID, r.MID, r.STAN = tid, mid, fmt.Sprintf("%06d", seq%1000000)
	})
	r.TxnID = fmt.Sprintf("%s-%s-000001-%06d", benchDate, tid, seq)
	prev := fmt.Sprintf("%s-%s-000001-%06d", benchDate, tid, seq-1)
	switch seq % 20 {
	case 5:
		r.Type, r.Original = journal.TypeVoid, journal.OriginalRef{TxnID: prev, Date: benchDate}
	case 9:
		r.Type, r.ResponseCode, r.Original = journal.TypeReversal, "98", journal.OriginalRef{TxnID: prev, Date: benchDate}
	case 13:
		r.Type, r.Original = journal.TypeRefund, journal.OriginalRef{TxnID: "old", Date: benchDate.AddDays(-1)}
	case 16:
		r.Type = journal.TypePreAuth
	case 17:
		r.Type, r.Original = journal.TypeCompletion, journal.OriginalRef{TxnID: prev, Date: benchDate}
	}
	return r
}

func TestSettleBenchGenerate(t *testing.T) {
	dir := os.Getenv(envBenchDir)
	n, _ := strconv.Atoi(os.Getenv(envBenchN))
	if dir == "" || n == 0 {
		t.Skip("set " + envBenchDir + " and " + envBenchN + " to generate the benchmark journal")
	}
	srv := benchServer(t, dir)
	nc := natstest.Connect(t, srv)
	ctx := context.Background()
	j, err := journal.New(ctx, nc, journal.Config{MaxBatch: 4096, MaxSegmentBytes: 1<<20 - 8<<10, MaxInFlight: 2,
		RecentIDs: 1 << 12, PublishTimeout: 30 * time.Second, RetryWindow: 2 * time.Minute, PublishAttempts: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second writer (another node) stores the duplicates: the first one would recognise them.
	j2, err := journal.New(ctx, natstest.Connect(t, srv), journal.Config{MaxBatch: 4096, MaxSegmentBytes: 1<<20 - 8<<10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 512; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				w := j
				r := benchRecord(i)
				if i%1000 == 999 { // a duplicate of record i-1, stored by the other node
					r, w = benchRecord(i-1), j2
				}
				if err := w.Append(ctx, r); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		t.Fatal(err)
	}
	if err := j.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := j2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("generated %d records in %v (%.0f/s), stats %+v", n, el, float64(n)/el.Seconds(), j.Stats())
}

// TestSettleBenchServer is the NATS server process of TestSettleBenchRun (it starts this
// test binary again with envBenchServe set): it serves DIR/nats, prints its URL and runs
// until its stdin closes.
func TestSettleBenchServer(t *testing.T) {
	dir := os.Getenv(envBenchDir)
	if dir == "" || os.Getenv(envBenchServe) == "" {
		t.Skip("helper process of TestSettleBenchRun")
	}
	srv := benchServer(t, dir)
	fmt.Println("URL " + srv.ClientURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

const envBenchServe = "POSGATE_SETTLE_BENCH_SERVE"

// TestSettleBenchRun settles the generated journal. The NATS server runs in a child process
// so that VmHWM is the settling process's own (set POSGATE_SETTLE_BENCH_INPROCESS=1 to run
// it in process, as `posgate settle --data` does when no server is running).
func TestSettleBenchRun(t *testing.T) {
	dir := os.Getenv(envBenchDir)
	if dir == "" || os.Getenv(envBenchServe) != "" {
		t.Skip("set " + envBenchDir + " (after TestSettleBenchGenerate) to run the benchmark")
	}
	var nc *nats.Conn
	if os.Getenv("POSGATE_SETTLE_BENCH_INPROCESS") != "" {
		nc = natstest.Connect(t, benchServer(t, dir))
	} else {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSettleBenchServer$")
		cmd.Env = append(os.Environ(), envBenchServe+"=1")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
		sc := bufio.NewScanner(stdout)
		url := ""
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
				url = u
				break
			}
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		var err error
		if nc, err = nats.Connect(url); err != nil {
			t.Fatalf("connect %q: %v", url, err)
		}
		defer nc.Close()
	}
	ctx := context.Background()
	j, err := journal.New(ctx, nc, journal.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(ctx)
	var peakHeap atomic.Uint64
	stop := make(chan struct{})
	go func() { // sample the Go heap
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peakHeap.Load() {
				peakHeap.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	out := filepath.Join(dir, "out")
	s := newSettler(t, j, Config{TempDir: dir}, MerchantTable{}, nil)
	start := time.Now()
	rec, err := s.Run(ctx, benchDate, RunOptions{Out: out, Rerun: true})
	el := time.Since(start)
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	sum := rec.Summary
	t.Logf("settled %d records (%d duplicates, %d rows, %d merchants) in %v: %.0f records/s",
		sum.Records, sum.Duplicates, sum.Transactions, sum.Merchants, el, float64(sum.Records)/el.Seconds())
	t.Logf("gross %d refunds %d fees %d net %d", sum.GrossFen, sum.RefundsFen, sum.FeesFen, sum.NetFen)
	t.Logf("VmHWM %s (this process), Go heap objects peak %d MiB, GOMAXPROCS %d",
		vmHWM(), peakHeap.Load()>>20, runtime.GOMAXPROCS(0))
	for _, f := range sum.Files {
		t.Logf("%s: %d rows, %d bytes", f.Name, f.Rows, f.Bytes)
	}
}

func vmHWM() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
