// Package proctest runs the real posgate binary as a child process, for durability tests that
// kill it with SIGKILL and restart it on the same data directory while the test process keeps
// everything else (the issuer simulator and its ledger, the terminals) alive. Tests only.
//
// Build compiles ./cmd/posgate once per test process (with -race when the test binary has it,
// so the crash paths run under the race detector too). StartNode starts `posgate serve` on the
// embedded default with fixed loopback ports picked by the harness — terminal listener, admin
// API, embedded NATS (--nats-listen) — and waits until /readyz answers 200. Restart starts it
// again on the same data directory and the same ports, so terminals and an out-of-process
// simulator reconnect to the addresses they know.
//
// The child's stdout and stderr go to one log file per node (every start appends, after a
// marker line); the tail is logged when the test fails, and a "WARNING: DATA RACE" in it fails
// the test. t.Cleanup SIGKILLs a node still running; on Linux the child also gets SIGKILL if the
// test process dies first (Pdeathsig), so no posgate outlives its test.
package proctest

import (
	"bytes"
	"errors"
	"fmt"
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
)

// Defaults of NodeConfig.
const (
	DefaultReadyTimeout = 60 * time.Second // until /readyz answers 200
	DefaultStopTimeout  = 30 * time.Second // between SIGTERM and giving up (then SIGKILL)
	killTimeout         = 10 * time.Second // a SIGKILLed process is reaped well within this
	logTailBytes        = 6000
	raceMarker          = "WARNING: DATA RACE"
)

// ErrExited is wrapped by StartNode's and Restart's failures when the child exited during start.
var ErrExited = errors.New("proctest: posgate exited during start")

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Build compiles github.com/posgate/posgate/cmd/posgate once per test process into a temporary
// directory and returns the binary's path; later calls return the same path (or the same
// failure). It must run inside the module (go test's working directory is). Call Main from
// TestMain to remove the directory when the tests end.
func Build(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "posgate-proctest-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "posgate")
		args := []string{"build", "-o", build.bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/posgate/posgate/cmd/posgate")
		cmd := exec.Command("go", args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if build.err != nil {
		t.Fatalf("proctest: build posgate: %v", build.err)
	}
	return build.bin
}

// Main runs the tests and removes Build's directory, then exits: func TestMain(m *testing.M)
// { proctest.Main(m) }. Without it the binary stays in os.TempDir.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// NodeConfig is one node's command line. The zero value is a durability test's node: a fresh
// data directory, no in-process simulator, no demo terminals, no automatic settlement.
type NodeConfig struct {
	// DataDir is --data; "" is a new directory under t.TempDir().
	DataDir string
	// Simulator keeps the in-process issuer simulator; false passes --no-simulator (the test
	// runs the simulator itself, against NATSURL, so its ledger survives the crash).
	Simulator bool
	// DemoTerminals is --demo-terminals (0: none).
	DemoTerminals int
	// Settle keeps the automatic settlement; false passes --no-settle.
	Settle bool
	// NATS, when set, is the URL of a NATS server the test runs (passed as --nats instead of
	// --nats-listen; NATSURL is then this URL): the production topology, where the node's
	// crash leaves NATS running.
	NATS string
	// Args are appended after the harness's flags (a repeated flag wins).
	Args []string
	// Env entries ("KEY=value") are added to the test process's environment, from which every
	// POSGATE_* variable has been removed.
	Env []string
	// ReadyTimeout bounds each start. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// StopTimeout bounds Stop. Default DefaultStopTimeout.
	StopTimeout time.Duration
}

// Node is a posgate serve child process. Its addresses stay the same across restarts. Methods
// are meant for the test goroutine.
type Node struct {
	// GatewayAddr, AdminAddr are "127.0.0.1:port"; NATSURL is "nats://127.0.0.1:port".
	GatewayAddr, AdminAddr, NATSURL string
	// DataDir is the node's --data directory.
	DataDir string
	// LogPath is the file holding the child's stdout and stderr, every start appended.
	LogPath string

	t      testing.TB
	cfg    NodeConfig
	bin    string
	natsAd string
	starts int
	proc   *proc // the current or last process
}

// proc is one started process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returned
	err  error         // Wait's result, set before done closes
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// StartNode builds posgate if needed, starts `posgate serve` and waits until it is ready. It
// fails the test (with the log tail) if the node does not become ready within ReadyTimeout.
// When a picked port turns out taken by another process, it retries with new ports.
func StartNode(t testing.TB, cfg NodeConfig) *Node {
	t.Helper()
	bin := Build(t)
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	work := t.TempDir()
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(work, "data")
	}
	n := &Node{DataDir: cfg.DataDir, LogPath: filepath.Join(work, "posgate.log"), t: t, cfg: cfg, bin: bin}
	t.Cleanup(n.cleanup) // after t.TempDir's registration: runs before the directory goes
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ports, perr := freePorts(3)
		if perr != nil {
			t.Fatalf("proctest: %v", perr)
		}
		n.GatewayAddr = loopback(ports[0])
		n.AdminAddr = loopback(ports[1])
		n.natsAd = loopback(ports[2])
		n.NATSURL = "nats://" + n.natsAd
		if cfg.NATS != "" {
			n.NATSURL = cfg.NATS
		}
		if err = n.start(); err == nil {
			return n
		}
		if !errors.Is(err, ErrExited) || !strings.Contains(n.LogTail(), "address already in use") {
			break
		}
	}
	t.Fatalf("proctest: start posgate: %v\nlog tail:\n%s", err, n.LogTail())
	return nil
}

