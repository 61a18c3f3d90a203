// Package gateway is the terminal-facing server: it accepts TCP connections from POS terminals,
// reads frames, hands each to a Handler and writes the responses back as they complete.
//
// Connections may be short (one exchange) or long (many, possibly pipelined: several requests in
// flight, answered in completion order, since terminals match responses on MTI + fields 11/41).
// The server enforces limits on connections (in total and per remote address), an idle timeout,
// write deadlines, the maximum frame size and the number of requests in flight per connection.
//
// A frame that cannot be read (oversize, bad TPDU, cut off) closes the connection: the stream
// cannot be resynchronized. Shutdown stops accepting, stops reading new requests, lets every
// request in flight finish (the Handler answers it, or reverses it when the answer cannot be
// delivered), then closes the connections.
package gateway
