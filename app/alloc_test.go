//go:build !race

package app_test

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/posgate/posgate/loadtest/termsim"
)

// Allocation budgets of one purchase (issue 14): the gateway's part — gateway, its state,
// codec, security module and registry — and all of posgate's code on the node, which adds the
// routing client and the journal. The embedded NATS client and server, the issuer simulator
// and the test's terminals allocate besides; the test logs their share. Measured 2026-12-03:
// 17 and 41 (contexts are 15 of those: a deadline per transaction, per upstream round trip,
// per journal publish).
const (
	maxGatewayAllocs = 30
	maxNodeAllocs    = 45
)

// TestPurchaseAllocs runs purchases through a real node with every allocation profiled and
// attributes each to the innermost frame outside the runtime and the standard library, so an
// allocation that context.WithTimeout makes for the gateway counts as the gateway's.
func TestPurchaseAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("whole-chain allocation profile")
	}
	e := startNode(t, "", nil)
	const terminals, warm, measured = 4, 40, 150
	terms := make([]*termsim.Terminal, terminals)
	for i := range terms {
		tid, sn := fmt.Sprintf("A%07d", i), fmt.Sprintf("0000020210A%07d", i)
		term, err := provisionReady(e.ctx, e.node, tid, sn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = term.Close() })
		terms[i] = term
	}
	run := func(n int) {
		var wg sync.WaitGroup
		for _, term := range terms {
			wg.Go(func() {
				for range n {
					if res, err := term.Purchase(e.ctx, card(), 1200); err != nil || res.Code != "00" {
						t.Errorf("purchase: %s %v", res.Code, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	run(warm) // buffers, pools and caches grown; the rate in force on every thread
	before := memProfile()
	run(measured)
	after := memProfile()
	if t.Failed() {
		return
	}

	purchases := float64(terminals * measured)
	by := map[string]int64{}
	sites := map[string]int64{}
	for key, rec := range after {
		d := rec.AllocObjects - before[key].AllocObjects
		if d <= 0 {
			continue
		}
		owner, site := attribute(rec.Stack())
		by[owner] += d
		if site != "" {
			sites[owner+" "+site] += d
		}
	}
	var total int64
	for _, n := range by {
		total += n
	}
	t.Logf("allocations per purchase, whole process: %.1f", float64(total)/purchases)
	for _, k := range sortedByCount(by) {
		t.Logf("  %-22s %6.1f", k, float64(by[k])/purchases)
	}
	t.Logf("by allocation site (posgate's code and other libraries):")
	for _, k := range sortedByCount(sites) {
		if per := float64(sites[k]) / purchases; per >= 0.05 {
			t.Logf("  %6.2f  %s", per, k)
		}
	}
	var gateway int64
	for site, n := range sites {
		pkg := pkgPath(strings.TrimPrefix(site, "posgate node "))
		if first, _, _ := strings.Cut(pkg, "/"); first != "routing" && first != "journal" && strings.HasPrefix(site, "posgate node ") {
			gateway += n
		}
	}
	t.Logf("gateway's part (gateway, state, codec, hsm, registry): %.1f", float64(gateway)/purchases)
	if got := float64(gateway) / purchases; got > maxGatewayAllocs {
		t.Errorf("the gateway's part allocates %.1f times per purchase, want ≤ %d", got, maxGatewayAllocs)
	}
	if got := float64(by["posgate node"]) / purchases; got > maxNodeAllocs {
		t.Errorf("posgate's own code allocates %.1f times per purchase, want ≤ %d", got, maxNodeAllocs)
	}
}

// memProfile returns the cumulative allocation profile by stack, after two collections so that
// it covers every allocation made before the call (the profile lags a cycle).
func memProfile() map[[32]uintptr]runtime.MemProfileRecord {
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	out := make(map[[32]uintptr]runtime.MemProfileRecord, len(recs))
	for _, r := range recs {
		prev := out[r.Stack0]
		r.AllocObjects += prev.AllocObjects
		out[r.Stack0] = r
	}
	return out
}

// attribute names who made an allocation: the innermost frame of stack outside the runtime and
// the standard library decides, and for posgate's node code also the site (that function).
func attribute(stack []uintptr) (owner, site string) {
	frames := runtime.CallersFrames(stack)
	inner := "new"
	for {
		f, more := frames.Next()
		fn := f.Function
		if first, _, _ := strings.Cut(pkgPath(fn), "/"); strings.Contains(first, ".") {
			switch {
			case strings.HasPrefix(fn, "github.com/posgate/posgate/loadtest/"),
				strings.HasPrefix(fn, "github.com/posgate/posgate/app_test."):
				return "test terminals", ""
			case strings.HasPrefix(fn, "github.com/posgate/posgate/routing/issuersim"):
				return "issuer simulator", ""
			case strings.HasPrefix(fn, "github.com/posgate/posgate/"):
				return "posgate node", fmt.Sprintf("%s:%d (%s)", strings.TrimPrefix(fn, "github.com/posgate/posgate/"), f.Line, inner)
			case strings.HasPrefix(fn, "github.com/nats-io/nats-server"):
				return "NATS server", ""
			case strings.HasPrefix(fn, "github.com/nats-io/nats%2ego"), strings.HasPrefix(fn, "github.com/nats-io/nats.go/"):
				return "NATS client", ""
			default:
				return "other libraries", pkgPath(fn)
			}
		}
		if !strings.HasPrefix(fn, "runtime.") {
			inner = fn
		}
		if !more {
			return "runtime and stdlib", ""
		}
	}
}

// pkgPath returns the import path of the package of function fn ("net/http.(*conn).serve" →
// "net/http").
func pkgPath(fn string) string {
	slash := strings.LastIndexByte(fn, '/') + 1
	if dot := strings.IndexByte(fn[slash:], '.'); dot >= 0 {
		return fn[:slash+dot]
	}
	return fn
}

func sortedByCount(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	return keys
}
