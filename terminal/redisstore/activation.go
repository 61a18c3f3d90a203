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

// RecordWrongProof implements terminal.Store.
func (s *Store) RecordWrongProof(ctx context.Context, sn string) (int, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return 0, err
	}
	tid, err := s.snHolder(ctx, sn)
	if err != nil {
		return 0, err
	}
	n, err := wrongProof.Run(ctx, s.rdb, []string{s.k.terminal(tid), s.k.code(tid)},
		sn, strconv.Itoa(terminal.MaxWrongProofs)).Int()
	if err != nil {
		return 0, s.scriptErr("record wrong proof", err, terminal.KindActivationCode, sn, tid)
	}
	if n >= terminal.MaxWrongProofs {
		return 0, terminal.NewRecordError(terminal.KindSN, sn, terminal.ErrLocked)
	}
	return terminal.MaxWrongProofs - n, nil
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
		sn, ver, key, micros(s.now()), strconv.Itoa(terminal.MaxWrongProofs)).Slice()
	if err != nil {
		return terminal.Terminal{}, s.scriptErr("activate", err, terminal.KindActivationCode, sn, tid)
	}
	return s.decodeReply(res)
}
