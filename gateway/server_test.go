package gateway

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/codec"
)

var (
	testTPDU   = codec.TPDU{0x60, 0x00, 0x03, 0x00, 0x00}
	testHeader = codec.Header{0x60, 0x31, 0x00, 0x31, 0x10, 0x03}
)

// echoHandler answers every 0800 with an 0810 carrying the request's 11 and 41 and 39 = 00.
// before, when set, runs first (to hold a request in flight).
type echoHandler struct {
	before func(ctx context.Context)
	mu     sync.Mutex
	errs   []error
}

func (h *echoHandler) ServeFrame(ctx context.Context, req codec.Frame, w ResponseWriter) {
	if h.before != nil {
		h.before(ctx)
	}
	in := codec.NewMessage(codec.Terminal)
	if err := in.Unpack(req.Body); err != nil {
		panic("test frame does not unpack: " + err.Error())
	}
	out := codec.NewMessage(codec.Terminal)
	_ = out.SetMTI("0810")
	_ = out.Set(11, in.Field(11))
	_ = out.Set(41, in.Field(41))
	_ = out.SetString(39, "00")
	frame, err := codec.AppendFrame(nil, req.TPDU.Swap(), req.Header, out)
	if err != nil {
		panic(err)
	}
	if err := w.WriteFrame(frame); err != nil {
		h.mu.Lock()
		h.errs = append(h.errs, err)
		h.mu.Unlock()
	}
}

func signOnFrame(t testing.TB, stan int) []byte {
	t.Helper()
	m := codec.NewMessage(codec.Terminal)
	_ = m.SetMTI("0800")
	if err := m.SetNumber(11, uint64(stan)); err != nil {
		t.Fatal(err)
	}
	_ = m.SetString(41, "TERM0001")
	_ = m.SetString(60, "00000001003")
	f, err := codec.AppendFrame(nil, testTPDU, testHeader, m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func startServer(t *testing.T, cfg Config, h Handler) *Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

func dial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// readSTANs reads n response frames and returns their STANs.
func readSTANs(t *testing.T, c net.Conn, n int) map[string]bool {
	t.Helper()
	r := codec.NewReader(c, 0)
	m := codec.NewMessage(codec.Terminal)
	got := map[string]bool{}
	for i := 0; i < n; i++ {
		f, err := r.Next()
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if f.TPDU != testTPDU.Swap() {
			t.Fatalf("response TPDU %X, want the request's swapped", f.TPDU)
		}
		if err := m.Unpack(f.Body); err != nil {
			t.Fatal(err)
		}
		if !m.IsMTI("0810") || string(m.Field(39)) != "00" {
			t.Fatalf("response %s", m)
		}
		got[string(m.Field(11))] = true
	}
	return got
}

// expectClosed waits for the server to close c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server did not close the connection")
		}
		return
	}
}

// checkNoLeak fails if goroutines started during the test outlive it.
func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

func TestPipelinedLongConnection(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, Config{MaxInFlight: 4}, &echoHandler{})
	c := dial(t, s)
	var all []byte
	want := map[string]bool{}
	for i := 1; i <= 50; i++ {
		all = append(all, signOnFrame(t, i)...)
		want[strconv.Itoa(1000000 + i)[1:]] = true
	}
	// All 50 requests in one write: frames arrive split and batched at random points.
	if _, err := c.Write(all); err != nil {
		t.Fatal(err)
	}
	got := readSTANs(t, c, 50)
	for k := range want {
		if !got[k] {
			t.Fatalf("no response for STAN %s", k)
		}
	}
	if st := s.Stats(); st.Requests != 50 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestShortConnections(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, Config{}, &echoHandler{})
	for i := 1; i <= 20; i++ {
		c := dial(t, s)
		if _, err := c.Write(signOnFrame(t, i)); err != nil {
			t.Fatal(err)
		}
		readSTANs(t, c, 1)
		_ = c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Conns != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := s.Stats(); st.Conns != 0 || st.Accepted != 20 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConnectionLimits(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, Config{MaxConnsPerAddr: 2}, &echoHandler{})
	a, b := dial(t, s), dial(t, s)
	for i, c := range []net.Conn{a, b} { // both admitted and served
		_, _ = c.Write(signOnFrame(t, i+1))
		readSTANs(t, c, 1)
	}
	third := dial(t, s)
	expectClosed(t, third)
	if st := s.Stats(); st.Refused != 1 {
		t.Fatalf("refused = %d", st.Refused)
	}
	_ = a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Conns != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	fourth := dial(t, s) // a slot is free again
	_, _ = fourth.Write(signOnFrame(t, 9))
	readSTANs(t, fourth, 1)
}

func TestUnreadableFramesClose(t *testing.T) {
	checkNoLeak(t)
	tests := []struct {
		name string
		data []byte
	}{
		{"oversize", []byte{0x20, 0x00, 0x60}},
		{"bad TPDU", append([]byte{0x00, 0x30, 0x70}, make([]byte, 0x2F)...)},
		{"too short", []byte{0x00, 0x05, 0x60, 0, 0, 0, 0}},
	}
	s := startServer(t, Config{MaxFrame: 1024}, &echoHandler{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s)
			_, _ = c.Write(tt.data)
			expectClosed(t, c)
			deadline := time.Now().Add(5 * time.Second)
			for s.Stats().FrameErrors != int64(i+1) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := s.Stats().FrameErrors; got != int64(i+1) {
				t.Fatalf("frame errors = %d", got)
			}
		})
	}
	// A frame cut off by the terminal hanging up is counted too, and nothing is handled.
	c := dial(t, s)
	full := signOnFrame(t, 1)
	_, _ = c.Write(full[:len(full)-3])
	_ = c.(*net.TCPConn).CloseWrite()
	expectClosed(t, c)
	if s.Stats().Requests != 0 {
		t.Fatalf("a broken frame reached the handler")
	}
}

