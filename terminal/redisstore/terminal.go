package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// CreateTerminal implements terminal.Store. Order of writes: SN index (set-if-absent), list
// indexes, then the terminal hash; a failed create removes what it added.
func (s *Store) CreateTerminal(ctx context.Context, in terminal.Terminal) (terminal.Terminal, error) {
	if err := in.Validate(); err != nil {
		return terminal.Terminal{}, err
	}
	t := terminal.NewRecord(in)
	now := s.now()
	t.CreatedAt, t.UpdatedAt, t.Revision = now, now, 1
	fields, err := terminalFields(&t)
	if err != nil {
		return terminal.Terminal{}, &terminal.FieldError{Field: "TMK", Reason: "must be a wrapped TMK"}
	}
	n, err := s.rdb.Exists(ctx, s.k.merchant(t.MID)).Result()
	if err != nil {
		return terminal.Terminal{}, s.wrap("create terminal", err)
	}
	if n == 0 {
		return terminal.Terminal{}, terminal.NewRecordError(terminal.KindMerchant, t.MID, terminal.ErrNotFound)
	}
	// A terminal that exists already is refused before its SN is touched: reserving the SN
	// first would otherwise let a duplicate create steal the SN of the terminal itself.
	if n, err := s.rdb.Exists(ctx, s.k.terminal(t.TID)).Result(); err != nil {
		return terminal.Terminal{}, s.wrap("create terminal", err)
	} else if n == 1 {
		return terminal.Terminal{}, terminal.NewRecordError(terminal.KindTerminal, t.TID, terminal.ErrExists)
	}
	if t.SN != "" {
		if err := s.reserveSN(ctx, t.SN, t.TID); err != nil {
			return terminal.Terminal{}, err
		}
	}
	pipe := s.rdb.Pipeline()
	pipe.ZAdd(ctx, s.k.terminals(), redis.Z{Member: t.TID})
	pipe.ZAdd(ctx, s.k.byMID(t.MID), redis.Z{Member: t.TID})
	_, err = pipe.Exec(ctx)
	if err == nil {
		var res []any
		res, err = createHash.Run(ctx, s.rdb, []string{s.k.terminal(t.TID)}, fields...).Slice()
		if err == nil {
			if t.SN != "" {
				if err := s.confirmSN(ctx, t.SN, t.TID); err != nil {
					return terminal.Terminal{}, err
				}
			}
			return s.decodeReply(res)
		}
		err = s.scriptErr("create terminal", err, terminal.KindTerminal, t.TID, t.TID)
	} else {
		err = s.wrap("create terminal", err)
	}
	s.undoCreate(ctx, &t)
	return terminal.Terminal{}, err
}

// undoCreate removes the index entries a failed create added, unless they belong to a
// terminal that exists under that TID (a concurrent create that won).
func (s *Store) undoCreate(ctx context.Context, t *terminal.Terminal) {
	ctx = context.WithoutCancel(ctx)
	cur, err := s.rdb.HMGet(ctx, s.k.terminal(t.TID), fMID, fSN).Result()
	if err != nil {
		return // best effort: stale index entries are skipped by every reader
	}
	curMID, exists := cur[0].(string)
	curSN, _ := cur[1].(string)
	if !exists {
		s.rdb.ZRem(ctx, s.k.terminals(), t.TID)
	}
	if curMID != t.MID {
		s.rdb.ZRem(ctx, s.k.byMID(t.MID), t.TID)
	}
	if t.SN != "" && curSN != t.SN {
		releaseSN.Run(ctx, s.rdb, []string{s.k.sn(t.SN)}, t.TID)
	}
}

// GetTerminal implements terminal.Store with one HGETALL.
func (s *Store) GetTerminal(ctx context.Context, tid string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	h, err := s.rdb.HGetAll(ctx, s.k.terminal(tid)).Result()
	if err != nil {
		return terminal.Terminal{}, s.wrap("get terminal", err)
	}
	if len(h) == 0 {
		return terminal.Terminal{}, terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrNotFound)
	}
	var t terminal.Terminal
	if err := decodeTerminal(h, &t); err != nil {
		return terminal.Terminal{}, err
	}
	return t, nil
}

