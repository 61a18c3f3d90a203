package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/gateway/checkpoint"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/natsembed"
)

// Environment variables read by serve: secrets never come from argv.
const (
	envLMK      = "POSGATE_LMK"       // local master key, 64 hex characters
	envTokenKey = "POSGATE_TOKEN_KEY" // PAN token key, 64 hex characters

)

// serveConfig is the YAML file of --config; flags given on the command line win over it.
type serveConfig struct {
	Listen          string             `yaml:"listen"`
	TLSListen       string             `yaml:"tls_listen"`
	TLSCert         string             `yaml:"tls_cert"`
	TLSKey          string             `yaml:"tls_key"`
	AdminListen     string             `yaml:"admin_listen"`
	Data            string             `yaml:"data"`
	NATS            string             `yaml:"nats"`
	NATSListen      string             `yaml:"nats_listen"`
	NATSClient      natsClientSettings `yaml:",inline"`
	Redis           string             `yaml:"redis"`
	Routes          string             `yaml:"routes"`
	NodeID          int                `yaml:"node_id"`
	MaxAmount       int64              `yaml:"max_amount_fen"`
	MaxDailyCount   int64              `yaml:"max_daily_count"`
	TxnTimeout      time.Duration      `yaml:"txn_timeout"`
	MaxConns        int                `yaml:"max_conns"`
	MaxConnsPerAddr int                `yaml:"max_conns_per_addr"`
	IdleTimeout     time.Duration      `yaml:"idle_timeout"`
	FrameTimeout    time.Duration      `yaml:"frame_timeout"`
	MaxFrame        int                `yaml:"max_frame"`
	JournalReplicas int                `yaml:"journal_replicas"`
	Simulator       *bool              `yaml:"simulator"`
	NoSimulator     bool               `yaml:"-"` // --no-simulator; the file says simulator: false
	SimLatency      time.Duration      `yaml:"sim_latency"`
	SimDrop         float64            `yaml:"sim_drop"`
	SimMemoryLedger bool               `yaml:"sim_memory_ledger"`
	LMKFile         string             `yaml:"lmk_file"`
	TokenKeyFile    string             `yaml:"token_key_file"`
	ZPKFile         string             `yaml:"zpk_file"`
	AdminTokenFile  string             `yaml:"admin_token_file"`
	AdminTLSCert    string             `yaml:"admin_tls_cert"`
	AdminTLSKey     string             `yaml:"admin_tls_key"`
	AdminPlaintext  bool               `yaml:"admin_plaintext"`
	LogLevel        string             `yaml:"log_level"`
	SettleOut       string             `yaml:"settlement_out"`
	SettleDelay     time.Duration      `yaml:"settlement_delay"`
	NoSettle        bool               `yaml:"settlement_disabled"`
	DemoTerminals   int                `yaml:"demo_terminals"`
	// RedisCheck is how often, with --redis, the node checks the registry's epoch marker.
	RedisCheck time.Duration `yaml:"redis_check_interval"`
	// NodeLease is how long, with --redis, the node's cluster lease lasts unrenewed.
	NodeLease time.Duration `yaml:"node_lease"`
	// RegistryCache is how long, with --redis, a node serves a terminal from memory (0: off).
	RegistryCache *time.Duration `yaml:"registry_cache"`
	// CheckpointInterval is --checkpoint-interval; the file's checkpoint_interval (0s
	// included, which disables) is CheckpointFile.
	CheckpointInterval time.Duration  `yaml:"-"`
	CheckpointFile     *time.Duration `yaml:"checkpoint_interval"`
}

func runServe(args []string, _ io.Reader, _, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, os.Getenv, stderr, nil)
}