// Restart starts the node again on the same data directory, ports and flags, after Kill or
// Stop, and waits until it is ready. It fails t if the node is still running or does not
// become ready.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if n.proc != nil && n.proc.running() {
		t.Fatal("proctest: Restart: the node is still running; Kill or Stop it first")
	}
	if err := n.start(); err != nil {
		t.Fatalf("proctest: restart posgate: %v\nlog tail:\n%s", err, n.LogTail())
	}
}

// SetEnv replaces NodeConfig.Env for the next Restart (e.g. to start again without the fault
// that stopped the last process).
func (n *Node) SetEnv(env ...string) { n.cfg.Env = env }

// WaitLog waits until the node's log holds substr (bounded by timeout) and fails the test if
// it does not.
func (n *Node) WaitLog(substr string, timeout time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(n.LogPath); err == nil && bytes.Contains(b, []byte(substr)) {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("proctest: %q not in the node's log after %v\nlog tail:\n%s", substr, timeout, n.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL (kill -9: no shutdown code runs, nothing is flushed) and waits until the
// process is reaped. It fails the test if the node was not running or had exited on its own.
func (n *Node) Kill() {
	n.t.Helper()
	p := n.proc
	if p == nil || !p.running() {
		n.t.Fatalf("proctest: Kill: the node is not running (%v)\nlog tail:\n%s", n.exitErr(), n.LogTail())
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		n.t.Fatalf("proctest: SIGKILL: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(killTimeout):
		n.t.Fatalf("proctest: pid %d not reaped %v after SIGKILL", p.cmd.Process.Pid, killTimeout)
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		n.t.Fatalf("proctest: Kill: the node exited on its own before the SIGKILL (%v)\nlog tail:\n%s", p.err, n.LogTail())
	}
}

// Stop sends SIGTERM and waits up to StopTimeout for a clean exit. It returns nil on exit
// status 0; otherwise an error with the status and the log tail (after StopTimeout the process
// is SIGKILLed). It fails the test if the node was not running.
func (n *Node) Stop() error {
	n.t.Helper()
	p := n.proc
	if p == nil || !p.running() {
		n.t.Fatalf("proctest: Stop: the node is not running (%v)\nlog tail:\n%s", n.exitErr(), n.LogTail())
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("proctest: SIGTERM: %w", err)
	}
	select {
	case <-p.done:
	case <-time.After(n.cfg.StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("proctest: posgate did not stop within %v of SIGTERM and was killed\nlog tail:\n%s",
			n.cfg.StopTimeout, n.LogTail())
	}
	if p.err != nil {
		return fmt.Errorf("proctest: posgate stopped with %v\nlog tail:\n%s", p.err, n.LogTail())
	}
	return nil
}

// Running reports whether the node's process is alive (started and not yet reaped).
func (n *Node) Running() bool { return n.proc != nil && n.proc.running() }

// PID is the current (or last) process's id; 0 before the first start.
func (n *Node) PID() int {
	if n.proc == nil {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// LogTail returns the last few kilobytes of the node's log, starting at a line.
func (n *Node) LogTail() string {
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(b)
}

func (n *Node) exitErr() error {
	if n.proc == nil {
		return errors.New("never started")
	}
	if n.proc.running() {
		return nil
	}
	if n.proc.err == nil {
		return errors.New("exit status 0")
	}
	return n.proc.err
}

func (n *Node) args() []string {
	a := []string{"serve", "--data", n.DataDir, "--listen", n.GatewayAddr, "--admin-listen", n.AdminAddr,
		"--demo-terminals", strconv.Itoa(n.cfg.DemoTerminals)}
	if n.cfg.NATS != "" {
		a = append(a, "--nats", n.cfg.NATS)
	} else {
		a = append(a, "--nats-listen", n.natsAd)
	}
	if !n.cfg.Simulator {
		a = append(a, "--no-simulator")
	}
	if !n.cfg.Settle {
		a = append(a, "--no-settle")
	}
	return append(a, n.cfg.Args...)
}

func (n *Node) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POSGATE_") {
			env = append(env, kv)
		}
	}
	return append(env, n.cfg.Env...)
}

// start runs one process and waits for /readyz. On failure the process is killed and reaped.
func (n *Node) start() error {
	n.starts++
	logf, err := os.OpenFile(n.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := n.args()
	fmt.Fprintf(logf, "=== proctest: start %d at %s: posgate %s\n", n.starts, time.Now().Format(time.RFC3339Nano),
		strings.Join(args, " "))
	cmd := exec.Command(n.bin, args...)
	cmd.Dir = filepath.Dir(n.LogPath)
	cmd.Env = n.env()
	cmd.Stdout, cmd.Stderr = logf, logf // an *os.File: the child writes it directly, no copying goroutine
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	_ = logf.Close() // the child holds its own descriptor
	if err != nil {
		return fmt.Errorf("start %s: %w", n.bin, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	n.proc = p
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := n.waitReady(p); err != nil {
		if p.running() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		return err
	}
	return nil
}

// waitReady polls /readyz until 200, the process exits, or ReadyTimeout.
func (n *Node) waitReady(p *proc) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	url := "http://" + n.AdminAddr + "/readyz"
	deadline := time.Now().Add(n.cfg.ReadyTimeout)
	last := errors.New("no answer yet")
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("/readyz answered %d", resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w: %v", ErrExited, p.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: %v", n.cfg.ReadyTimeout, last)
		}
	}
}

// cleanup kills a node the test left running, logs the tail on failure and fails the test on
// a data race report.
func (n *Node) cleanup() {
	if n.proc != nil && n.proc.running() {
		_ = n.proc.cmd.Process.Kill()
		<-n.proc.done
	}
	b, _ := os.ReadFile(n.LogPath)
	if bytes.Contains(b, []byte(raceMarker)) {
		n.t.Errorf("proctest: the posgate log reports a data race:\n%s", n.LogTail())
	} else if n.t.Failed() {
		n.t.Logf("proctest: posgate log tail (%s):\n%s", n.LogPath, n.LogTail())
	}
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// ports handed out in this process: never twice, even once free again (a killed node keeps
// its ports for its restart).
var used = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// freePorts returns n distinct loopback ports that are free now. They come from below the
// kernel's ephemeral range where it is known, so that no outgoing connection takes one as its
// source port while a killed node waits for its restart; otherwise from the kernel.
func freePorts(count int) ([]int, error) {
	used.Lock()
	defer used.Unlock()
	lo, hi := 10000, ephemeralLow()-1
	var ports []int
	for tries := 0; len(ports) < count && tries < 500; tries++ {
		port := 0 // the kernel's choice
		if hi-lo > 1000 {
			port = lo + rand.IntN(hi-lo+1)
		}
		if used.m[port] {
			continue
		}
		ln, err := net.Listen("tcp", loopback(port))
		if err != nil {
			continue
		}
		port = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if used.m[port] {
			continue
		}
		used.m[port] = true
		ports = append(ports, port)
	}
	if len(ports) < count {
		return nil, fmt.Errorf("found only %d free loopback ports of %d", len(ports), count)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux), 0 when unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}
