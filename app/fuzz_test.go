package app_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/loadtest/termsim"
)

// fuzzNode starts an embedded node (with its issuer simulator) for a fuzz target and returns it
// with a terminal activated and signed on: its working keys are real, so a fuzzed message it
// MACs gets past authentication.
func fuzzNode(f *testing.F) (*app.Node, *termsim.Terminal) {
	f.Helper()
	dir := f.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node, err := app.Start(ctx, app.Config{Listen: "127.0.0.1:0", DataDir: dir, DemoTerminals: 1, CheckpointInterval: -1,
		Gateway: gatewayFuzzLimits}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		_ = node.Shutdown(sctx)
	})
	file, err := os.Open(filepath.Join(dir, "demo-terminals.csv"))
	if err != nil {
		f.Fatal(err)
	}
	rows, err := csv.NewReader(file).ReadAll()
	file.Close()
	if err != nil || len(rows) < 2 {
		f.Fatalf("demo terminals: %v", err)
	}
	term, err := termsim.New(termsim.Config{Addr: node.GatewayAddr().String(), SN: rows[1][2], KeyPool: keys,
		Timeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = term.Close() })
	if _, err := term.Activate(ctx, rows[1][3], nil); err != nil {
		f.Fatal(err)
	}
	if _, err := term.SignOn(ctx); err != nil {
		f.Fatal(err)
	}
	return node, term
}

// gatewayFuzzLimits keep a fuzzed frame that stops short from holding the connection long.
var gatewayFuzzLimits = gateway.Config{FrameTimeout: 200 * time.Millisecond}

// fuzzSeeds are message bodies of the kinds a terminal sends (the MAC is filled in by the
// terminal when 64 is present).
func fuzzSeeds(f *testing.F, term *termsim.Terminal) [][]byte {
	f.Helper()
	build := func(mti string, fields map[int]string, mac bool) []byte {
		m := codec.NewMessage(codec.Terminal)
		if err := m.SetMTI(mti); err != nil {
			f.Fatal(err)
		}
		for n, v := range fields {
			if err := m.SetString(n, v); err != nil {
				f.Fatalf("seed %s field %d: %v", mti, n, err)
			}
		}
		if mac {
			if err := m.Set(64, make([]byte, 8)); err != nil {
				f.Fatal(err)
			}
		}
		b, err := m.Pack(nil)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	stan := 100
	ids := func(extra map[int]string) map[int]string {
		stan++
		m := map[int]string{11: fmt.Sprintf("%06d", stan), 41: term.TID(), 42: term.MID()}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	return [][]byte{
		build("0200", ids(map[int]string{2: testPAN, 3: "000000", 4: "000000001000", 22: "021", 25: "00", 49: "156",
			60: "22000001000"}), true),
		build("0200", ids(map[int]string{2: testPAN, 3: "310000", 22: "021", 25: "00", 49: "156", 60: "01000001000"}), true),
		build("0200", ids(map[int]string{2: testPAN, 3: "200000", 4: "000000001000", 25: "00", 37: "000000000001",
			49: "156", 60: "23000001000", 61: "000001000007"}), true),
		build("0220", ids(map[int]string{2: testPAN, 3: "200000", 4: "000000000500", 25: "00", 37: "000000000001",
			49: "156", 60: "25000001000", 61: "000001000007"}), true),
		build("0400", ids(map[int]string{2: testPAN, 3: "000000", 4: "000000001000", 25: "00", 39: "98", 49: "156",
			60: "22000001000"}), true),
		build("0500", ids(map[int]string{48: "000000000000000000000000000000000000000000000000000000000000000",
			49: "156", 60: "00000001201", 63: "01 "}), true),
		build("0800", ids(map[int]string{60: "00000001003", 63: "01 "}), false),
		build("0820", ids(map[int]string{60: "00000001301"}), false),
	}
}

// FuzzSignedOnSession feeds messages to a signed-on terminal's session through the real node:
// each input that unpacks as a terminal message is sent MACed under the terminal's real MAK (so
// it reaches the transaction flows: limits, originals, upstream, journal); one that does not is
// sent as the body of a frame as it is. Whatever comes in, the node answers or closes the
// connection, never panics, and still serves the terminal afterwards.
func FuzzSignedOnSession(f *testing.F) {
	node, term := fuzzNode(f)
	for _, s := range fuzzSeeds(f, term) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		m := codec.NewMessage(codec.Terminal)
		if m.Unpack(body) == nil && len(m.MTI()) == 4 {
			_, err := term.Exchange(ctx, m)
			var de *termsim.ExchangeError
			if err != nil && !errors.As(err, &de) && !errors.Is(err, termsim.ErrResponseMAC) {
				t.Fatalf("exchange: %v", err)
			}
		} else {
			frame, err := codec.AppendFrameBody(nil, termsim.DefaultTPDU, devHeader, body)
			if err == nil {
				_, _ = term.SendRaw(ctx, frame)
			}
		}
		if p := node.Gateway.Stats().Panics; p != 0 {
			t.Fatalf("the gateway recovered %d panics", p)
		}
		if _, err := term.Echo(ctx); err != nil {
			t.Fatalf("the terminal is not served after the input: %v", err)
		}
	})
}

// FuzzTCPStream writes arbitrary bytes to a fresh connection of the node's terminal listener —
// frames cut, lengths out of range, several frames at once — and closes it: the node answers or
// closes, never panics, and a signed-on terminal is still served.
func FuzzTCPStream(f *testing.F) {
	node, term := fuzzNode(f)
	for _, s := range fuzzSeeds(f, term) {
		frame, err := codec.AppendFrameBody(nil, termsim.DefaultTPDU, devHeader, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
		f.Add(append(append([]byte{}, frame...), frame[:len(frame)/2]...))
	}
	f.Add([]byte{0x10, 0x00})
	f.Add([]byte{0xff, 0xff, 0x60})
	addr := node.GatewayAddr().String()
	f.Fuzz(func(t *testing.T, stream []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		// Write the stream, end it (a client that stops sending mid-frame), and read whatever
		// the gateway answers until it closes: an exec ends as soon as the gateway is done with
		// the input, not after a response timeout.
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Write(stream)
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
		_ = c.Close()
		if p := node.Gateway.Stats().Panics; p != 0 {
			t.Fatalf("the gateway recovered %d panics", p)
		}
		if _, err := term.Echo(ctx); err != nil {
			t.Fatalf("the terminal is not served after the input: %v", err)
		}
	})
}
