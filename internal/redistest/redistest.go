// Package redistest starts a real redis-server for tests: on a random loopback port, in a
// temporary directory, without persistence, stopped when the test ends.
//
// redis-server must be on PATH. When it is not, Start fails the test if the CI environment
// variable is set and skips it otherwise, so that CI never silently loses its Redis tests.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is the program Start runs, looked up on PATH.
const Binary = "redis-server"

// Timeouts of the harness.
const (
	StartTimeout = 10 * time.Second // until the server answers PING
	StopTimeout  = 5 * time.Second  // between SIGTERM and SIGKILL
)

// Server is a running redis-server.
type Server struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// URL returns "redis://<Addr>/0".
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts a redis-server and registers its shutdown with t.Cleanup. It waits until the
// server answers PING.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redistest: %s not found on PATH and CI is set: install Redis to run these tests", Binary)
		}
		t.Skipf("redistest: %s not found on PATH; install Redis to run these tests (they fail instead when CI is set)", Binary)
	}
	dir := t.TempDir()
	// Picking a free port and handing it to redis-server can race with other processes; a
	// server that cannot bind exits at once, and we try another port.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := start(bin, dir)
		if err == nil {
			t.Cleanup(func() {
				if err := s.stop(); err != nil {
					t.Errorf("redistest: %v", err)
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	logPath := filepath.Join(dir, "redis-"+strconv.Itoa(port)+".log")
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--logfile", logPath,
	)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("redis-server exited during start: %s", logTail(logPath))
		default:
		}
		if err := Ping(s.Addr); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			_ = s.stop()
			return nil, fmt.Errorf("redis-server did not answer PING within %v: %v; log: %s", StartTimeout, err, logTail(logPath))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ping sends PING to addr over a fresh connection and expects +PONG: whether a redis-server
// there is up (a fault test restarting one waits on it).
func Ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return errors.New("unexpected reply to PING: " + strconv.Quote(line))
	}
	return nil
}

// stop terminates the server: SIGTERM, then SIGKILL after StopTimeout.
func (s *Server) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(StopTimeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	return fmt.Errorf("redis-server on %s ignored SIGTERM for %v and was killed", s.Addr, StopTimeout)
}

// logTail returns the last lines of the server's log, for start failures.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	b = bytes.TrimSpace(b)
	if len(b) > 800 {
		b = b[len(b)-800:]
	}
	return string(b)
}
