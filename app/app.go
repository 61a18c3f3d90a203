// Package app assembles one posgate node from its configuration: the embedded default (an
// in-process NATS server with JetStream, the in-memory registry with its snapshot, the
// in-process issuer simulator, secrets generated into the data directory) or production (NATS
// and Redis at given addresses, secrets from files). `posgate serve` and the end-to-end tests
// run the same assembly.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/admin/natsstore"
	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/gateway/checkpoint"
	"github.com/posgate/posgate/gateway/memstate"
	"github.com/posgate/posgate/gateway/redisstate"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/internal/natsconn"
	"github.com/posgate/posgate/internal/redisconn"
	"github.com/posgate/posgate/internal/securefile"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/routing"
	"github.com/posgate/posgate/routing/issuersim"
	"github.com/posgate/posgate/routing/redisstan"
	"github.com/posgate/posgate/terminal"
	"github.com/posgate/posgate/terminal/memstore"
	"github.com/posgate/posgate/terminal/redisstore"
)

// Config of a node. Zero values take the defaults; only cmd/ reads flags, files and the
// environment to fill it.
type Config struct {
	// Listen is the terminal listener. Default ":8583".
	Listen string
	// TLSListen, with TLSCert and TLSKey (PEM files), adds a terminal listener over TLS
	// (TLS 1.2 or later); the plain one stays for older devices.
	TLSListen, TLSCert, TLSKey string
	// DataDir holds the embedded NATS data, the registry snapshot and the generated secrets.
	// Default "./data". Created with mode 0700.
	DataDir string
	// NATS is the NATS server URL; "" starts the embedded one on a loopback port (written to
	// DataDir/nats.url).
	NATS string
	// NATSClient secures the connection to NATS: TLS and credentials (docs/security.md).
	NATSClient natsconn.Config
	// NATSListen is the embedded NATS server's "host:port"; "" (or port 0) picks a random
	// loopback port. The host must be loopback (natsembed.Config.Validate: the embedded server
	// has no authentication); an empty host is 127.0.0.1. A fixed port lets another process
	// (an issuer simulator, a crash test) reach the same server across restarts. Ignored with NATS.
	NATSListen string
	// Redis is the Redis URL for the registry and the gateway state; "" keeps both in memory
	// (the registry with a snapshot file in DataDir).
	Redis string
	// RoutesFile is the routing table (YAML); "" uses the built-in table.
	RoutesFile string
	// Simulator runs the issuer simulator in process. The embedded default turns it on.
	Simulator bool
	// NoSimulator keeps the issuer simulator off even with the embedded NATS server (which
	// otherwise forces Simulator on): every route then has no responder and authorizations
	// are answered 91. For tests of an absent issuer.
	NoSimulator bool
	// SimLatency and SimDrop configure the in-process simulator.
	SimLatency time.Duration
	SimDrop    float64
	// SimMemoryLedger keeps the in-process simulator's ledger in memory only (benchmarks that
	// measure the gateway without the issuer's own durable writes); by default it is stored in
	// the stream issuersim.DefaultLedgerStream, which posgate reconcile reads.
	SimMemoryLedger bool
	// LMK is the local master key; zero loads or creates DataDir/lmk.hex.
	LMK hsm.LMK
	// TokenKey keys PAN tokens (32 bytes); nil loads or creates DataDir/token.key.
	TokenKey []byte
	// ZPK is each route's clear zone PIN key (16 bytes); nil loads or creates DataDir/zpk.hex,
	// one development key for every route (shared with the in-process simulator).
	ZPK map[string][]byte
	// Gateway are the terminal server's limits (Listen is taken from above).
	Gateway gateway.Config
	// Processor settings: NodeID, limits, timeouts (TokenKey and ZPK are filled from above).
	// Its clock (Now), when set, also clocks the terminal registry.
	Processor gateway.ProcessorConfig
	// JournalReplicas is the replica count of every stream and bucket the node creates — the
	// journal, the reversal queue and its log, settlement run records, admin tokens and audit
	// trail (3 in a cluster; YAML journal_replicas). Default 1.
	JournalReplicas int
	// AdminListen is the admin API's address (dashboard, JSON API, /metrics, probes); "" runs
	// no admin listener. posgate serve defaults it to "127.0.0.1:8080"; a non-loopback address
	// needs AdminTLSCert/AdminTLSKey or AdminPlaintext (admin.Config).
	AdminListen string
	// AdminTLSCert and AdminTLSKey serve the admin API over HTTPS (PEM files).
	AdminTLSCert, AdminTLSKey string
	// AdminPlaintext allows plain HTTP on a non-loopback AdminListen.
	AdminPlaintext bool
	// AdminToken is the admin API's bearer token; "" loads or creates DataDir/admin.token.
	AdminToken string
	// DemoTerminals seeds an empty in-memory registry with one demo merchant and this many
	// terminals, their activation codes in DataDir/demo-terminals.csv (embedded default only;
	// posgate serve seeds 10). 0: none.
	DemoTerminals int
	// Settlement configures the automatic T+1 settlement (settle.go).
	Settlement SettlementConfig
	// RecoverDays is how many business dates, today's included, a starting node replays from
	// the journal before its listener opens: the in-memory state of the embedded default is
	// rebuilt from them, and this node's open write-ahead intents in them are reversed.
	// Default DefaultRecoverDays; originals older than that are unknown after a restart
	// (their refunds and voids get 25), as they are once evicted from memory.
	RecoverDays int
	// CheckpointInterval is how often the node saves its replay of the journal to
	// DataDir/checkpoint-node<N>.bin, so that a restart replays only what followed
	// (gateway/checkpoint, docs/gateway.md "Checkpoints"). Default
	// checkpoint.DefaultInterval; negative: no checkpoints (a restart replays whole days).
	CheckpointInterval time.Duration
	// RedisCheckInterval is how often, with Redis, the node checks that Redis answers and still
	// holds the registry's epoch marker (not-ready otherwise). Default DefaultRedisCheckInterval.
	RedisCheckInterval time.Duration
	// NodeLease is how long, with Redis (a cluster), this node's lease lasts unrenewed: another
	// node adopts the open intents of a node whose lease ran out (lease.go). Default
	// DefaultNodeLease.
	NodeLease time.Duration
	// RegistryCache is how long, with Redis, a node serves a terminal from memory instead of
	// reading Redis for every message; every change made through a node reaches every live
	// node before it returns (docs/deploy.md). 0 reads Redis every time.
	RegistryCache time.Duration
}