// GetTerminalBySN implements terminal.Store: the SN index, then the terminal, which must still
// hold the SN.
func (s *Store) GetTerminalBySN(ctx context.Context, sn string) (terminal.Terminal, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.Terminal{}, err
	}
	tid, err := s.snHolder(ctx, sn)
	if err != nil {
		return terminal.Terminal{}, err
	}
	t, err := s.GetTerminal(ctx, tid)
	if errors.Is(err, terminal.ErrNotFound) || err == nil && t.SN != sn {
		return terminal.Terminal{}, terminal.NewRecordError(terminal.KindSN, sn, terminal.ErrNotFound)
	}
	return t, err
}

// snHolder returns the TID the SN index names (not checked against the terminal).
func (s *Store) snHolder(ctx context.Context, sn string) (string, error) {
	v, err := s.rdb.Get(ctx, s.k.sn(sn)).Result()
	if errors.Is(err, redis.Nil) {
		return "", terminal.NewRecordError(terminal.KindSN, sn, terminal.ErrNotFound)
	}
	if err != nil {
		return "", s.wrap("get SN", err)
	}
	if len(v) < terminal.TIDLen {
		return "", corrupt(terminal.KindSN, sn, "index")
	}
	return v[:terminal.TIDLen], nil
}

// UpdateTerminal implements terminal.Store. A MID change adds the terminal to the new
// merchant's index before the update and removes it from the old one after.
func (s *Store) UpdateTerminal(ctx context.Context, in terminal.Terminal) (terminal.Terminal, error) {
	if err := in.Validate(); err != nil {
		return terminal.Terminal{}, err
	}
	ops, err := terminal.NormalizeOperators(in.Operators)
	if err != nil {
		return terminal.Terminal{}, err
	}
	in.Operators = ops
	if in.MACAlgorithm == 0 {
		in.MACAlgorithm = hsm.MACPOSECB
	}
	oldMID, err := s.rdb.HGet(ctx, s.k.terminal(in.TID), fMID).Result()
	if errors.Is(err, redis.Nil) {
		return terminal.Terminal{}, terminal.NewRecordError(terminal.KindTerminal, in.TID, terminal.ErrNotFound)
	}
	if err != nil {
		return terminal.Terminal{}, s.wrap("update terminal", err)
	}
	moved := oldMID != in.MID
	if moved {
		n, err := s.rdb.Exists(ctx, s.k.merchant(in.MID)).Result()
		if err != nil {
			return terminal.Terminal{}, s.wrap("update terminal", err)
		}
		if n == 0 {
			return terminal.Terminal{}, terminal.NewRecordError(terminal.KindMerchant, in.MID, terminal.ErrNotFound)
		}
		if err := s.rdb.ZAdd(ctx, s.k.byMID(in.MID), redis.Z{Member: in.TID}).Err(); err != nil {
			return terminal.Terminal{}, s.wrap("update terminal", err)
		}
	}
	args := append([]any{strconv.FormatUint(in.Revision, 10), micros(s.now())}, profileFields(&in)...)
	res, err := updateHash.Run(ctx, s.rdb, []string{s.k.terminal(in.TID)}, args...).Slice()
	if err != nil {
		if moved {
			s.dropFromMID(ctx, in.TID, in.MID)
		}
		return terminal.Terminal{}, s.scriptErr("update terminal", err, terminal.KindTerminal, in.TID, in.TID)
	}
	if moved {
		s.dropFromMID(ctx, in.TID, oldMID)
	}
	return s.decodeReply(res)
}

// dropFromMID removes tid from mid's index unless the terminal belongs to mid.
func (s *Store) dropFromMID(ctx context.Context, tid, mid string) {
	ctx = context.WithoutCancel(ctx)
	if cur, err := s.rdb.HGet(ctx, s.k.terminal(tid), fMID).Result(); err == nil && cur == mid {
		return
	}
	s.rdb.ZRem(ctx, s.k.byMID(mid), tid)
}

// ListTerminals implements terminal.Store: it walks the merchant's index (or the index of all
// terminals) and filters on the records themselves, so a stale index entry is never listed.
func (s *Store) ListTerminals(ctx context.Context, q terminal.TerminalQuery) (terminal.TerminalPage, error) {
	if err := q.Validate(); err != nil {
		return terminal.TerminalPage{}, err
	}
	limit, _ := q.Normalize()
	index := s.k.terminals()
	if q.MID != "" {
		index = s.k.byMID(q.MID)
	}
	var p terminal.TerminalPage
	err := s.scan(ctx, index, q.After, limit, s.k.terminal, func(_ string, h map[string]string) (bool, error) {
		var t terminal.Terminal
		if err := decodeTerminal(h, &t); err != nil {
			return false, err
		}
		if !q.Match(&t) {
			return false, nil
		}
		p.Terminals = append(p.Terminals, t)
		return true, nil
	}, &p.Next)
	return p, err
}