// serve runs a node until ctx ends. started, when set, receives the node once it serves (tests).
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, started func(*app.Node)) int {
	const name = "serve"
	c, cfg, status, done := parseServe(args, getenv, stderr)
	if done {
		return status
	}
	level := c.LogLevel
	if level == "" {
		level = "info"
	}
	log, err := newLogger(level, stderr)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	defer func() { _ = log.Sync() }()

	node, err := app.Start(ctx, cfg, log)
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	mode := "embedded"
	if cfg.NATS != "" || cfg.Redis != "" {
		mode = "production"
	}
	fields := []zap.Field{zap.String("mode", mode), zap.String("terminals", node.GatewayAddr().String()),
		zap.String("nats", node.NATSURL()), zap.String("data", cfg.DataDir)}
	if a := node.GatewayTLSAddr(); a != nil {
		fields = append(fields, zap.String("terminals_tls", a.String()))
	}
	if a := node.AdminAddr(); a != nil {
		fields = append(fields, zap.String("admin", a.String()))
	}
	log.Info("posgate serving", fields...)
	if started != nil {
		started(node)
	}
	<-ctx.Done()
	log.Info("shutting down: draining terminals, flushing the journal")
	sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := node.Shutdown(sctx); err != nil {
		return fail(stderr, name, exitFail, fmt.Errorf("shutdown: %w", err))
	}
	log.Info("stopped")
	return exitOK
}

// parseServe reads the flags, the --config file and the secrets into the node's configuration.
// done reports that serve must exit with status instead of starting (help, bad input).
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (c serveConfig, cfg app.Config, status int, done bool) {
	const name = "serve"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML file holding any of the settings below (flags win)")
	fs.StringVar(&c.Listen, "listen", app.DefaultListen, "terminal listener address")
	fs.StringVar(&c.TLSListen, "tls-listen", "", "also accept terminals over TLS on this address (with --tls-cert and --tls-key)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "terminal TLS listener: certificate chain (PEM)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "terminal TLS listener: private key (PEM)")
	fs.StringVar(&c.AdminListen, "admin-listen", admin.DefaultAddr, "admin API, metrics and probes address (not loopback: needs --admin-tls-cert/--admin-tls-key or --admin-plaintext)")
	fs.StringVar(&c.AdminTLSCert, "admin-tls-cert", "", "admin API: serve HTTPS with this certificate chain (PEM)")
	fs.StringVar(&c.AdminTLSKey, "admin-tls-key", "", "admin API: the private key (PEM) of --admin-tls-cert")
	fs.BoolVar(&c.AdminPlaintext, "admin-plaintext", false, "admin API: allow plain HTTP on a non-loopback address (TLS terminated in front)")
	fs.StringVar(&c.Data, "data", app.DefaultDataDir, "data directory (embedded NATS, registry snapshot, generated secrets)")
	fs.StringVar(&c.NATS, "nats", "", "NATS URL; empty starts the embedded NATS with JetStream")
	c.NATSClient.bind(fs)
	fs.StringVar(&c.NATSListen, "nats-listen", "", "embedded NATS: loopback host:port to listen on (default "+defaultNATSListen+"; 127.0.0.1:0 picks a random port; the URL is in DATA/nats.url)")
	fs.BoolVar(&c.NoSimulator, "no-simulator", false, "do not run the issuer simulator in process (run posgate issuer-sim against the NATS server instead)")
	fs.StringVar(&c.Redis, "redis", "", "Redis URL for the registry and gateway state; empty keeps them in memory")
	fs.StringVar(&c.Routes, "routes", "", "routing table (YAML); empty uses the built-in table")
	fs.IntVar(&c.NodeID, "node-id", 0, "node digit (0-9) in RRNs, unique per gateway node")
	fs.Int64Var(&c.MaxAmount, "max-amount", 0, "per-transaction limit in fen (61 above it); 0: none")
	fs.Int64Var(&c.MaxDailyCount, "max-daily-count", 0, "purchases and pre-auths per terminal per business date (65 above it); 0: none")
	fs.StringVar(&c.LMKFile, "lmk-file", "", "LMK file (64 hex characters), or env "+envLMK+"; default DATA/lmk.hex (embedded)")
	fs.StringVar(&c.TokenKeyFile, "token-key-file", "", "PAN token key file (64 hex), or env "+envTokenKey+"; default DATA/token.key")
	fs.StringVar(&c.ZPKFile, "zpk-file", "", "zone PIN keys, lines \"ROUTE HEX\" (ROUTE * for all); default DATA/zpk.hex (development)")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", "", "admin API token file, or env "+envAdminToken+"; default DATA/admin.token")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.SettleOut, "settle-out", "", "settlement files directory; default DATA/settlement")
	fs.DurationVar(&c.SettleDelay, "settle-delay", app.DefaultSettleDelay, "settle each business date this long after its cut-off")
	fs.BoolVar(&c.NoSettle, "no-settle", false, "do not settle automatically (posgate settle runs it by hand)")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", checkpoint.DefaultInterval,
		"save the replay of the journal this often (DATA/checkpoint-node<N>.bin), so a restart replays only what followed; 0: never")
	fs.DurationVar(&c.NodeLease, "node-lease", app.DefaultNodeLease,
		"with --redis: how long this node's cluster lease lasts unrenewed; another node then reverses the requests it left open")
	registryCache := new(time.Duration)
	c.RegistryCache = registryCache
	fs.DurationVar(registryCache, "registry-cache", app.DefaultRegistryCache,
		"with --redis: how long a node serves a terminal from memory (every change reaches every node first); 0: read Redis every time")
	fs.IntVar(&c.DemoTerminals, "demo-terminals", 10, "embedded default: seed an empty registry with this many demo terminals (codes in DATA/demo-terminals.csv)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posgate serve [--listen :8583] [--admin-listen 127.0.0.1:8080] [--admin-tls-cert FILE --admin-tls-key FILE] [--data ./data] [--nats URL | --nats-listen 127.0.0.1:4222] [--no-simulator] [--redis URL] [--routes FILE] [--config FILE]")
		fmt.Fprintln(stderr, "Without --nats and --redis: the embedded default (in-process NATS with JetStream, in-memory")
		fmt.Fprintln(stderr, "registry, issuer simulator). Runs until SIGINT or SIGTERM, then drains and stops.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, cfg, exitOK, true
		}
		return c, cfg, exitUsage, true
	}
	if fs.NArg() > 0 {
		return c, cfg, fail(stderr, name, exitUsage, fmt.Errorf("unexpected argument %q", fs.Arg(0))), true
	}
	if *configFile != "" {
		if err := mergeConfigFile(*configFile, fs, &c); err != nil {
			return c, cfg, fail(stderr, name, exitUsage, err), true
		}
	}
	cfg, err := c.appConfig(getenv)
	if err != nil {
		return c, cfg, fail(stderr, name, exitUsage, err), true
	}
	return c, cfg, exitOK, false
}