// Defaults.
const (
	DefaultListen      = ":8583"
	DefaultDataDir     = "./data"
	DefaultRecoverDays = 2
)

// Node is one running posgate node.
type Node struct {
	cfg Config
	log *zap.Logger

	// Registry, HSM, State, Journal … are exposed for the admin API and tests.
	Registry  terminal.Store
	HSM       *hsm.Software
	State     gateway.State
	Journal   *journal.Journal
	Routing   *routing.Client
	Forwarder *routing.Forwarder
	Simulator *issuersim.Simulator
	Processor *gateway.Processor
	// Checkpoints saves the replay of the journal in the background (nil when disabled).
	Checkpoints *checkpoint.Writer
	Gateway     *gateway.Server
	Admin       *admin.Server
	Metrics     *prometheus.Registry

	settle *settleLoop         // settle.go
	stan   *routing.MemorySTAN // the embedded default's STAN source (nil with Redis)
	mem    *memstate.State     // the embedded default's State (nil with Redis)
	epoch  *epochWatch         // Redis mode: is the registry still there? (nil without Redis)
	lease  *nodeLease          // Redis mode: the node's cluster lease (nil without Redis)
	// Redis mode with a registry cache: the cache and the invalidations it sends.
	regCache *terminal.Cache
	regPeers *registryPeers
	// Recovery is what the start-up replay of the journal found and did.
	Recovery gateway.RecoveryStats
	// Checkpoint is the checkpoint the start-up replay continued from (nil: none).
	Checkpoint *checkpoint.Checkpoint
	started    time.Time
	nats       *natsembed.Server
	nc         *nats.Conn
	rdb        *redis.Client
	closers    []func(context.Context) error // in reverse start order
	mu         sync.Mutex
	shutdown   bool
}