func TestIdleTimeout(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, Config{IdleTimeout: 50 * time.Millisecond}, &echoHandler{})
	c := dial(t, s)
	_, _ = c.Write(signOnFrame(t, 1))
	readSTANs(t, c, 1)
	expectClosed(t, c)
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().IdleClosed != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := s.Stats().IdleClosed; got != 1 {
		t.Fatalf("idle closed = %d", got)
	}
}

// Shutdown answers what is in flight before closing.
func TestShutdownDrainsInFlight(t *testing.T) {
	checkNoLeak(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	h := &echoHandler{before: func(context.Context) { entered <- struct{}{}; <-release }}
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	_, _ = c.Write(append(signOnFrame(t, 1), signOnFrame(t, 2)...))
	<-entered
	<-entered
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	// New connections are refused once shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			break
		}
		_ = nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting during shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with requests in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	got := readSTANs(t, c, 2)
	if !got["000001"] || !got["000002"] {
		t.Fatalf("responses %v", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	expectClosed(t, c)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// When the shutdown deadline passes, handlers see their context cancelled and Shutdown still
// returns only after every goroutine has ended.
func TestShutdownDeadline(t *testing.T) {
	checkNoLeak(t)
	entered := make(chan struct{}, 1)
	cancelled := make(chan struct{}, 1)
	h := &echoHandler{before: func(ctx context.Context) {
		entered <- struct{}{}
		<-ctx.Done()
		cancelled <- struct{}{}
	}}
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	_, _ = c.Write(signOnFrame(t, 1))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("handler context was not cancelled")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) != 1 {
		t.Fatalf("the late response should fail to write, errors: %v", h.errs)
	}
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	checkNoLeak(t)
	var once sync.Once
	h := &echoHandler{before: func(context.Context) {
		fire := false
		once.Do(func() { fire = true })
		if fire {
			panic("boom")
		}
	}}
	s := startServer(t, Config{}, h)
	bad := dial(t, s)
	_, _ = bad.Write(signOnFrame(t, 1))
	expectClosed(t, bad)
	good := dial(t, s)
	_, _ = good.Write(signOnFrame(t, 2))
	readSTANs(t, good, 1)
	if s.Stats().Panics != 1 {
		t.Fatalf("panics = %d", s.Stats().Panics)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     Config
		setting string
	}{
		{Config{MaxFrame: 10}, "MaxFrame"},
		{Config{MaxInFlight: -1}, "MaxInFlight"},
		{Config{Listen: "nonsense"}, "Listen"},
		{Config{IdleTimeout: -time.Second}, "timeouts"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Setting != tt.setting || !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want a ConfigError for %s", tt.cfg, err, tt.setting)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if _, err := New(Config{}, nil, nil); err == nil {
		t.Fatal("New without a handler")
	}
}

// A frame that has begun must be whole within FrameTimeout, however long IdleTimeout is: a
// declared length followed by nothing, a frame trickled in byte by byte, and the rest of a
// frame whose first bytes came with the previous one each close the connection; a connection
// that idles longer than FrameTimeout between whole frames is still served.
func TestFrameTimeout(t *testing.T) {
	checkNoLeak(t)
	s := startServer(t, Config{IdleTimeout: time.Minute, FrameTimeout: 100 * time.Millisecond}, &echoHandler{})
	waitStat := func(what string, get func(Stats) int64, want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for get(s.Stats()) != want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := get(s.Stats()); got != want {
			t.Fatalf("%s = %d, want %d", what, got, want)
		}
	}
	frameTimeouts := func(st Stats) int64 { return st.FrameTimeouts }

	c := dial(t, s)
	_, _ = c.Write([]byte{0x10, 0x00}) // 4096 bytes announced, none sent
	expectClosed(t, c)
	waitStat("frame timeouts", frameTimeouts, 1)

	trickle := dial(t, s)
	frame := signOnFrame(t, 1)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for _, b := range frame {
			if _, err := trickle.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	expectClosed(t, trickle)
	<-wrote
	waitStat("frame timeouts", frameTimeouts, 2)

	c = dial(t, s)
	_, _ = c.Write(append(signOnFrame(t, 2), signOnFrame(t, 3)[:5]...))
	readSTANs(t, c, 1)
	expectClosed(t, c)
	waitStat("frame timeouts", frameTimeouts, 3)
	if got := s.Stats().Requests; got != 1 {
		t.Fatalf("requests = %d, want 1 (only the whole frame)", got)
	}

	c = dial(t, s)
	for stan := 4; stan <= 5; stan++ {
		time.Sleep(300 * time.Millisecond) // idle, three frame timeouts long
		_, _ = c.Write(signOnFrame(t, stan))
		readSTANs(t, c, 1)
	}
	if st := s.Stats(); st.FrameTimeouts != 3 || st.IdleClosed != 0 {
		t.Fatalf("stats %+v: want 3 frame timeouts, none idle", st)
	}
}
