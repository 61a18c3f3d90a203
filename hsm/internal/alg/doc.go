// Package alg holds the card-payment algorithms that both sides of the terminal link compute: the
// security module (package hsm) with keys it unwraps from the LMK, and the terminal's secure
// element (package hsm/termcrypto) with the clear keys a device holds. Keeping one copy makes the
// two sides agree by construction; the golden vectors in hsm/testdata pin them to the outside world.
//
// Nothing here stores keys, logs or formats values into errors. Functions that call into a
// cipher.Block take a *Scratch for every buffer handed to Encrypt/Decrypt: a call through an
// interface makes its arguments escape, so buffers on the stack would cost an allocation per call.
package alg