// Start assembles and starts a node. On error everything started so far is stopped.
func Start(ctx context.Context, cfg Config, log *zap.Logger) (n *Node, err error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.RedisCheckInterval <= 0 {
		cfg.RedisCheckInterval = DefaultRedisCheckInterval
	}
	if cfg.NATS == "" {
		cfg.Simulator = true
	}
	if cfg.NoSimulator {
		cfg.Simulator = false
	}
	node := &Node{cfg: cfg, log: log, Metrics: prometheus.NewRegistry(), started: time.Now().UTC()}
	n = node
	defer func() {
		if err != nil { // n is nil by now: stop what was started through node
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = node.Shutdown(sctx)
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := n.startSecrets(); err != nil {
		return nil, err
	}
	if err := n.startNATS(ctx); err != nil {
		return nil, err
	}
	if err := n.startStores(ctx); err != nil {
		return nil, err
	}
	if err := n.startUpstream(ctx); err != nil {
		return nil, err
	}
	if cfg.Redis == "" {
		if err := n.seedDemo(ctx, cfg.DemoTerminals); err != nil {
			return nil, fmt.Errorf("demo terminals: %w", err)
		}
	}
	if err := n.startGateway(ctx); err != nil {
		return nil, err
	}
	if err := n.startSettlement(ctx); err != nil {
		return nil, err
	}
	if err := n.startAdmin(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Node) startAdmin(ctx context.Context) error {
	if n.cfg.AdminListen == "" {
		return nil
	}
	tok := n.cfg.AdminToken
	if tok == "" {
		path := filepath.Join(n.cfg.DataDir, "admin.token")
		var created bool
		var err error
		if tok, created, err = admin.LoadOrCreateToken(path); err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		if created {
			n.log.Info("generated the admin API token", zap.String("file", path))
		}
	}
	n.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newNodeCollector(n))
	node := fmt.Sprintf("node%d", n.cfg.Processor.NodeID)
	tokens, err := natsstore.OpenTokens(ctx, n.nc, "", n.cfg.JournalReplicas)
	if err != nil {
		return fmt.Errorf("admin tokens: %w", err)
	}
	n.onShutdown(func(context.Context) error { return tokens.Close() })
	audit, err := natsstore.OpenAudit(ctx, n.nc, "", n.cfg.JournalReplicas, node)
	if err != nil {
		return fmt.Errorf("admin audit trail: %w", err)
	}
	srv, err := admin.New(admin.Config{Addr: n.cfg.AdminListen, Token: tok, Ready: n.ready, Gatherer: n.Metrics,
		TLSCertFile: n.cfg.AdminTLSCert, TLSKeyFile: n.cfg.AdminTLSKey, Plaintext: n.cfg.AdminPlaintext,
		Tokens: tokens, Audit: audit, Node: node,
		Settlement: n.settle, Stats: n.stats, Reversals: n.reversalsAPI()},
		n.Registry, n.HSM, n.log)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("admin listener %s: %w", n.cfg.AdminListen, err)
	}
	n.Admin = srv
	n.onShutdown(srv.Shutdown)
	return nil
}

// ready is the readiness probe: NATS connected and the gateway accepting.
func (n *Node) ready(context.Context) error {
	if n.nc == nil || !n.nc.IsConnected() {
		return errors.New("NATS not connected")
	}
	if n.Gateway == nil || n.Gateway.Addr() == nil {
		return errors.New("terminal listener not started")
	}
	if n.epoch != nil {
		if problem, _ := n.epoch.status(); problem != "" {
			return errors.New(problem)
		}
	}
	if n.lease != nil {
		if _, ok := n.lease.Hold(); !ok {
			return errors.New("node lease not held (NATS unreachable for longer than the lease, or taken)")
		}
	}
	return nil
}

// Ready is the node's readiness (/readyz): nil when it serves.
func (n *Node) Ready(ctx context.Context) error { return n.ready(ctx) }

// AdminAddr is the admin listener's address (nil when there is none).
func (n *Node) AdminAddr() net.Addr {
	if n.Admin == nil {
		return nil
	}
	return n.Admin.Addr()
}

func (n *Node) onShutdown(f func(context.Context) error) { n.closers = append(n.closers, f) }

func (n *Node) startSecrets() error {
	cfg := &n.cfg
	if cfg.LMK.IsZero() {
		lmk, created, err := hsm.LoadOrCreateLMK(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("LMK: %w", err)
		}
		if created {
			n.log.Warn("generated a new LMK for the embedded default; back it up like a key",
				zap.String("file", filepath.Join(cfg.DataDir, "lmk.hex")))
		}
		cfg.LMK = lmk
	}
	sw, err := hsm.NewSoftware(hsm.Config{LMK: cfg.LMK})
	if err != nil {
		return fmt.Errorf("security module: %w", err)
	}
	n.HSM = sw
	if cfg.TokenKey == nil {
		if cfg.TokenKey, err = loadOrCreateSecret(filepath.Join(cfg.DataDir, "token.key"), 32); err != nil {
			return fmt.Errorf("PAN token key: %w", err)
		}
	}
	if cfg.ZPK == nil {
		zpk, err := loadOrCreateSecret(filepath.Join(cfg.DataDir, "zpk.hex"), 16)
		if err != nil {
			return fmt.Errorf("zone PIN key: %w", err)
		}
		cfg.ZPK = map[string][]byte{"*": zpk}
	}
	return nil
}

func (n *Node) startNATS(ctx context.Context) error {
	url := n.cfg.NATS
	if url == "" {
		ec := natsembed.Config{DataDir: filepath.Join(n.cfg.DataDir, "nats")}
		if n.cfg.NATSListen != "" {
			host, port, err := net.SplitHostPort(n.cfg.NATSListen)
			if err != nil {
				return fmt.Errorf("embedded NATS listen address: %w", err)
			}
			if ec.Port, err = net.LookupPort("tcp", port); err != nil {
				return fmt.Errorf("embedded NATS listen address: %w", err)
			}
			ec.Host = host
		}
		if err := ec.Validate(); err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		// nats-server only logs a failed listen, and natsembed.Start then waits out its ready
		// timeout and says "not ready". Binding the fixed address first turns a taken port
		// into an immediate "listen tcp …: address already in use".
		tryListen := func() error {
			if ec.Port == 0 {
				return nil
			}
			host := ec.Host
			if host == "" {
				host = natsembed.DefaultHost
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(ec.Port)))
			if err != nil {
				return err
			}
			return ln.Close()
		}
		if err := tryListen(); err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		srv, err := natsembed.Start(ctx, ec, n.log)
		if err != nil {
			if lerr := tryListen(); lerr != nil { // taken in between
				err = lerr
			}
			return fmt.Errorf("embedded NATS: %w", err)
		}
		n.nats = srv
		n.onShutdown(srv.Shutdown)
		url = srv.ClientURL()
		if err := securefile.Replace(filepath.Join(n.cfg.DataDir, "nats.url"), []byte(url+"\n"), 0o600); err != nil {
			return err
		}
	}
	client := natsconn.Config{}
	opts := []nats.Option{nats.Name("posgate"), nats.MaxReconnects(-1)}
	if n.cfg.NATS != "" {
		client = n.cfg.NATSClient // the embedded server on loopback takes no credentials
	} else {
		// The embedded server is in this process: connect to it through memory, not through
		// loopback TCP (no socket syscalls per message in either direction).
		opts = append(opts, nats.InProcessServer(n.nats.NATSServer()))
	}
	nc, err := natsconn.Connect(url, client, opts...)
	if err != nil {
		return err
	}
	n.nc = nc
	n.onShutdown(func(context.Context) error { return nc.Drain() })
	return nil
}