// mergeConfigFile fills every setting not given as a flag from the YAML file.
func mergeConfigFile(path string, fs *flag.FlagSet, c *serveConfig) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var file serveConfig
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pick := func(flagName string, dst *string, v string) {
		if !set[flagName] && v != "" {
			*dst = v
		}
	}
	pick("listen", &c.Listen, file.Listen)
	pick("tls-listen", &c.TLSListen, file.TLSListen)
	pick("tls-cert", &c.TLSCert, file.TLSCert)
	pick("tls-key", &c.TLSKey, file.TLSKey)
	pick("admin-listen", &c.AdminListen, file.AdminListen)
	pick("data", &c.Data, file.Data)
	pick("nats", &c.NATS, file.NATS)
	pick("nats-listen", &c.NATSListen, file.NATSListen)
	c.NATSClient.merge(file.NATSClient, set)
	pick("redis", &c.Redis, file.Redis)
	pick("routes", &c.Routes, file.Routes)
	pick("lmk-file", &c.LMKFile, file.LMKFile)
	pick("token-key-file", &c.TokenKeyFile, file.TokenKeyFile)
	pick("zpk-file", &c.ZPKFile, file.ZPKFile)
	pick("admin-token-file", &c.AdminTokenFile, file.AdminTokenFile)
	pick("admin-tls-cert", &c.AdminTLSCert, file.AdminTLSCert)
	pick("admin-tls-key", &c.AdminTLSKey, file.AdminTLSKey)
	if !set["admin-plaintext"] && file.AdminPlaintext {
		c.AdminPlaintext = true
	}
	pick("log-level", &c.LogLevel, file.LogLevel)
	pick("settle-out", &c.SettleOut, file.SettleOut)
	if !set["settle-delay"] && file.SettleDelay != 0 {
		c.SettleDelay = file.SettleDelay
	}
	if !set["no-settle"] && file.NoSettle {
		c.NoSettle = true
	}
	if !set["checkpoint-interval"] && file.CheckpointFile != nil {
		c.CheckpointInterval = *file.CheckpointFile
	}
	if !set["node-lease"] && file.NodeLease != 0 {
		c.NodeLease = file.NodeLease
	}
	if !set["registry-cache"] && file.RegistryCache != nil {
		c.RegistryCache = file.RegistryCache
	}
	if !set["demo-terminals"] && file.DemoTerminals != 0 {
		c.DemoTerminals = file.DemoTerminals
	}
	if !set["node-id"] && file.NodeID != 0 {
		c.NodeID = file.NodeID
	}
	if !set["max-amount"] && file.MaxAmount != 0 {
		c.MaxAmount = file.MaxAmount
	}
	if !set["max-daily-count"] && file.MaxDailyCount != 0 {
		c.MaxDailyCount = file.MaxDailyCount
	}
	c.TxnTimeout, c.MaxConns, c.MaxConnsPerAddr = file.TxnTimeout, file.MaxConns, file.MaxConnsPerAddr
	c.IdleTimeout, c.MaxFrame, c.JournalReplicas = file.IdleTimeout, file.MaxFrame, file.JournalReplicas
	c.FrameTimeout, c.RedisCheck = file.FrameTimeout, file.RedisCheck
	c.Simulator, c.SimLatency, c.SimDrop, c.SimMemoryLedger = file.Simulator, file.SimLatency, file.SimDrop, file.SimMemoryLedger
	return nil
}

