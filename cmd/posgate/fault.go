package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/posgate/posgate/gateway"
)

// envFault arms a fault point for durability tests: "POINT:KIND[:N]" stops the N-th (default
// first) transaction of KIND ("purchase", "refund" …, or "*") that reaches POINT ("answered":
// the issuer answered, the outcome not journaled; "journaled": the outcome journaled, the
// terminal not answered). The transaction then waits forever and a line on stderr says so: the
// test kills the process with SIGKILL at exactly that step. Never set it in production.
const envFault = "POSGATE_FAULT"

// parseFault returns the fault hook armed by spec ("" arms none).
func parseFault(spec string, stderr io.Writer) (func(gateway.FaultPoint, gateway.Kind), error) {
	if spec == "" {
		return nil, nil
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, errors.New(envFault + ": want POINT:KIND[:N]")
	}
	point := gateway.FaultPoint(parts[0])
	if point != gateway.FaultAnswered && point != gateway.FaultJournaled {
		return nil, fmt.Errorf("%s: unknown point %q (answered, journaled)", envFault, parts[0])
	}
	kind := parts[1]
	n := int64(1)
	if len(parts) == 3 {
		v, err := strconv.ParseInt(parts[2], 10, 32)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%s: N must be a positive number", envFault)
		}
		n = v
	}
	var seen atomic.Int64
	return func(at gateway.FaultPoint, k gateway.Kind) {
		if at != point || kind != "*" && kind != k.String() || seen.Add(1) != n {
			return
		}
		fmt.Fprintf(stderr, "posgate: fault: stopped at %s %s, waiting to be killed\n", at, k)
		select {}
	}, nil
}