func (n *Node) startStores(ctx context.Context) error {
	if n.cfg.Redis != "" {
		// One client (one connection pool) serves the registry and the gateway state.
		rdb, err := redisconn.New(redisconn.Config{URL: n.cfg.Redis, DialTimeout: 5 * time.Second,
			ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second})
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		n.rdb = rdb
		n.onShutdown(func(context.Context) error { return rdb.Close() })
		reg, err := redisstore.NewWithClient(rdb, redisstore.Config{Now: n.cfg.Processor.Now})
		if err != nil {
			return fmt.Errorf("registry (Redis): %w", err)
		}
		n.Registry = reg
		n.epoch = newEpochWatch(reg, n.cfg.DataDir, n.log)
		if err := n.epoch.start(ctx); err != nil {
			return err
		}
		wctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); n.epoch.run(wctx, n.cfg.RedisCheckInterval) }()
		n.onShutdown(func(context.Context) error { stop(); <-done; return nil })
		st, err := redisstate.NewWithClient(rdb, redisstate.Config{})
		if err != nil {
			return fmt.Errorf("gateway state (Redis): %w", err)
		}
		n.State = st
		return nil
	}
	reg, err := memstore.Open(memstore.Config{Path: filepath.Join(n.cfg.DataDir, "registry.json"), Now: n.cfg.Processor.Now}, n.log)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	n.Registry = reg
	n.onShutdown(func(context.Context) error { return reg.Close() })
	st, err := memstate.New(memstateConfig)
	if err != nil {
		return fmt.Errorf("gateway state: %w", err)
	}
	n.mem, n.State = st, st
	n.onShutdown(func(context.Context) error { n.mem.Close(); return nil })
	return nil
}

