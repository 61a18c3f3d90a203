package statetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/posgate/posgate/gateway"
)

// testReserveNewCompleteDone: the first Reserve owns the request; after Complete, a
// retransmission with the same content gets the stored frame byte for byte, in a copy.
func testReserveNewCompleteDone(t *testing.T, e *env) {
	k, h := rkey(1), hash(0xa1)
	e.wantReserve(t, k, h, gateway.ReserveNew)
	resp := frame(40)
	want := bytes.Clone(resp)
	if err := e.Complete(e.ctx, k, resp, ttl); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	resp[0] ^= 0xff // Complete must have copied
	got := e.wantReserve(t, k, h, gateway.ReserveDone)
	if !bytes.Equal(got, want) {
		t.Fatalf("ReserveDone response = %x, want %x", got, want)
	}
	got[1] ^= 0xff // the returned frame is the caller's
	if again := e.wantReserve(t, k, h, gateway.ReserveDone); !bytes.Equal(again, want) {
		t.Fatalf("second ReserveDone response = %x, want %x", again, want)
	}
}

// testReserveBusy: while the owner has neither completed nor released, a retransmission with
// the same content is told the request is busy, however often it asks.
func testReserveBusy(t *testing.T, e *env) {
	k, h := rkey(2), hash(0xb2)
	e.wantReserve(t, k, h, gateway.ReserveNew)
	for range 3 {
		e.wantReserve(t, k, h, gateway.ReserveBusy)
	}
}

// testReserveConflict: the same key with different content is a conflict, while busy and once
// done, and does not disturb the owner's entry.
func testReserveConflict(t *testing.T, e *env) {
	k, h := rkey(3), hash(0xc3)
	e.wantReserve(t, k, h, gateway.ReserveNew)
	e.wantReserve(t, k, hash(0xc4), gateway.ReserveConflict)
	e.wantReserve(t, k, h, gateway.ReserveBusy)
	want := frame(3)
	if err := e.Complete(e.ctx, k, want, ttl); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	h2 := h
	h2[15] ^= 1 // one bit differs
	e.wantReserve(t, k, h2, gateway.ReserveConflict)
	if got := e.wantReserve(t, k, h, gateway.ReserveDone); !bytes.Equal(got, want) {
		t.Fatalf("ReserveDone response = %x, want %x", got, want)
	}
}

// testReserveKeyParts: TID, batch, STAN and MTI each tell requests apart.
func testReserveKeyParts(t *testing.T, e *env) {
	base := gateway.RetransmitKey{TID: tid1, Batch: 7, STAN: 100, MTI: "0200"}
	h := hash(0xd4)
	e.wantReserve(t, base, h, gateway.ReserveNew)
	tests := []struct {
		name string
		key  gateway.RetransmitKey
	}{
		{"TID", gateway.RetransmitKey{TID: tid2, Batch: 7, STAN: 100, MTI: "0200"}},
		{"Batch", gateway.RetransmitKey{TID: tid1, Batch: 8, STAN: 100, MTI: "0200"}},
		{"STAN", gateway.RetransmitKey{TID: tid1, Batch: 7, STAN: 101, MTI: "0200"}},
		{"MTI", gateway.RetransmitKey{TID: tid1, Batch: 7, STAN: 100, MTI: "0400"}},
		// A TID that is a prefix of another and numbers that run together must not collide.
		{"TIDPrefix", gateway.RetransmitKey{TID: tid1[:7], Batch: 17, STAN: 100, MTI: "0200"}},
		{"BatchSTAN", gateway.RetransmitKey{TID: tid1, Batch: 71, STAN: 0, MTI: "0200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantReserve(t, tt.key, h, gateway.ReserveNew)
			e.wantReserve(t, tt.key, h, gateway.ReserveBusy)
		})
	}
	e.wantReserve(t, base, h, gateway.ReserveBusy)
}

