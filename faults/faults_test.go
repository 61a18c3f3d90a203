package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/internal/proctest"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest"
	"github.com/posgate/posgate/reconcile"
	"github.com/posgate/posgate/routing/issuersim"
	"github.com/posgate/posgate/settlement"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// Load of one round: a small fleet, an exchange timeout short enough that a fault makes the
// terminals time out and reverse within the round.
const (
	roundTerminals = 6
	roundRate      = 25
	roundDuration  = 5 * time.Second
	roundTimeout   = 2 * time.Second
	// drainTimeout bounds the wait for the gateway's reversal queue to empty after a round.
	drainTimeout = 90 * time.Second
)

// routesYAML is the built-in routing table with a 3 s issuer timeout (longer than the
// terminals' 2 s: an unanswered request is reversed by the terminal and by the gateway) and a
// 2 s breaker cool-down, so a round ends seconds after its fault, not after the defaults' 8 s
// and 10 s.
const routesYAML = `default_route: cup
default_kind: debit
routes:
  - {name: cup, timeout: 3s, breaker_cooldown: 2s}
  - {name: visa, timeout: 3s, breaker_cooldown: 2s}
  - {name: onus, timeout: 3s, breaker_cooldown: 2s}
bins:
  - {prefix: "4", route: visa, kind: credit}
  - {from: "620000", to: "622999", route: cup, kind: debit}
  - {from: "623000", to: "623099", route: onus, kind: debit}
  - {from: "625000", to: "625999", route: cup, kind: credit}
  - {from: "628000", to: "628999", route: cup, kind: credit}
`