// memstateConfig is the embedded default's State; checkpoints replay into shadows like it.
var memstateConfig = memstate.Config{}

func (n *Node) startUpstream(ctx context.Context) error {
	table := routing.DefaultTable()
	if n.cfg.RoutesFile != "" {
		data, err := os.ReadFile(n.cfg.RoutesFile)
		if err != nil {
			return fmt.Errorf("routes: %w", err)
		}
		if table, err = routing.ParseTable(data); err != nil {
			return fmt.Errorf("routes %s: %w", n.cfg.RoutesFile, err)
		}
	}
	j, err := journal.New(ctx, n.nc, journal.Config{Replicas: n.cfg.JournalReplicas}, n.log)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	n.Journal = j
	n.onShutdown(j.Close)
	rc := routing.Config{Table: table}
	if n.rdb != nil {
		rc.STAN = redisstan.New(n.rdb, "") // unique per route per day across every node
	} else {
		n.stan = routing.NewMemorySTAN()
		rc.STAN = n.stan
	}
	client, err := routing.New(n.nc, rc, n.log)
	if err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	n.Routing = client
	fw, err := routing.NewForwarder(ctx, client, routing.ForwarderConfig{Replicas: n.cfg.JournalReplicas}, n.log)
	if err != nil {
		return fmt.Errorf("reversal queue: %w", err)
	}
	n.Forwarder = fw
	fw.Start()
	n.onShutdown(fw.Shutdown)
	if n.cfg.Simulator {
		// The ledger lives in the embedded server's JetStream, next to the journal: it survives
		// restarts of the node, and posgate reconcile reads it as the issuer's side.
		cfg := issuersim.Config{ZPK: n.zpkFor("*"), Latency: n.cfg.SimLatency, DropRate: n.cfg.SimDrop,
			LedgerStream: issuersim.DefaultLedgerStream}
		if n.cfg.SimMemoryLedger {
			cfg.LedgerStream = ""
		}
		sim, err := issuersim.New(n.nc, cfg, n.log)
		if err != nil {
			return fmt.Errorf("issuer simulator: %w", err)
		}
		if err := sim.Start(); err != nil {
			return fmt.Errorf("issuer simulator: %w", err)
		}
		n.Simulator = sim
		n.onShutdown(sim.Shutdown)
	}
	return nil
}

