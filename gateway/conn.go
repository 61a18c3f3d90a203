package gateway

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
)

// conn is one terminal connection: a reader loop that hands frames to handler goroutines (at most
// MaxInFlight at once) and a write lock that keeps response frames whole.
type conn struct {
	s    *Server
	nc   net.Conn
	addr netip.Addr
	rd   *codec.Reader
	in   frameDeadline // what rd reads from
	sem  chan struct{}
	wg   sync.WaitGroup // handlers in flight

	wmu      sync.Mutex
	stopping atomic.Bool
	broken   atomic.Bool // a write failed or a handler panicked: read no more
}

// request is a frame copied out of the reader's buffer for a handler goroutine; pooled.
type request struct {
	frame codec.Frame
	body  []byte
}

var requestPool = sync.Pool{New: func() any { return &request{body: make([]byte, 0, 512)} }}

func newConn(s *Server, nc net.Conn, addr netip.Addr) *conn {
	c := &conn{s: s, nc: nc, addr: addr, sem: make(chan struct{}, s.cfg.MaxInFlight)}
	c.in = frameDeadline{nc: nc, timeout: s.cfg.FrameTimeout, stopping: &c.stopping}
	c.rd = codec.NewReader(&c.in, s.cfg.MaxFrame)
	return c
}

// frameDeadline reads the connection for the frame reader and moves the read deadline from
// the idle timeout to the frame timeout when the first byte of a frame arrives.
type frameDeadline struct {
	nc       net.Conn
	timeout  time.Duration
	stopping *atomic.Bool // the conn's: shutdown's immediate deadline must not be pushed out
	begun    bool         // a byte of the frame being read has arrived
}

// await arms the deadline for the next frame: the idle timeout, or the frame timeout when
// buffered bytes have begun it already.
func (d *frameDeadline) await(idle time.Duration, buffered bool) {
	d.begun = buffered
	if buffered {
		idle = d.timeout
	}
	_ = d.nc.SetReadDeadline(time.Now().Add(idle))
}

func (d *frameDeadline) Read(p []byte) (int, error) {
	n, err := d.nc.Read(p)
	if n > 0 && !d.begun {
		d.begun = true
		_ = d.nc.SetReadDeadline(time.Now().Add(d.timeout))
		if d.stopping.Load() { // stopReading ran meanwhile: its deadline stands
			_ = d.nc.SetReadDeadline(time.Now())
		}
	}
	return n, err
}

// serve reads frames until the terminal closes, the connection idles out, a frame is unreadable
// or the server shuts down; then it waits for the handlers in flight and closes.
func (c *conn) serve() {
	defer func() {
		c.wg.Wait()
		_ = c.nc.Close()
	}()
	for !c.stopping.Load() && !c.broken.Load() {
		c.in.await(c.s.cfg.IdleTimeout, c.rd.Buffered() > 0)
		f, err := c.rd.Next()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.sem <- struct{}{}
		r := requestPool.Get().(*request)
		r.body = append(r.body[:0], f.Body...)
		r.frame = codec.Frame{TPDU: f.TPDU, Header: f.Header, Body: r.body}
		c.wg.Add(1)
		c.s.stats.requests.Add(1)
		c.s.stats.inFlight.Add(1)
		go c.handle(r)
	}
}

func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		// the terminal hung up, or shutdown closed the socket
	case c.stopping.Load():
		// shutdown interrupted the read
	case (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)) && c.in.begun:
		c.s.stats.frameTimeouts.Add(1)
		c.s.log.Info("closing connection: frame not completed in time", zap.String("remote", c.addr.String()),
			zap.Duration("frame_timeout", c.s.cfg.FrameTimeout))
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		c.s.stats.idleClosed.Add(1)
	case errors.Is(err, codec.ErrFrameTooLarge), errors.Is(err, codec.ErrFrameTooShort),
		errors.Is(err, codec.ErrTPDU), errors.Is(err, io.ErrUnexpectedEOF):
		c.s.stats.frameErrors.Add(1)
		c.s.log.Info("closing connection: unreadable frame", zap.String("remote", c.addr.String()), zap.Error(err))
	default:
		c.s.log.Debug("connection read failed", zap.String("remote", c.addr.String()), zap.Error(err))
	}
}

func (c *conn) handle(r *request) {
	defer func() {
		if p := recover(); p != nil {
			// A handler bug. Never print p: it could hold message data.
			c.s.stats.panics.Add(1)
			c.s.log.Error("handler panicked; closing the connection", zap.String("remote", c.addr.String()))
			c.broken.Store(true)
			_ = c.nc.Close()
		}
		r.frame = codec.Frame{}
		requestPool.Put(r)
		c.s.stats.inFlight.Add(-1)
		<-c.sem
		c.wg.Done()
	}()
	c.s.h.ServeFrame(c.s.baseCtx, r.frame, c)
}

// WriteFrame implements ResponseWriter.
func (c *conn) WriteFrame(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.broken.Load() {
		c.s.stats.writeFailures.Add(1)
		return net.ErrClosed
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if _, err := c.nc.Write(frame); err != nil {
		// A partial frame may have gone out: the stream is unusable.
		c.s.stats.writeFailures.Add(1)
		c.broken.Store(true)
		_ = c.nc.Close()
		return err
	}
	return nil
}

// Close implements ResponseWriter.
func (c *conn) Close() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.broken.Store(true)
	_ = c.nc.Close()
}

// RemoteAddr implements ResponseWriter.
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// stopReading makes the reader loop end at once (shutdown); handlers in flight go on.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	_ = c.nc.SetReadDeadline(time.Now())
}
