package loadtest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is an operation of the transaction mix.
type Kind uint8

// Operations of the mix. Void, refund and completion are follow-ups: each takes one of the
// terminal's own earlier approved purchases (void, refund) or pre-authorizations (completion).
const (
	Purchase Kind = iota
	Balance
	Void
	Refund
	PreAuth
	Completion
	numKinds
)

var kindNames = [numKinds]string{"purchase", "balance", "void", "refund", "preauth", "completion"}

// String returns the name the --mix flag uses.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Mix is the relative weight of each operation; a request is drawn with probability
// weight / Total.
type Mix [numKinds]int

// DefaultMix is the example mix.
var DefaultMix = Mix{Purchase: 80, Balance: 5, Void: 5, Refund: 3, PreAuth: 5, Completion: 2}

// ErrMix is wrapped by every ParseMix error.
var ErrMix = errors.New("loadtest: bad mix")

// maxWeight bounds one weight so Total never overflows.
const maxWeight = 1_000_000

// ParseMix reads "purchase=80,balance=5,…": comma-separated name=weight items, weights
// non-negative integers, names from Kind.String, each at most once. Operations not named weigh
// 0; the total must be positive. Spaces around items are ignored.
func ParseMix(s string) (Mix, error) {
	var m Mix
	var seen [numKinds]bool
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok {
			return Mix{}, fmt.Errorf("%w: %q: want name=weight", ErrMix, item)
		}
		k, found := kindByName(name)
		if !found {
			return Mix{}, fmt.Errorf("%w: unknown operation %q (want %s)", ErrMix, name, strings.Join(kindNames[:], ", "))
		}
		if seen[k] {
			return Mix{}, fmt.Errorf("%w: %s given twice", ErrMix, name)
		}
		seen[k] = true
		w, err := strconv.Atoi(val)
		if err != nil || w < 0 || w > maxWeight {
			return Mix{}, fmt.Errorf("%w: %s: weight must be an integer from 0 to %d", ErrMix, name, maxWeight)
		}
		m[k] = w
	}
	if m.Total() == 0 {
		return Mix{}, fmt.Errorf("%w: the weights add up to 0", ErrMix)
	}
	return m, nil
}

func kindByName(name string) (Kind, bool) {
	for k, n := range kindNames {
		if strings.EqualFold(n, name) {
			return Kind(k), true
		}
	}
	return 0, false
}

// Total returns the sum of the weights.
func (m Mix) Total() int {
	t := 0
	for _, w := range m {
		t += w
	}
	return t
}

// String prints the mix in ParseMix's syntax, zero weights left out.
func (m Mix) String() string {
	var b strings.Builder
	for k, w := range m {
		if w == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kindNames[k])
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(w))
	}
	return b.String()
}

// Pick returns the operation for a draw r in [0, Total): the operations take consecutive
// ranges of the draw, in Kind order, as wide as their weights.
func (m Mix) Pick(r int) Kind {
	for k, w := range m {
		if r < w {
			return Kind(k)
		}
		r -= w
	}
	return Purchase // r out of range: the caller's mistake; stay well-defined
}

// weights returns the mix as a map by name (for the report), zero weights left out.
func (m Mix) weights() map[string]int {
	out := map[string]int{}
	for k, w := range m {
		if w > 0 {
			out[kindNames[k]] = w
		}
	}
	return out
}