func (n *Node) zpkFor(route string) []byte {
	if k, ok := n.cfg.ZPK[route]; ok {
		return k
	}
	return n.cfg.ZPK["*"]
}

func (n *Node) startGateway(ctx context.Context) error {
	pc := n.cfg.Processor
	pc.TokenKey = n.cfg.TokenKey
	pc.ZPK = map[string]hsm.WrappedKey{}
	for _, r := range n.Routing.Table().Routes() {
		clear := n.zpkFor(r.Name)
		if clear == nil {
			continue
		}
		wk, err := n.HSM.ImportKey(hsm.KeyZPK, clear)
		if err != nil {
			return fmt.Errorf("zone PIN key of route %s: %w", r.Name, err)
		}
		pc.ZPK[r.Name] = wk
	}
	ck, err := n.loadCheckpoint(ctx)
	if err != nil {
		return err
	}
	metrics := gateway.NewMetrics(n.Metrics)
	deps := gateway.Deps{Registry: n.Registry, HSM: n.HSM, Upstream: n.Routing,
		Reversals: n.Forwarder, Journal: n.Journal, State: n.State}
	if n.rdb != nil {
		ttl := n.cfg.NodeLease
		if ttl <= 0 {
			ttl = DefaultNodeLease
		}
		l, err := openNodeLease(ctx, n.nc, n.cfg.JournalReplicas, pc.NodeID, ttl, n.adoptIntents, n.log)
		if err != nil {
			return err
		}
		n.lease, deps.Lease = l, l
		if ttl := n.cfg.RegistryCache; ttl > 0 {
			cache, err := n.startRegistryCache(ttl)
			if err != nil {
				return err
			}
			n.Registry, deps.Registry = cache, cache
		}
	}
	proc, err := gateway.NewProcessor(pc, deps, metrics, n.log)
	if err != nil {
		return err
	}
	n.Processor = proc
	if n.lease != nil {
		if err := n.lease.start(ctx); err != nil {
			return err
		}
		n.onShutdown(n.lease.close)
	}
	if err := n.recover(ctx, ck); err != nil {
		return err
	}
	if err := n.startCheckpoints(); err != nil {
		return err
	}
	gc := n.cfg.Gateway
	gc.Listen = n.cfg.Listen
	if n.cfg.TLSListen != "" {
		cert, err := tls.LoadX509KeyPair(n.cfg.TLSCert, n.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("terminal TLS certificate: %w", err)
		}
		gc.TLSListen, gc.TLS = n.cfg.TLSListen, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	srv, err := gateway.New(gc, proc, n.log)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("terminal listener %s: %w", gc.Listen, err)
	}
	n.Gateway = srv
	n.onShutdown(srv.Shutdown)
	return nil
}

// recover replays the journal before the listener opens (docs/gateway.md, "Crash safety"):
// the embedded default rebuilds its in-memory state, every node reverses its own open intents.
// With a checkpoint (loaded already) only the records journaled after it are replayed.
func (n *Node) recover(ctx context.Context, ck *checkpoint.Checkpoint) error {
	r, src := ck.Recovery(n.Journal, n.recoverDates(time.Now()), n.mem != nil)
	st, err := n.Processor.Recover(ctx, src, r)
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	if n.stan != nil {
		now := time.Now()
		for route, last := range st.LastSTAN {
			n.stan.Advance(route, now, last)
		}
	}
	n.Recovery, n.Checkpoint = st, ck
	return nil
}