// BindSN implements terminal.Store: reserve the SN index entry, update the terminal, confirm
// the entry is still ours, release the old SN's entry.
func (s *Store) BindSN(ctx context.Context, tid, sn string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.Terminal{}, err
	}
	cur, err := s.rdb.HGet(ctx, s.k.terminal(tid), fSN).Result()
	if errors.Is(err, redis.Nil) {
		return terminal.Terminal{}, terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrNotFound)
	}
	if err != nil {
		return terminal.Terminal{}, s.wrap("bind SN", err)
	}
	if cur == sn {
		return s.GetTerminal(ctx, tid)
	}
	if err := s.reserveSN(ctx, sn, tid); err != nil {
		return terminal.Terminal{}, err
	}
	t, old, err := s.setSN(ctx, tid, sn)
	if err != nil {
		releaseSN.Run(context.WithoutCancel(ctx), s.rdb, []string{s.k.sn(sn)}, tid)
		return terminal.Terminal{}, err
	}
	if err := s.confirmSN(ctx, sn, tid); err != nil {
		return terminal.Terminal{}, err
	}
	if old != "" && old != sn {
		releaseSN.Run(context.WithoutCancel(ctx), s.rdb, []string{s.k.sn(old)}, tid)
	}
	return t, nil
}

// UnbindSN implements terminal.Store: terminal first, then the index entry.
func (s *Store) UnbindSN(ctx context.Context, tid string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	t, old, err := s.setSN(ctx, tid, "")
	if err != nil {
		return terminal.Terminal{}, err
	}
	if old != "" {
		if err := releaseSN.Run(ctx, s.rdb, []string{s.k.sn(old)}, tid).Err(); err != nil {
			return terminal.Terminal{}, s.wrap("unbind SN", err)
		}
	}
	return t, nil
}

// setSN runs the setSN script and returns the terminal and its previous SN.
func (s *Store) setSN(ctx context.Context, tid, sn string) (terminal.Terminal, string, error) {
	res, err := setSN.Run(ctx, s.rdb, []string{s.k.terminal(tid), s.k.code(tid)}, sn, micros(s.now())).Slice()
	if err != nil {
		return terminal.Terminal{}, "", s.scriptErr("set SN", err, terminal.KindTerminal, tid, tid)
	}
	if len(res) == 0 {
		return terminal.Terminal{}, "", corrupt(terminal.KindTerminal, tid, "reply")
	}
	old, _ := res[0].(string)
	t, err := s.decodeReply(res[1:])
	return t, old, err
}

// snValue is the SN index entry of tid: TID + ":" + Unix milliseconds of the bind.
func (s *Store) snValue(tid string) string {
	return tid + ":" + strconv.FormatInt(s.now().UnixMilli(), 10)
}

// reserveSN makes the SN index name tid. An entry held by another terminal is taken over only
// if that terminal does not hold the SN and the entry is older than StaleBindAfter (a bind
// that crashed half-way); otherwise the SN is bound elsewhere.
func (s *Store) reserveSN(ctx context.Context, sn, tid string) error {
	key := s.k.sn(sn)
	for range 3 {
		holder, err := reserveSN.Run(ctx, s.rdb, []string{key}, s.snValue(tid), tid).Text()
		if err != nil {
			return s.wrap("reserve SN", err)
		}
		if holder == "" {
			return nil
		}
		htid, at, ok := strings.Cut(holder, ":")
		if !ok || len(htid) != terminal.TIDLen {
			htid, at = holder[:min(len(holder), terminal.TIDLen)], "0"
		}
		hsn, err := s.rdb.HGet(ctx, s.k.terminal(htid), fSN).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return s.wrap("reserve SN", err)
		}
		ms, _ := strconv.ParseInt(at, 10, 64)
		if hsn == sn || s.now().UnixMilli()-ms < s.cfg.StaleBindAfter.Milliseconds() {
			return &terminal.SNBoundError{SN: sn, TID: htid}
		}
		if ok, err := takeOverSN.Run(ctx, s.rdb, []string{key}, holder, s.snValue(tid)).Int(); err != nil {
			return s.wrap("reserve SN", err)
		} else if ok == 1 {
			return nil
		}
	}
	return terminal.NewRecordError(terminal.KindSN, sn, terminal.ErrConflict)
}

