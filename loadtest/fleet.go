package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"

	"github.com/posgate/posgate/loadtest/termsim"
)

// Test cards: BIN 622202 (the built-in routing table's CUP debit range), 19 digits with a valid
// Luhn check digit, expiry 2030-12, a track 2 with the same PAN, and the simulator's PIN.
const (
	cardBIN    = "622202"
	cardCount  = 64
	cardExpiry = "3012"
)

// testCards returns n cards drawn from rng.
func testCards(rng *rand.Rand, n int, pin string) []termsim.Card {
	cards := make([]termsim.Card, n)
	for i := range cards {
		b := []byte(cardBIN)
		for len(b) < 18 {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		b = append(b, luhn(b))
		pan := string(b)
		cards[i] = termsim.Card{PAN: pan, Expiry: cardExpiry, PIN: pin, Track2: pan + "D" + cardExpiry + "201" + "0000000000"}
	}
	return cards
}

// luhn returns the check digit for the digits of b.
func luhn(b []byte) byte {
	sum := 0
	for i := len(b) - 1; i >= 0; i-- {
		d := int(b[i] - '0')
		if (len(b)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// dialer spreads connections over loopback source addresses (127.0.0.1, 127.0.0.2, …,
// ConnsPerSourceAddr each) when the target is IPv4 loopback, so thousands of connections stay
// under the gateway's per-address limit. Elsewhere it dials plainly.
type dialer struct {
	spread bool
	base   netip.Addr
}

func newDialer(target string) dialer {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return dialer{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().Is4() || !isLoopback(a) {
		return dialer{}
	}
	return dialer{spread: true, base: netip.AddrFrom4([4]byte{127, 0, 0, 1})}
}

// source returns the local address of connection slot i.
func (d dialer) source(slot int) netip.Addr {
	n := slot / ConnsPerSourceAddr // 0 → 127.0.0.1
	b := d.base.As4()
	v := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{127, byte(v >> 16), byte(v >> 8), byte(v)})
}

// dialFunc returns a dial function for connection slot i (a terminal redials from the same
// source). A source address the system refuses falls back to a plain dial.
func (d dialer) dialFunc(slot int, timeout func() net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := timeout()
		if d.spread && slot >= ConnsPerSourceAddr {
			nd.LocalAddr = &net.TCPAddr{IP: d.source(slot).AsSlice()}
			c, err := nd.DialContext(ctx, network, addr)
			if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) {
				return c, err
			}
			nd.LocalAddr = nil
		}
		return nd.DialContext(ctx, network, addr)
	}
}

// setUp creates, activates and signs on the fleet's terminals, timing the two phases.
func (r *Runner) setUp(ctx context.Context, ids []identity, codes []string) error {
	cards := testCards(r.rng, cardCount, r.cfg.PIN)
	r.workers = make([]*worker, len(ids))
	for i, id := range ids {
		w := &worker{cards: cards, jobs: make(chan job, 1), rng: rand.New(rand.NewPCG(r.seed, uint64(i)+1)),
			books: r.cfg.Books != nil}
		term, err := termsim.New(termsim.Config{
			Addr: r.cfg.Target, SN: id.SN, KeyPool: r.keys, Timeout: r.cfg.Timeout, KeepSettings: true,
			Dial:       r.dial.dialFunc(i, func() net.Dialer { return net.Dialer{Timeout: r.cfg.Timeout} }),
			OnReversal: w.reversalDelivered,
			OnAdvice:   w.adviceDelivered,
		})
		if err != nil {
			return err
		}
		w.term = term
		r.workers[i] = w
	}
	t0 := r.now()
	err := parallel(ctx, len(ids), r.cfg.SetupConcurrency, func(ctx context.Context, i int) error {
		w := r.workers[i]
		if _, err := w.term.Activate(ctx, codes[i], nil); err != nil {
			return fmt.Errorf("loadtest: activate %s: %w", ids[i].TID, err)
		}
		if w.term.TID() != ids[i].TID {
			return fmt.Errorf("loadtest: activation of %s answered TID %q", ids[i].TID, w.term.TID())
		}
		return nil
	})
	r.rep.Setup.ActivateS = seconds(r.now().Sub(t0))
	if err != nil {
		return err
	}
	r.progressf("activated %d terminals in %.2f s", len(ids), r.rep.Setup.ActivateS)
	t0 = r.now()
	err = parallel(ctx, len(ids), r.cfg.SetupConcurrency, func(ctx context.Context, i int) error {
		if _, err := r.workers[i].term.SignOn(ctx); err != nil {
			return fmt.Errorf("loadtest: sign on %s: %w", ids[i].TID, err)
		}
		return nil
	})
	r.rep.Setup.SignOnS = seconds(r.now().Sub(t0))
	if err != nil {
		return err
	}
	r.progressf("signed on %d terminals in %.2f s", len(ids), r.rep.Setup.SignOnS)
	return nil
}

// settleAll settles every terminal's batch (0500, and the upload when the gateway's totals
// differ) and counts the outcomes.
func (r *Runner) settleAll(ctx context.Context) {
	t0 := r.now()
	_ = parallel(ctx, len(r.workers), r.cfg.SetupConcurrency, func(ctx context.Context, i int) error {
		r.workers[i].settleBatch(ctx, r.rec)
		return nil // one failed settlement does not stop the others
	})
	r.rep.Setup.SettleS = seconds(r.now().Sub(t0))
	b, first := r.rec.batchCounts()
	r.progressf("settled %d batches in %.2f s; over the run %d balanced, %d not balanced (uploaded), %d failed",
		len(r.workers), r.rep.Setup.SettleS, b.Balanced, b.Unbalanced, b.Failed)
	if first != "" {
		r.progressf("first failed settlement: %s", first)
	}
}
