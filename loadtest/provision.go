package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/posgate/posgate/adminapi"
)

// Identities of a run's fleet, all derived from the run id so that repeated runs against one
// server never collide:
//
//	TID  RRRRIIII           run id + terminal index in base 36 (8 characters)
//	MID  LOADTEST RRRR MMM  run id + merchant index in base 36 (15 characters)
//	SN   POSGATE-LT-RRRR-NNNNNN
const (
	runIDLen    = 4
	base36      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	midPrefix   = "LOADTEST"
	snPrefix    = "POSGATE-LT-"
	maxRunIDTry = 20
)

// identity is one simulated terminal's registry entry.
type identity struct {
	TID, MID, SN string
}

func validRunID(s string) bool {
	if len(s) != runIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'A' <= s[i] && s[i] <= 'Z') {
			return false
		}
	}
	return true
}

// newRunID draws a run id.
func newRunID(rng *rand.Rand) string {
	var b [runIDLen]byte
	for i := range b {
		b[i] = base36[rng.IntN(len(base36))]
	}
	return string(b[:])
}

// b36 writes v in base 36 with exactly width digits (v must fit).
func b36(v, width int) string {
	b := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		b[i] = base36[v%36]
		v /= 36
	}
	return string(b)
}

// fleetIdentities returns the identities of terminals terminals, perMerchant to a merchant.
func fleetIdentities(runID string, terminals, perMerchant int) []identity {
	ids := make([]identity, terminals)
	for i := range ids {
		ids[i] = identity{
			TID: runID + b36(i, 4),
			MID: midPrefix + runID + b36(i/perMerchant, 3),
			SN:  snPrefix + runID + "-" + fmt.Sprintf("%06d", i),
		}
	}
	return ids
}

// pickRunID returns cfg's run id, or draws one whose first TID the server does not know.
func pickRunID(ctx context.Context, admin *adminapi.Client, fixed string, rng *rand.Rand) (string, error) {
	for try := 0; try < maxRunIDTry; try++ {
		id := fixed
		if id == "" {
			id = newRunID(rng)
		}
		_, err := admin.GetTerminal(ctx, id+b36(0, 4))
		switch {
		case errors.Is(err, adminapi.ErrNotFound):
			return id, nil
		case err != nil:
			return "", fmt.Errorf("loadtest: admin API: %w", err)
		case fixed != "":
			return "", fmt.Errorf("loadtest: run id %s is already provisioned on the server", fixed)
		}
	}
	return "", errors.New("loadtest: no free run id found")
}

// provision creates the run's merchants and terminals and returns each terminal's activation
// code, in the order of ids.
func provision(ctx context.Context, admin *adminapi.Client, ids []identity, workers int) ([]string, error) {
	var mids []string
	for i, id := range ids {
		if i == 0 || id.MID != ids[i-1].MID {
			mids = append(mids, id.MID)
		}
	}
	for n, mid := range mids {
		_, err := admin.CreateMerchant(ctx, adminapi.CreateMerchantRequest{MID: mid, NewMerchant: adminapi.NewMerchant{
			Name: "POSGATE LOAD TEST " + strconv.Itoa(n), MCC: "5411", City: "SHANGHAI",
			SettlementAccount: "6222000000" + fmt.Sprintf("%09d", n),
		}})
		if err != nil {
			return nil, fmt.Errorf("loadtest: create merchant %s: %w", mid, err)
		}
	}
	codes := make([]string, len(ids))
	err := parallel(ctx, len(ids), workers, func(ctx context.Context, i int) error {
		res, err := admin.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: ids[i].TID, MID: ids[i].MID, SN: ids[i].SN})
		if err != nil {
			return fmt.Errorf("loadtest: create terminal %s: %w", ids[i].TID, err)
		}
		if res.ActivationCode == "" {
			return fmt.Errorf("loadtest: terminal %s created without an activation code", ids[i].TID)
		}
		codes[i] = res.ActivationCode
		return nil
	})
	return codes, err
}

// parallel runs f for 0..n-1 on up to workers goroutines and returns the first error; after an
// error the remaining indexes are skipped (ctx passed to f is cancelled).
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(workers, n); w++ {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
