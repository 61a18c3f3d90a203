package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// The activation code of a terminal lives in its own hash next to the terminal's, sharing the
// {TID} tag, so spending it and installing the TMK is one script. Lookups by SN go through the
// SN index and the script checks that the terminal still holds the SN.

// IssueActivationCode implements terminal.Store.
func (s *Store) IssueActivationCode(ctx context.Context, tid string, verifier hsm.WrappedKey, ttl time.Duration) (terminal.ActivationCode, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.ActivationCode{}, err
	}
	if err := terminal.ValidVerifier(verifier); err != nil {
		return terminal.ActivationCode{}, err
	}
	ttl, err := terminal.CodeTTL(ttl)
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	ver, err := keyText(verifier)
	if err != nil {
		return terminal.ActivationCode{}, &terminal.FieldError{Field: "Verifier", Reason: "must be a wrapped ACV"}
	}
	now := s.now()
	res, err := issueCode.Run(ctx, s.rdb, []string{s.k.terminal(tid), s.k.code(tid)},
		tid, ver, micros(now), micros(now.Add(ttl))).Slice()
	if err != nil {
		return terminal.ActivationCode{}, s.scriptErr("issue activation code", err, terminal.KindTerminal, tid, tid)
	}
	return decodeCode(pairs(res))
}

// GetActivationCode implements terminal.Store.
func (s *Store) GetActivationCode(ctx context.Context, sn string) (terminal.ActivationCode, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.ActivationCode{}, err
	}
	tid, err := s.snHolder(ctx, sn)
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	res, err := getCode.Run(ctx, s.rdb, []string{s.k.terminal(tid), s.k.code(tid)}, sn).Slice()
	if err != nil {
		return terminal.ActivationCode{}, s.scriptErr("get activation code", err, terminal.KindActivationCode, sn, tid)
	}
	c, err := decodeCode(pairs(res))
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	if err := c.Usable(s.now()); err != nil {
		return terminal.ActivationCode{}, err
	}
	return c, nil
}

// ClaimProof implements terminal.Store.
func (s *Store) ClaimProof(ctx context.Context, sn string) (terminal.ActivationCode, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.ActivationCode{}, err
	}
	tid, err := s.snHolder(ctx, sn)
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	res, err := claimProof.Run(ctx, s.rdb, []string{s.k.terminal(tid), s.k.code(tid)},
		sn, micros(s.now()), strconv.Itoa(terminal.FreeProofs),
		strconv.FormatInt(terminal.ProofBackoffBase.Microseconds(), 10),
		strconv.FormatInt(terminal.MaxProofBackoff.Microseconds(), 10)).Slice()
	if err != nil {
		return terminal.ActivationCode{}, s.scriptErr("claim activation proof", err, terminal.KindActivationCode, sn, tid)
	}
	return decodeCode(pairs(res))
}

// UnlockActivation implements terminal.Store.
func (s *Store) UnlockActivation(ctx context.Context, tid string) (terminal.ActivationCode, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.ActivationCode{}, err
	}
	res, err := unlockCode.Run(ctx, s.rdb, []string{s.k.code(tid)}).Slice()
	if err != nil {
		return terminal.ActivationCode{}, s.scriptErr("unlock activation", err, terminal.KindActivationCode, tid, tid)
	}
	return decodeCode(pairs(res))
}

// Activate implements terminal.Store.
func (s *Store) Activate(ctx context.Context, sn string, verifier, tmk hsm.WrappedKey) (terminal.Terminal, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidVerifier(verifier); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidTMK(tmk); err != nil {
		return terminal.Terminal{}, err
	}
	ver, err1 := keyText(verifier)
	key, err2 := keyText(tmk)
	if err1 != nil || err2 != nil {
		return terminal.Terminal{}, &terminal.FieldError{Field: "Keys", Reason: "must be wrapped keys"}
	}
	tid, err := s.snHolder(ctx, sn)
	if err != nil {
		return terminal.Terminal{}, err
	}
	res, err := activate.Run(ctx, s.rdb, []string{s.k.terminal(tid), s.k.code(tid)},
		sn, ver, key, micros(s.now())).Slice()
	if err != nil {
		return terminal.Terminal{}, s.scriptErr("activate", err, terminal.KindActivationCode, sn, tid)
	}
	return s.decodeReply(res)
}
