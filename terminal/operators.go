package terminal

import (
	"slices"
	"strings"
)

// DefaultOperator is the operator number every terminal accepts unless configured otherwise.
const DefaultOperator = "01"

// Operators is the set of operator numbers (field 63, ans3, sent as "01 ") allowed to sign on at
// a terminal. Stores keep it normalised: each number without trailing spaces, 2 or 3
// characters, sorted, no duplicates.
type Operators []string

// Has reports whether op (as received, trailing spaces allowed) is in the set.
func (o Operators) Has(op string) bool {
	op = strings.TrimRight(op, " ")
	for _, x := range o {
		if x == op {
			return true
		}
	}
	return false
}

// String returns the numbers joined by commas, the form stores use.
func (o Operators) String() string { return strings.Join(o, ",") }

// ParseOperators parses a comma-separated list and normalises it.
func ParseOperators(s string) (Operators, error) {
	if s == "" {
		return nil, nil
	}
	return NormalizeOperators(strings.Split(s, ","))
}

// NormalizeOperators trims trailing spaces, checks each number (2 or 3 printable ASCII
// characters without spaces), sorts and removes duplicates. An empty input yields
// {DefaultOperator}.
func NormalizeOperators(in []string) (Operators, error) {
	if len(in) == 0 {
		return Operators{DefaultOperator}, nil
	}
	if len(in) > MaxOperators {
		return nil, invalid("Operators", "at most "+itoa(MaxOperators)+" operator numbers")
	}
	out := make(Operators, 0, len(in))
	for _, op := range in {
		op = strings.TrimRight(op, " ")
		if len(op) < 2 || len(op) > 3 || !ans(op) || strings.ContainsAny(op, " ,") {
			return nil, invalid("Operators", "each operator number must be 2 or 3 printable ASCII characters")
		}
		out = append(out, op)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
