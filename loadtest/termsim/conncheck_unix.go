//go:build unix

package termsim

import (
	"errors"
	"net"
	"syscall"
)

// connAlive reports whether the peer of an idle connection has not closed it, by peeking at
// the socket without blocking: end of stream (or an error) means the gateway closed the long
// connection while it was idle, so the next request must go on a new one rather than be lost
// (and then reversed). Bytes waiting (a stray frame) leave the connection alive: the reader
// discards them as unmatched. Connections that are not TCP are assumed alive.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR):
		case err != nil || n == 0:
			alive = false
		}
		return true // never wait for readiness
	})
	return err == nil && alive
}
