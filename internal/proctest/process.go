package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is any other child a fault test kills and restarts with the same command line — an
// issuer-sim or a nats-server. Its output goes to one log file (every start appended).
type Process struct {
	Name    string
	LogPath string

	t    testing.TB
	bin  string
	args []string
	proc *proc
	n    int
}

// StartProcess starts bin with args and returns at once; ready, when not nil, is polled every
// 20 ms (for up to DefaultReadyTimeout) until it returns nil. The process is SIGKILLed at
// cleanup if still running.
func StartProcess(t testing.TB, name, bin string, ready func() error, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, LogPath: filepath.Join(t.TempDir(), name+".log"), t: t, bin: bin, args: args}
	t.Cleanup(func() {
		if p.Running() {
			_ = p.proc.cmd.Process.Kill()
			<-p.proc.done
		}
		b, _ := os.ReadFile(p.LogPath)
		if bytes.Contains(b, []byte(raceMarker)) {
			t.Errorf("proctest: the %s log reports a data race:\n%s", name, tail(b))
		} else if t.Failed() {
			t.Logf("proctest: %s log tail (%s):\n%s", name, p.LogPath, tail(b))
		}
	})
	p.Restart(ready)
	return p
}

// Restart starts the process again (after Kill or Stop) and waits for ready as StartProcess does.
func (p *Process) Restart(ready func() error) {
	p.t.Helper()
	if p.Running() {
		p.t.Fatalf("proctest: %s is still running", p.Name)
	}
	p.n++
	logf, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== proctest: start %d at %s: %s %s\n", p.n, time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = filepath.Dir(p.LogPath)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POSGATE_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	_ = logf.Close()
	if err != nil {
		p.t.Fatalf("proctest: start %s: %v", p.Name, err)
	}
	pr := &proc{cmd: cmd, done: make(chan struct{})}
	p.proc = pr
	go func() {
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	if ready == nil {
		return
	}
	deadline := time.Now().Add(DefaultReadyTimeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		if !pr.running() {
			p.t.Fatalf("proctest: %s exited during start (%v)\nlog tail:\n%s", p.Name, pr.err, p.LogTail())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("proctest: %s not ready within %v: %v\nlog tail:\n%s", p.Name, DefaultReadyTimeout, err, p.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL and waits until the process is reaped.
func (p *Process) Kill() { p.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits (up to DefaultStopTimeout, then SIGKILL) until it exits.
func (p *Process) Stop() { p.signal(syscall.SIGTERM) }

func (p *Process) signal(sig syscall.Signal) {
	p.t.Helper()
	if !p.Running() {
		p.t.Fatalf("proctest: %s is not running (%v)\nlog tail:\n%s", p.Name, p.proc.err, p.LogTail())
	}
	_ = p.proc.cmd.Process.Signal(sig)
	select {
	case <-p.proc.done:
	case <-time.After(DefaultStopTimeout):
		_ = p.proc.cmd.Process.Kill()
		<-p.proc.done
		p.t.Fatalf("proctest: %s did not exit within %v of %v", p.Name, DefaultStopTimeout, sig)
	}
}

// Running reports whether the process is alive.
func (p *Process) Running() bool { return p.proc != nil && p.proc.running() }

// LogTail returns the last few kilobytes of the process's log.
func (p *Process) LogTail() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(b)
}

func tail(b []byte) string {
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(bytes.TrimRight(b, "\n"))
}

var natsBuild struct {
	once sync.Once
	bin  string
	err  error
}

// BuildNATSServer compiles nats-server from the module version go.mod requires, once per test
// process, next to Build's binary.
func BuildNATSServer(t testing.TB) string {
	t.Helper()
	Build(t) // creates build.dir
	natsBuild.once.Do(func() {
		natsBuild.bin = filepath.Join(build.dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", natsBuild.bin, "github.com/nats-io/nats-server/v2")
		if out, err := cmd.CombinedOutput(); err != nil {
			natsBuild.err = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if natsBuild.err != nil {
		t.Fatalf("proctest: %v", natsBuild.err)
	}
	return natsBuild.bin
}

// FreePorts returns count loopback ports free now and never handed out before in this process.
func FreePorts(t testing.TB, count int) []int {
	t.Helper()
	ports, err := freePorts(count)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// Signal sends sig (SIGSTOP, SIGCONT …) without waiting for anything.
func (p *Process) Signal(sig syscall.Signal) {
	p.t.Helper()
	if !p.Running() {
		p.t.Fatalf("proctest: %s is not running", p.Name)
	}
	if err := p.proc.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("proctest: %s: %v", p.Name, err)
	}
}