// defaultNATSListen is the embedded NATS server's address unless --nats-listen says otherwise.
const defaultNATSListen = "127.0.0.1:4222"

// appConfig turns the settings into the node's configuration, reading secrets from files or the
// environment.
func (c *serveConfig) appConfig(getenv func(string) string) (app.Config, error) {
	cfg := app.Config{Listen: c.Listen, TLSListen: c.TLSListen, TLSCert: c.TLSCert, TLSKey: c.TLSKey, AdminListen: c.AdminListen, DataDir: c.Data, NATS: c.NATS, Redis: c.Redis,
		AdminTLSCert: c.AdminTLSCert, AdminTLSKey: c.AdminTLSKey, AdminPlaintext: c.AdminPlaintext,
		NATSListen: c.NATSListen, RoutesFile: c.Routes, JournalReplicas: c.JournalReplicas,
		SimLatency: c.SimLatency, SimDrop: c.SimDrop, SimMemoryLedger: c.SimMemoryLedger, RedisCheckInterval: c.RedisCheck}
	if (c.TLSListen != "") != (c.TLSCert != "" && c.TLSKey != "") || (c.TLSListen == "" && (c.TLSCert != "" || c.TLSKey != "")) {
		return cfg, errors.New("--tls-listen needs --tls-cert and --tls-key, and they need --tls-listen")
	}
	client, err := c.NATSClient.client(c.NATS, getenv)
	if err != nil {
		return cfg, err
	}
	cfg.NATSClient = client
	if c.NATSListen != "" {
		if c.NATS != "" {
			return cfg, errors.New("--nats-listen: only for the embedded NATS server (without --nats)")
		}
		host, port, err := net.SplitHostPort(c.NATSListen)
		if err != nil {
			return cfg, fmt.Errorf("--nats-listen: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return cfg, fmt.Errorf("--nats-listen: port %q is not a number", port)
		}
		// natsembed's own rules: a port in range, loopback unless AllowRemote (never set here).
		if err := (natsembed.Config{DataDir: "-", Host: host, Port: p}).Validate(); err != nil {
			return cfg, fmt.Errorf("--nats-listen: %w", err)
		}
	}
	if c.NATS == "" && c.NATSListen == "" {
		// A stable address, so an external issuer-sim, the nats CLI or posgate reconcile stay
		// connected across restarts; "127.0.0.1:0" asks for a random port.
		cfg.NATSListen = defaultNATSListen
	}
	cfg.Simulator = c.NATS == ""
	cfg.Settlement.Out, cfg.Settlement.Delay, cfg.Settlement.Disabled = c.SettleOut, c.SettleDelay, c.NoSettle
	if c.DemoTerminals < 0 || c.DemoTerminals > 1000 {
		return cfg, errors.New("--demo-terminals: must be 0-1000")
	}
	if c.NATS == "" && c.Redis == "" {
		cfg.DemoTerminals = c.DemoTerminals
	}
	if c.SettleDelay < 0 {
		return cfg, errors.New("--settle-delay: must not be negative")
	}
	if c.NodeLease < time.Second {
		return cfg, errors.New("--node-lease: must be at least 1s (longer than a NATS leader election in production: 20s)")
	}
	cfg.NodeLease = c.NodeLease
	if c.RegistryCache != nil {
		if *c.RegistryCache < 0 {
			return cfg, errors.New("--registry-cache: must not be negative")
		}
		cfg.RegistryCache = *c.RegistryCache
	}
	switch {
	case c.CheckpointInterval < 0:
		return cfg, errors.New("--checkpoint-interval: must not be negative")
	case c.CheckpointInterval == 0:
		cfg.CheckpointInterval = -1 // never
	default:
		cfg.CheckpointInterval = c.CheckpointInterval
	}
	if c.Simulator != nil {
		// app.Start turns the simulator on with the embedded NATS server unless NoSimulator.
		cfg.Simulator, cfg.NoSimulator = *c.Simulator, !*c.Simulator
	}
	if c.NoSimulator {
		cfg.Simulator, cfg.NoSimulator = false, true
	}
	cfg.Processor.NodeID, cfg.Processor.MaxAmount, cfg.Processor.MaxDailyCount = c.NodeID, c.MaxAmount, c.MaxDailyCount
	cfg.Processor.TxnTimeout = c.TxnTimeout
	fault, err := parseFault(getenv(envFault), os.Stderr)
	if err != nil {
		return cfg, err
	}
	cfg.Processor.Fault = fault
	cfg.Gateway.MaxConns, cfg.Gateway.MaxConnsPerAddr, cfg.Gateway.IdleTimeout, cfg.Gateway.MaxFrame =
		c.MaxConns, c.MaxConnsPerAddr, c.IdleTimeout, c.MaxFrame
	cfg.Gateway.FrameTimeout = c.FrameTimeout
	if c.NodeID < 0 || c.NodeID > 9 {
		return cfg, errors.New("--node-id: must be 0-9")
	}
	if c.SimDrop < 0 || c.SimDrop > 1 {
		return cfg, errors.New("sim_drop: must be between 0 and 1")
	}
	lmkHex, err := secret(c.LMKFile, envLMK, getenv)
	if err != nil {
		return cfg, fmt.Errorf("--lmk-file: %w", err)
	}
	if lmkHex != "" {
		if cfg.LMK, err = hsm.ParseLMK(lmkHex); err != nil {
			return cfg, fmt.Errorf("LMK: %w", err)
		}
	}
	tk, err := secret(c.TokenKeyFile, envTokenKey, getenv)
	if err != nil {
		return cfg, fmt.Errorf("--token-key-file: %w", err)
	}
	if tk != "" {
		if cfg.TokenKey, err = hex.DecodeString(tk); err != nil || len(cfg.TokenKey) != 32 {
			return cfg, errors.New("PAN token key: want 64 hex characters")
		}
	}
	if c.Redis != "" && (lmkHex == "" || tk == "") {
		// Keys in a shared registry are wrapped under the LMK, and tokens must agree across nodes.
		return cfg, errors.New("--redis: every node must share the LMK and the PAN token key: give them with --lmk-file/" +
			envLMK + " and --token-key-file/" + envTokenKey)
	}
	if c.ZPKFile != "" {
		if cfg.ZPK, err = readZPKFile(c.ZPKFile); err != nil {
			return cfg, fmt.Errorf("--zpk-file: %w", err)
		}
	}
	if cfg.AdminToken, err = secret(c.AdminTokenFile, envAdminToken, getenv); err != nil {
		return cfg, fmt.Errorf("--admin-token-file: %w", err)
	}
	return cfg, nil
}

// secret returns the trimmed content of file, else the environment variable, else "".
func secret(file, env string, getenv func(string) string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(getenv(env)), nil
}

// readZPKFile reads "ROUTE HEX" lines (# comments allowed); ROUTE * applies to every route.
func readZPKFile(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want ROUTE HEX", i+1)
		}
		k, err := hex.DecodeString(f[1])
		if err != nil || (len(k) != 8 && len(k) != 16) {
			return nil, fmt.Errorf("line %d: key must be 16 or 32 hex characters", i+1)
		}
		out[f[0]] = k
	}
	if len(out) == 0 {
		return nil, errors.New("no keys")
	}
	return out, nil
}