// testRelease: a released reservation is processed afresh, with any content; releasing an
// unknown key is no error; Release never drops a stored response.
func testRelease(t *testing.T, e *env) {
	k := rkey(5)
	e.wantReserve(t, k, hash(0xe5), gateway.ReserveNew)
	if err := e.Release(e.ctx, k); err != nil {
		t.Fatalf("Release: %v", err)
	}
	e.wantReserve(t, k, hash(0xe6), gateway.ReserveNew) // new content is no conflict after Release
	e.wantReserve(t, k, hash(0xe6), gateway.ReserveBusy)
	if err := e.Release(e.ctx, rkey(999)); err != nil {
		t.Fatalf("Release of an unknown key: %v", err)
	}
	want := frame(5)
	if err := e.Complete(e.ctx, k, want, ttl); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if err := e.Release(e.ctx, k); err != nil {
		t.Fatalf("Release after Complete: %v", err)
	}
	if got := e.wantReserve(t, k, hash(0xe6), gateway.ReserveDone); !bytes.Equal(got, want) {
		t.Fatalf("ReserveDone after Release = %x, want %x", got, want)
	}
}

// testCompleteUnreserved: a Complete without a reservation (it expired, or was released) still
// stores the response; the content it answered is unknown, so a retransmission is a conflict.
func testCompleteUnreserved(t *testing.T, e *env) {
	k := rkey(6)
	if err := e.Complete(e.ctx, k, frame(6), ttl); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	e.wantReserve(t, k, hash(0xf6), gateway.ReserveConflict)
}

// testReserveInvalidTTL: a ttl that is not positive is refused, and reserves nothing.
func testReserveInvalidTTL(t *testing.T, e *env) {
	k := rkey(7)
	for _, d := range []time.Duration{0, -time.Second} {
		if r, _, err := e.Reserve(e.ctx, k, hash(1), d); err == nil {
			t.Errorf("Reserve with ttl %v = %s, want an error", d, name(r))
		}
		if err := e.Complete(e.ctx, k, frame(0), d); err == nil {
			t.Errorf("Complete with ttl %v: no error", d)
		}
	}
	e.wantReserve(t, k, hash(1), gateway.ReserveNew)
}

// testReserveExpiry: reservations and stored responses expire after their ttl (a short real
// one, polled); a Busy or Done answer does not extend it.
func testReserveExpiry(t *testing.T, e *env) {
	const short = time.Second
	busy, done := rkey(8), rkey(9)
	h := hash(0x99)
	for _, k := range []gateway.RetransmitKey{busy, done} {
		if r, _, err := e.Reserve(e.ctx, k, h, short); err != nil || r != gateway.ReserveNew {
			t.Fatalf("Reserve(%+v) = %s, %v; want ReserveNew", k, name(r), err)
		}
	}
	if err := e.Complete(e.ctx, done, frame(9), short); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	for _, k := range []gateway.RetransmitKey{busy, done} {
		eventually(t, fmt.Sprintf("expiry of STAN %d", k.STAN), func() bool {
			r, _, err := e.Reserve(e.ctx, k, h, ttl)
			if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			switch r {
			case gateway.ReserveNew:
				return true
			case gateway.ReserveBusy, gateway.ReserveDone:
				return false
			}
			t.Fatalf("Reserve(%+v) while waiting for expiry = %s", k, name(r))
			return false
		})
	}
}

// testRestore: an answer recovered from the journal replaces a crashed owner's reservation and
// is then served under its hash (other content conflicts); it never replaces a stored answer.
func testRestore(t *testing.T, e *env) {
	k, h := rkey(9), hash(0x9e)
	e.wantReserve(t, k, h, gateway.ReserveNew) // the owner crashes here
	want := frame(9)
	if err := e.Restore(e.ctx, k, h, want, ttl); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := e.wantReserve(t, k, h, gateway.ReserveDone); !bytes.Equal(got, want) {
		t.Fatalf("after Restore: response = %x, want %x", got, want)
	}
	e.wantReserve(t, k, hash(0x9f), gateway.ReserveConflict)
	if err := e.Restore(e.ctx, k, h, frame(10), ttl); err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	if got := e.wantReserve(t, k, h, gateway.ReserveDone); !bytes.Equal(got, want) {
		t.Fatalf("a second Restore replaced the answer: %x, want %x", got, want)
	}
	// Without any entry (the node restarted with empty memory), Restore stores it.
	k2 := rkey(10)
	if err := e.Restore(e.ctx, k2, h, want, ttl); err != nil {
		t.Fatalf("Restore of an unknown key: %v", err)
	}
	if got := e.wantReserve(t, k2, h, gateway.ReserveDone); !bytes.Equal(got, want) {
		t.Fatalf("restored response = %x, want %x", got, want)
	}
	if err := e.Restore(e.ctx, k2, h, want, 0); err == nil {
		t.Fatalf("Restore with ttl 0 succeeded")
	}
}
