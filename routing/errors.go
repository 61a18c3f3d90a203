package routing

import (
	"errors"
	"strconv"
	"strings"
)

// Errors of the upstream exchange, wrapped by *UpstreamError. The gateway maps them to response
// codes with errors.Is (ErrNoResponders → 91, ErrTimeout → 98 and a reversal, …).
var (
	// ErrUnknownRoute: the route is not in the routing table.
	ErrUnknownRoute = errors.New("routing: unknown route")
	// ErrNoResponders: no responder listens on the route's subject; NATS said so at once. The
	// request was not delivered, so no reversal is owed.
	ErrNoResponders = errors.New("routing: no responders for route")
	// ErrTimeout: no reply before the deadline (the caller's, capped by the route's timeout).
	// The request may have been authorized upstream: a reversal is owed.
	ErrTimeout = errors.New("routing: upstream timeout")
	// ErrCanceled: the caller's context was canceled while waiting. As with ErrTimeout, the
	// outcome upstream is unknown and a reversal is owed.
	ErrCanceled = errors.New("routing: request canceled")
	// ErrBreakerOpen: the route's circuit breaker is open; nothing was sent.
	ErrBreakerOpen = errors.New("routing: circuit breaker open")
	// ErrBusy: the route already has its maximum number of requests in flight; nothing was sent.
	ErrBusy = errors.New("routing: too many requests in flight")
	// ErrBadReply: the reply could not be decoded, or lacks field 39. Outcome unknown.
	ErrBadReply = errors.New("routing: malformed upstream reply")
	// ErrReplyMismatch: the reply's MTI, STAN (11) or TID (41) does not match the request.
	// Outcome unknown.
	ErrReplyMismatch = errors.New("routing: upstream reply does not match the request")
	// ErrTransport: the NATS connection failed (closed, draining, …). Nothing is known to have
	// been delivered, but the outcome cannot be excluded: treat as unknown.
	ErrTransport = errors.New("routing: NATS transport error")
)

// UpstreamError is the error of one upstream exchange: which route, which failure (one of the
// sentinels above) and, where there is one, the underlying cause (nats.ErrNoResponders,
// context.DeadlineExceeded, a *codec.FieldError, …). errors.Is matches both the sentinel and the
// cause. It never holds card data.
type UpstreamError struct {
	Route string
	Err   error // a sentinel of this package
	Cause error // may be nil
}

// Error implements error.
func (e *UpstreamError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	b.WriteString(" (route ")
	b.WriteString(strconv.Quote(e.Route))
	b.WriteString(")")
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and the cause.
func (e *UpstreamError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// OutcomeUnknown reports whether err leaves it unknown if the issuer authorized the request:
// a timeout, a cancellation, a transport failure or a bad or mismatched reply. For those the
// gateway answers the terminal 98 (or 96) and queues a reversal. No responders, an open breaker,
// a busy route and mapping errors mean nothing was delivered.
func OutcomeUnknown(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrCanceled) || errors.Is(err, ErrTransport) ||
		errors.Is(err, ErrBadReply) || errors.Is(err, ErrReplyMismatch)
}

// Errors of the routing table, wrapped by *TableError.
var (
	ErrTableSyntax    = errors.New("routing table: malformed YAML")
	ErrBadRange       = errors.New("routing table: bad BIN range")
	ErrOverlap        = errors.New("routing table: BIN ranges overlap")
	ErrBadKind        = errors.New("routing table: card kind must be debit or credit")
	ErrBadRouteName   = errors.New("routing table: route name must be 1-32 characters a-z, 0-9, '-' or '_'")
	ErrDuplicateRoute = errors.New("routing table: route defined twice")
	ErrBadTimeout     = errors.New("routing table: route timeout out of range")
	ErrBadLimit       = errors.New("routing table: route limit out of range")
	ErrNoRoutes       = errors.New("routing table: no routes")
)

// TableError is a routing-table problem with where it is: the YAML line (0 when the table was
// built in code) and the route concerned, if any. For ErrOverlap, OtherLine is the line of the
// range it overlaps. Cause, when set, is the YAML decoder's error (the table holds no secrets).
type TableError struct {
	Line      int
	OtherLine int
	Route     string
	Err       error
	Cause     error
}

// Error implements error.
func (e *TableError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Line > 0 {
		b.WriteString(" at line ")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.OtherLine > 0 {
		b.WriteString(" and line ")
		b.WriteString(strconv.Itoa(e.OtherLine))
	}
	if e.Route != "" {
		b.WriteString(" (route ")
		b.WriteString(strconv.Quote(e.Route))
		b.WriteString(")")
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and the cause.
func (e *TableError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// Errors of the message mapping, wrapped by *MappingError.
var (
	ErrTxnType      = errors.New("routing: unsupported transaction type")
	ErrMissing      = errors.New("routing: required value missing")
	ErrInvalidValue = errors.New("routing: value does not fit the field")
	ErrNoTxnID      = errors.New("routing: request has no transaction id")
)

// MappingError reports a request value that cannot be mapped to the upstream message: the
// upstream field number (0 when the problem is not one field's) and why. It never holds the
// value. Cause, when set, is the codec's error.
type MappingError struct {
	Field int
	Err   error
	Cause error
}

// Error implements error.
func (e *MappingError) Error() string {
	s := e.Err.Error()
	if e.Field > 0 {
		s += " (field " + strconv.Itoa(e.Field) + ")"
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause.
func (e *MappingError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}