// adoptIntents adopts the open intents of node, whose lease ran out, from what the journal
// stored since (nodeLease.claim): the number reversed.
func (n *Node) adoptIntents(ctx context.Context, node int, since time.Time) (int, error) {
	st, err := n.Processor.Adopt(ctx, sinceSource{n.Journal, since}, n.recoverDates(time.Now()), node)
	return st.Reversed, err
}

// recoverDates are the business dates a replay at now covers (Config.RecoverDays), oldest first.
func (n *Node) recoverDates(now time.Time) []journal.Date {
	days := n.cfg.RecoverDays
	if days <= 0 {
		days = DefaultRecoverDays
	}
	today := n.cfg.Processor.Calendar.BusinessDate(now)
	dates := make([]journal.Date, 0, days)
	for i := days - 1; i >= 0; i-- {
		dates = append(dates, today.AddDays(-i))
	}
	return dates
}

func (n *Node) checkpointPath() string {
	return filepath.Join(n.cfg.DataDir, fmt.Sprintf("checkpoint-node%d.bin", n.cfg.Processor.NodeID))
}

// loadCheckpoint loads the node's checkpoint, its State into the embedded default's. A file
// that cannot be used (damaged, of a wiped journal, of the other topology) is logged and left
// for the next checkpoint to replace: the replay then starts from each date's first record.
func (n *Node) loadCheckpoint(ctx context.Context) (*checkpoint.Checkpoint, error) {
	if n.cfg.CheckpointInterval < 0 {
		return nil, nil
	}
	pos, err := n.Journal.Position(ctx)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	start := time.Now()
	ck, err := checkpoint.Load(n.checkpointPath(), pos, n.mem)
	if err != nil {
		n.log.Warn("checkpoint not used; replaying the journal from the first record of each date",
			zap.String("file", n.checkpointPath()), zap.Error(err))
		if n.mem != nil { // it may hold part of the file
			n.mem.Close()
			if n.mem, err = memstate.New(memstateConfig); err != nil {
				return nil, fmt.Errorf("gateway state: %w", err)
			}
			n.State = n.mem
		}
		return nil, nil
	}
	if ck != nil {
		n.log.Info("checkpoint loaded", zap.Uint64("seq", ck.Seq), zap.Uint64("replay_from", ck.From),
			zap.Time("written", ck.Written), zap.Int("open_intents", len(ck.Open)),
			zap.Duration("took", time.Since(start)))
	}
	return ck, nil
}

// startCheckpoints starts the background checkpoints (Config.CheckpointInterval).
func (n *Node) startCheckpoints() error {
	if n.cfg.CheckpointInterval < 0 {
		return nil
	}
	cc := checkpoint.Config{Path: n.checkpointPath(), Interval: n.cfg.CheckpointInterval, Dates: n.recoverDates}
	if n.mem != nil {
		cc.NewState = func() (*memstate.State, error) {
			c := memstateConfig
			c.SweepInterval = -1
			return memstate.New(c)
		}
	}
	w, err := checkpoint.New(cc, n.Journal, n.Processor, n.log)
	if err != nil {
		return err
	}
	w.Start()
	n.Checkpoints = w
	n.onShutdown(w.Stop)
	return nil
}

// GatewayAddr is the terminal listener's address.
func (n *Node) GatewayAddr() net.Addr { return n.Gateway.Addr() }

// GatewayTLSAddr is the terminal TLS listener's address (nil without one).
func (n *Node) GatewayTLSAddr() net.Addr { return n.Gateway.TLSAddr() }

// NATSURL is the URL of the NATS server the node uses.
func (n *Node) NATSURL() string { return n.nc.ConnectedUrl() }

// NATS is the node's NATS connection.
func (n *Node) NATS() *nats.Conn { return n.nc }

// Shutdown stops the node in order: the terminal listener first (answering or reversing what
// is in flight), then the reversal forwarder and simulator, the journal (flushed), the stores,
// NATS. Safe to call twice.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.shutdown {
		n.mu.Unlock()
		return nil
	}
	n.shutdown = true
	closers := n.closers
	n.mu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