// nodeArgs are the flags every node of the suite gets, plus extra.
func nodeArgs(t *testing.T, extra ...string) []string {
	t.Helper()
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routes, []byte(routesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return append([]string{"--routes", routes}, extra...)
}

// suite is one topology under test and the books of every round run against it.
type suite struct {
	t     *testing.T
	bin   string
	node  *proctest.Node
	books []string // one terminal book per round
	rng   *rand.Rand
	cal   journal.Calendar
	rows  []row
	// target, when set, is where the round's terminals connect instead of the node (haproxy).
	target string
	// duration and faultWithin override a round's length (roundDuration) and the window of
	// its fault's moment (the first three quarters); zero keeps the defaults.
	duration, faultWithin time.Duration
}

// row is one line of the suite's table.
type row struct {
	round                                         string
	approved, settled, reversed, missing, doubled int64
}

func newSuite(t *testing.T, node *proctest.Node) *suite {
	seed := uint64(time.Now().UnixNano())
	t.Logf("fault suite seed %d (kill moments)", seed)
	return &suite{t: t, bin: proctest.Build(t), node: node, rng: rand.New(rand.NewPCG(seed, 1))}
}

func (s *suite) admin() *adminapi.Client {
	s.t.Helper()
	tok, err := admin.LoadToken(filepath.Join(s.node.DataDir, "admin.token"))
	if err != nil {
		s.t.Fatal(err)
	}
	return &adminapi.Client{BaseURL: "http://" + s.node.AdminAddr, Token: tok, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// signal closes once the load generator has started its traffic.
type signal struct {
	once sync.Once
	ch   chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (w *signal) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte("sending ")) {
		w.once.Do(func() { close(w.ch) })
	}
	w.mu.Unlock()
	return len(p), nil
}

// round runs the load generator for one round and, once its traffic has begun, fault at a
// random moment within it; then it waits until the gateway's reversal queue is empty and
// reconciles every business date the books touch.
func (s *suite) round(name string, fault func()) {
	s.t.Helper()
	books := filepath.Join(s.t.TempDir(), fmt.Sprintf("books-%d.csv", len(s.rows)+1))
	var buf bytes.Buffer
	progress := &signal{ch: make(chan struct{})}
	target := s.node.GatewayAddr
	if s.target != "" {
		target = s.target
	}
	duration, within := roundDuration, roundDuration*3/4
	if s.duration != 0 {
		duration, within = s.duration, s.faultWithin
	}
	r, err := loadtest.New(loadtest.Config{
		Target: target, Admin: s.admin(), Terminals: roundTerminals, Rate: roundRate,
		Duration: duration, Timeout: roundTimeout, Books: &buf, Progress: progress,
		Seed: s.rng.Uint64() | 1,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx)
		done <- err
	}()
	select {
	case <-progress.ch:
	case err := <-done:
		s.t.Fatalf("%s: the load generator ended before its traffic: %v\n%s", name, err, progress.buf.String())
	}
	if fault != nil {
		time.Sleep(time.Duration(s.rng.Int64N(int64(within))))
		fault()
	}
	if err := <-done; err != nil {
		s.t.Fatalf("%s: load generator: %v", name, err)
	}
	if err := os.WriteFile(books, buf.Bytes(), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.books = append(s.books, books)
	s.awaitDrained(name)
	s.reconcile(name)
}

// awaitDrained waits until the gateway has finished every transaction (one still waiting for
// its issuer — up to the route's 8 s timeout — ends in a reversal) and delivered every
// reversal it owes the issuer.
func (s *suite) awaitDrained(name string) {
	s.t.Helper()
	c := s.admin()
	deadline := time.Now().Add(drainTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.Stats(ctx)
		cancel()
		if err == nil && st.InFlight == 0 && st.Reversals.Depth == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: reversal queue not drained within %v (stats %+v, %v)", name, drainTimeout, st.Reversals, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reconcile runs `posgate reconcile --json` for every business date of the books so far and
// fails the round on any difference; it adds the round's row to the table.
func (s *suite) reconcile(name string) {
	s.t.Helper()
	dates := s.dates()
	var sum row
	sum.round = name
	for d := range dates {
		date := fmt.Sprintf("%04d-%02d-%02d", d.Year(), d.Month(), d.Day())
		cmd := exec.Command(s.bin, "reconcile", "--date", date, "--nats", s.node.NATSURL, "--books", strings.Join(s.books, ","), "--json")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var rep reconcile.Report
		if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
			s.t.Fatalf("%s: posgate reconcile --date %s: %v (%v)\nstderr: %s", name, date, err, jerr, stderr.String())
		}
		text := exec.Command(s.bin, "reconcile", "--date", date, "--nats", s.node.NATSURL, "--books", strings.Join(s.books, ","))
		out, _ := text.CombinedOutput()
		if err != nil || !rep.Clean {
			s.t.Errorf("%s: posgate reconcile --date %s found differences (%v):\n%s", name, date, err, out)
		} else {
			s.t.Logf("%s: posgate reconcile --date %s:\n%s", name, date, out)
		}
		if rep.Terminals != nil {
			sum.approved += rep.Terminals.Matched.Count + rep.Terminals.MissingAtAcquirer.Count + rep.Terminals.AmountMismatch.Count
			sum.missing += rep.Terminals.MissingAtAcquirer.Count + rep.Terminals.MissingAtTerminal.Count + rep.Terminals.ReversedOneSide.Count
		}
		s.settleMatches(name, d, rep.IssuerNet.Net)
		sum.settled += rep.Issuer.Matched.Count
		sum.reversed += rep.Issuer.ReversedBoth.Count
		sum.missing += rep.Issuer.MissingAtIssuer.Count + rep.Issuer.MissingAtAcquirer.Count + rep.Issuer.ReversedOneSide.Count +
			rep.Issuer.AmountMismatch.Count
		sum.missing += rep.OpenIntents.Count
		sum.doubled += rep.Doubled.Count
	}
	s.rows = append(s.rows, sum)
}

// dates are the business dates of today and of every book entry so far.
func (s *suite) dates() map[journal.Date]bool {
	s.t.Helper()
	dates := map[journal.Date]bool{s.cal.BusinessDate(time.Now()): true}
	for _, f := range s.books {
		b, err := os.ReadFile(f)
		if err != nil {
			s.t.Fatal(err)
		}
		entries, err := reconcile.ReadBooks(bytes.NewReader(b))
		if err != nil {
			s.t.Fatal(err)
		}
		for _, e := range entries {
			dates[s.cal.BusinessDate(e.Time)] = true
		}
	}
	return dates
}

// settleMatches runs the date's settlement (provisional, in a scratch directory) over the
// node's journal and checks that what it pays — gross − refunds — is the issuer's net.
func (s *suite) settleMatches(name string, d journal.Date, issuerNet int64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := nats.Connect(s.node.NATSURL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	j, err := journal.New(ctx, nc, journal.Config{}, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = j.Close(ctx) }()
	settler, err := settlement.New(settlement.Config{}, j, settlement.MerchantTable{}, &settlement.MemRuns{}, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	run, err := settler.Run(ctx, d, settlement.RunOptions{Out: s.t.TempDir(), AllowOpen: true})
	if err != nil {
		s.t.Fatalf("%s: settle %s: %v", name, d, err)
	}
	if got := run.Summary.GrossFen - run.Summary.RefundsFen; got != issuerNet {
		s.t.Errorf("%s: settlement of %s pays gross − refunds = %d fen, the issuer's net is %d", name, d, got, issuerNet)
	}
}

// table logs the suite's table: cumulative per round, as reconcile sees the whole date.
func (s *suite) table() {
	var b strings.Builder
	fmt.Fprintf(&b, "%-34s %9s %9s %9s %8s %8s\n", "round (cumulative)", "approved", "settled", "reversed", "missing", "doubled")
	for _, r := range s.rows {
		fmt.Fprintf(&b, "%-34s %9d %9d %9d %8d %8d\n", r.round, r.approved, r.settled, r.reversed, r.missing, r.doubled)
	}
	s.t.Logf("fault suite table:\n%s", b.String())
}

// TestGatewayFaults: the embedded default (NATS, journal, state and the issuer simulator with
// its durable ledger all inside the node) killed with SIGKILL at random moments under load,
// five times, then stopped with SIGTERM; after each round the three sets of books agree.
func TestGatewayFaults(t *testing.T) {
	// The in-process simulator answers after 150 ms and drops 2 % of its answers, so a kill
	// always finds requests in flight and every round has timeouts and reversals.
	conf := writeConf(t, "sim_latency: 150ms\nsim_drop: 0.02\n")
	node := proctest.StartNode(t, proctest.NodeConfig{Simulator: true, Args: nodeArgs(t, "--checkpoint-interval", "1s", "--config", conf)})
	s := newSuite(t, node)
	defer s.table()
	s.round("no fault", nil)
	for i := 1; i <= 5; i++ {
		s.round("kill -9 gateway #"+strconv.Itoa(i), func() {
			node.Kill()
			node.Restart(t)
		})
		if t.Failed() {
			return
		}
	}
	s.round("SIGTERM gateway", func() {
		if err := node.Stop(); err != nil {
			t.Error(err)
		}
		node.Restart(t)
	})
}

// TestIssuerFaults: the simulator is a child process of its own (posgate issuer-sim, ledger in
// the node's embedded JetStream), killed with SIGKILL under load and started again; the gateway
// times out, reverses, and delivers the reversals once the issuer is back.
func TestIssuerFaults(t *testing.T) {
	node := proctest.StartNode(t, proctest.NodeConfig{Args: nodeArgs(t)})
	s := newSuite(t, node)
	defer s.table()
	sim, ready := startSim(t, s.bin, node.NATSURL, node.DataDir)
	s.round("no fault", nil)
	for i := 1; i <= 2; i++ {
		s.round("kill -9 issuer-sim #"+strconv.Itoa(i), func() {
			sim.Kill()
			time.Sleep(time.Second) // requests meanwhile go unanswered
			sim.Restart(ready)
		})
	}
}

// TestNATSFaults: the production topology's NATS — an external nats-server (sync_interval:
// always) holding the journal, the state streams and the simulator's ledger — killed with
// SIGKILL under load and restarted on its store; the gateway and the simulator reconnect.
func TestNATSFaults(t *testing.T) {
	url, ns, ready := startNATSProcess(t)
	node := proctest.StartNode(t, proctest.NodeConfig{NATS: url, Args: nodeArgs(t)})
	s := newSuite(t, node)
	defer s.table()
	startSim(t, s.bin, url, node.DataDir)
	s.round("no fault", nil)
	s.round("kill -9 nats-server", func() {
		ns.Kill()
		time.Sleep(500 * time.Millisecond)
		ns.Restart(ready)
	})
}

// startNATSProcess starts a nats-server built from go.mod's module, JetStream on with
// sync_interval: always, on a fixed loopback port.
func startNATSProcess(t *testing.T) (url string, p *proctest.Process, ready func() error) {
	t.Helper()
	natsBin := proctest.BuildNATSServer(t)
	port := proctest.FreePorts(t, 1)[0]
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listen: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n",
		port, filepath.Join(dir, "js")), 0o600); err != nil {
		t.Fatal(err)
	}
	ready = func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
	p = proctest.StartProcess(t, "nats-server", natsBin, ready, "-c", conf)
	return "nats://127.0.0.1:" + strconv.Itoa(port), p, ready
}

func startNATS(t *testing.T) string {
	url, _, _ := startNATSProcess(t)
	return url
}

func writeConf(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// posgate runs a posgate command and fails the test unless it exits 0.
func (s *suite) posgate(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(s.bin, args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("posgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// awaitNotReady waits until /readyz answers 503 and the stats give a reason containing want.
func (s *suite) awaitNotReady(want string) string {
	s.t.Helper()
	c := s.admin()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rerr := c.Ready(ctx)
		st, err := c.Stats(ctx)
		cancel()
		if rerr != nil && err == nil && strings.Contains(st.NotReady, want) {
			return st.NotReady
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("node not reported not-ready (%q) within 30 s: readyz %v, stats %q", want, rerr, st.NotReady)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitReady waits until /readyz answers 200.
func (s *suite) awaitReady(when string) {
	s.t.Helper()
	c := s.admin()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Ready(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: node not ready within 30 s: %v", when, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric returns the value of an unlabelled metric on /metrics ("" when absent).
func (s *suite) metric(name string) string {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.node.AdminAddr+"/metrics", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.admin().Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// startSim starts `posgate issuer-sim` against url, with the node's zone PIN key, and waits
// until it answers ledger queries.
func startSim(t *testing.T, bin, url, dataDir string, extra ...string) (*proctest.Process, func() error) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ready := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := issuersim.QueryLedgers(ctx, nc, "", 1)
		return err
	}
	args := append([]string{"issuer-sim", "--nats", url, "--instance", "faults",
		"--zpk-file", filepath.Join(dataDir, "zpk.hex"), "--latency-min", "20ms", "--latency-max", "300ms", "--drop", "0.02"}, extra...)
	sim := proctest.StartProcess(t, "issuer-sim", bin, ready, args...)
	return sim, ready
}

// redisTopology starts nats-server, redis-server (args added to its command line), the node on
// both (shared LMK and token key, as production requires) and an issuer-sim.
func redisTopology(t *testing.T, redisArgs ...string) (*suite, *proctest.Process, string) {
	t.Helper()
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not on PATH and CI is set")
		}
		t.Skip("redis-server not on PATH")
	}
	url := startNATS(t)
	redis, redisURL := startRedis(t, redisBin, redisArgs...)
	lmk, token := sharedSecrets(t)
	node := proctest.StartNode(t, proctest.NodeConfig{NATS: url, Args: nodeArgs(t, "--redis", redisURL, "--lmk-file", lmk,
		"--token-key-file", token, "--config", writeConf(t, "redis_check_interval: 200ms\n"))})
	s := newSuite(t, node)
	startSim(t, s.bin, url, node.DataDir)
	return s, redis, redisURL
}

// startRedis starts redis-server on a free loopback port with args added and returns it and its
// URL.
func startRedis(t *testing.T, bin string, args ...string) (*proctest.Process, string) {
	t.Helper()
	port := proctest.FreePorts(t, 1)[0]
	addr := "127.0.0.1:" + strconv.Itoa(port)
	all := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(), "--save", "",
		"--daemonize", "no", "--protected-mode", "yes"}, args...)
	p := proctest.StartProcess(t, "redis-server", bin, func() error { return redistest.Ping(addr) }, all...)
	return p, "redis://" + addr + "/0"
}

// sharedSecrets writes the LMK and PAN token key files every node of a Redis topology shares.
func sharedSecrets(t *testing.T) (lmk, token string) {
	t.Helper()
	dir := t.TempDir()
	lmk, token = filepath.Join(dir, "lmk.hex"), filepath.Join(dir, "token.key")
	if err := os.WriteFile(lmk, []byte(strings.Repeat("4c", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte(strings.Repeat("7a", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	return lmk, token
}

// TestRedisFaults: Redis with an append-only file fsynced on every write, stopped with SIGSTOP
// under load and then killed with SIGKILL and restarted; the registry survives both and the
// books agree after each round.
func TestRedisFaults(t *testing.T) {
	s, redis, _ := redisTopology(t, "--appendonly", "yes", "--appendfsync", "always")
	defer s.table()
	s.round("no fault", nil)
	s.round("SIGSTOP redis 2 s", func() {
		redis.Signal(syscall.SIGSTOP)
		time.Sleep(2 * time.Second)
		redis.Signal(syscall.SIGCONT)
	})
	s.round("kill -9 redis (AOF always)", func() {
		redis.Kill()
		redis.Restart(nil)
	})
	s.awaitReady("after the AOF restart")
}

// TestRedisWipe: Redis without persistence killed and restarted empty. The node notices the
// registry's epoch marker is gone and turns not-ready (readyz 503, the reason in the stats the
// dashboard shows, posgate_redis_registry_lost 1); `posgate registry import` of the backup
// brings it back, and the books of every round still agree.
func TestRedisWipe(t *testing.T) {
	s, redis, redisURL := redisTopology(t)
	defer s.table()
	s.round("no fault", nil)
	backup := filepath.Join(t.TempDir(), "registry.jsonl")
	s.posgate("registry", "export", "--redis", redisURL, "--out", backup)
	s.round("kill -9 redis, no persistence", func() {
		redis.Kill()
		redis.Restart(nil)
	})
	reason := s.awaitNotReady("lost the registry")
	t.Logf("node not ready after the wipe: %s", reason)
	if m := s.metric("posgate_redis_registry_lost"); m != "1" {
		t.Errorf("posgate_redis_registry_lost = %q, want 1", m)
	}
	s.posgate("registry", "import", "--redis", redisURL, "--in", backup)
	s.awaitReady("after the import")
	s.round("after registry import", nil)
}