// confirmSN checks, after the terminal took the SN, that the index still names it. If another
// terminal took the entry over meanwhile (only possible after StaleBindAfter), the SN is
// dropped from tid again and the bind fails.
func (s *Store) confirmSN(ctx context.Context, sn, tid string) error {
	holder, err := s.snHolder(ctx, sn)
	if err == nil && holder == tid {
		return nil
	}
	if err != nil && !errors.Is(err, terminal.ErrNotFound) {
		return err
	}
	dropSN.Run(context.WithoutCancel(ctx), s.rdb, []string{s.k.terminal(tid)}, sn, micros(s.now()))
	return &terminal.SNBoundError{SN: sn, TID: holder}
}

// Block implements terminal.Store.
func (s *Store) Block(ctx context.Context, tid string, reason terminal.BlockReason) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	if reason == terminal.ReasonNone || reason.String() == "unknown" {
		return terminal.Terminal{}, &terminal.FieldError{Field: "BlockReason", Reason: "must be lost, stolen or other"}
	}
	return s.blockScript(ctx, tid, reason.String())
}

// Unblock implements terminal.Store.
func (s *Store) Unblock(ctx context.Context, tid string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	return s.blockScript(ctx, tid, "")
}

func (s *Store) blockScript(ctx context.Context, tid, reason string) (terminal.Terminal, error) {
	res, err := block.Run(ctx, s.rdb, []string{s.k.terminal(tid)}, reason, micros(s.now())).Slice()
	if err != nil {
		return terminal.Terminal{}, s.scriptErr("block", err, terminal.KindTerminal, tid, tid)
	}
	return s.decodeReply(res)
}

// RotateKeys implements terminal.Store.
func (s *Store) RotateKeys(ctx context.Context, tid string, generation uint64, keys terminal.Keys, seq uint64) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidWorkingKeys(keys); err != nil {
		return terminal.Terminal{}, err
	}
	args := []any{strconv.FormatUint(generation, 10), "", "", "", micros(s.now()), strconv.FormatUint(seq, 10)}
	for i, k := range []hsm.WrappedKey{keys.PIK, keys.MAK, keys.TDK} {
		txt, err := keyText(k)
		if err != nil {
			return terminal.Terminal{}, &terminal.FieldError{Field: "Keys", Reason: "must be wrapped keys"}
		}
		args[1+i] = txt
	}
	res, err := rotateKeys.Run(ctx, s.rdb, []string{s.k.terminal(tid)}, args...).Slice()
	if err != nil {
		return terminal.Terminal{}, s.scriptErr("rotate keys", err, terminal.KindTerminal, tid, tid)
	}
	return s.decodeReply(res)
}

// AdvanceBatch implements terminal.Store.
func (s *Store) AdvanceBatch(ctx context.Context, tid string, from terminal.Batch) (terminal.Batch, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return 0, err
	}
	if err := from.Validate(); err != nil {
		return 0, err
	}
	next := from.Next()
	err := advanceBatch.Run(ctx, s.rdb, []string{s.k.terminal(tid)}, from.String(), next.String()).Err()
	if err == nil {
		return next, nil
	}
	if f, ok := scriptReply(err); ok && len(f) == 2 && f[0] == "PG_CONFLICT" {
		cur, perr := terminal.ParseBatch(f[1])
		if perr != nil {
			return 0, corrupt(terminal.KindTerminal, tid, fBatch)
		}
		return cur, terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrConflict)
	}
	return 0, s.scriptErr("advance batch", err, terminal.KindTerminal, tid, tid)
}

// Seen implements terminal.Store.
func (s *Store) Seen(ctx context.Context, tid, softwareVersion string) error {
	if err := terminal.ValidTID(tid); err != nil {
		return err
	}
	softwareVersion = strings.TrimRight(softwareVersion, " ")
	if err := terminal.ValidSoftwareVersion(softwareVersion); err != nil {
		return err
	}
	err := seen.Run(ctx, s.rdb, []string{s.k.terminal(tid)}, micros(s.now()), softwareVersion).Err()
	if err != nil {
		return s.scriptErr("seen", err, terminal.KindTerminal, tid, tid)
	}
	return nil
}

// decodeReply decodes a terminal returned by a script as a flat HGETALL.
func (s *Store) decodeReply(res []any) (terminal.Terminal, error) {
	var t terminal.Terminal
	err := decodeTerminal(pairs(res), &t)
	return t, err
}
