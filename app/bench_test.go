package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/tlstest"
	"github.com/posgate/posgate/loadtest/termsim"
)

// BenchmarkPurchase runs purchases with PIN through the whole chain in one process: terminal
// simulators over TCP, the gateway (MAC, SN check, PIN translation, duplicate check), NATS
// request/reply to the issuer simulator, the durable journal (fsync on), batch totals. One
// terminal per parallel goroutine, each with one request outstanding, as real terminals.
// purchases/s is the chain's throughput on this machine; allocs/op counts every allocation of
// the process (terminal simulator, NATS client and server, journal included) — see
// BENCHMARKS.md for the gateway's own share.
func BenchmarkPurchase(b *testing.B) { benchPurchase(b, false, false) }

// BenchmarkPurchaseMemoryLedger is BenchmarkPurchase with the simulator's ledger in memory: the
// difference is the cost of the issuer's own durable write per authorization.
func BenchmarkPurchaseMemoryLedger(b *testing.B) { benchPurchase(b, true, false) }

// BenchmarkPurchaseTLS is BenchmarkPurchaseMemoryLedger with the terminals on the TLS listener
// (long connections: one handshake per terminal, then record encryption per frame).
func BenchmarkPurchaseTLS(b *testing.B) { benchPurchase(b, true, true) }

func benchPurchase(b *testing.B, memoryLedger, overTLS bool) {
	ctx := context.Background()
	cfg := app.Config{Listen: "127.0.0.1:0", DataDir: b.TempDir(), SimMemoryLedger: memoryLedger}
	var tweak func(*termsim.Config)
	if overTLS {
		certs := tlstest.Write(b)
		cfg.TLSListen, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", certs.ServerCert, certs.ServerKey
		pem, err := os.ReadFile(certs.CA)
		if err != nil {
			b.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		tweak = func(c *termsim.Config) {
			c.Dial = (&tls.Dialer{Config: &tls.Config{RootCAs: roots, ServerName: "localhost"}}).DialContext
		}
	}
	node, err := app.Start(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = node.Shutdown(context.Background()) }()
	if overTLS {
		addr := node.GatewayTLSAddr().String()
		dial := tweak
		tweak = func(c *termsim.Config) { dial(c); c.Addr = addr }
	}
	var seq atomic.Int64
	terminals := make(chan *termsim.Terminal, 64)
	newTerminal := func() *termsim.Terminal {
		i := seq.Add(1)
		tid, sn := fmt.Sprintf("B%07d", i), fmt.Sprintf("0000020210B%07d", i)
		term, err := provisionReadyWith(ctx, node, tid, sn, tweak)
		if err != nil {
			b.Fatal(err)
		}
		return term
	}
	for i := 0; i < 8; i++ {
		terminals <- newTerminal()
	}
	b.ReportAllocs()
	b.SetParallelism(4) // 4 × GOMAXPROCS terminals in flight
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var term *termsim.Terminal
		select {
		case term = <-terminals:
		default:
			term = newTerminal()
		}
		c := termsim.Card{PAN: testPAN, PIN: testPIN, Expiry: "3012"}
		for pb.Next() {
			res, err := term.Purchase(ctx, c, 1200)
			if err != nil || res.Code != "00" {
				b.Errorf("purchase: %s %v", res.Code, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "purchases/s")
}
