package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/terminal"
)

// problem is an error response: its status, code, message and (for invalid input) field.
type problem struct {
	status int
	code   string
	msg    string
	field  string
}

// requestError is an error of the request itself (malformed body, bad query, unknown route),
// detected by the server before the registry is asked.
type requestError struct{ p problem }

func (e *requestError) Error() string { return "admin: " + e.p.msg }

func badRequest(code, msg string) error {
	return &requestError{problem{status: adminapi.StatusOf(code), code: code, msg: msg}}
}

// invalidField reports an invalid request field by its JSON name.
func invalidField(field, reason string) error {
	return &requestError{problem{status: http.StatusBadRequest, code: adminapi.CodeInvalid,
		msg: "invalid " + field + ": " + reason, field: field}}
}

// stepError wraps the error of a request that failed after it changed something, so the
// response says what was done (e.g. "merchant created") before what failed.
type stepError struct {
	done string
	err  error
}

func (e *stepError) Error() string { return e.done + "; " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// jsonFields maps the registry's Go field names (terminal.FieldError.Field) to the API's JSON
// names.
var jsonFields = map[string]string{
	"TID": "tid", "MID": "mid", "SN": "sn", "DeviceType": "device_type", "Operators": "operators",
	"MACAlgorithm": "mac_algorithm", "TargetVersion": "target_version", "Name": "name", "MCC": "mcc",
	"City": "city", "FeePlan": "fee_plan", "SettlementAccount": "settlement_account",
	"Status": "status", "BlockReason": "reason", "TTL": "ttl_seconds", "Limit": "limit",
	"Batch": "batch", "SoftwareVersion": "software_version",
}

func jsonField(goName string) string {
	if n, ok := jsonFields[goName]; ok {
		return n
	}
	return strings.ToLower(goName)
}

// problemOf is the one place errors become HTTP statuses and codes. Messages of 4xx responses
// come from the registry's errors, which carry identifiers (TID, MID, SN) but never secrets;
// 5xx responses say only "internal error" (the cause goes to the log).
func problemOf(err error) problem {
	var (
		se *stepError
		re *requestError
		fe *terminal.FieldError
	)
	switch {
	case errors.As(err, &se):
		p := problemOf(se.err)
		p.msg = se.done + "; " + p.msg
		return p
	case errors.As(err, &re):
		return re.p
	case errors.Is(err, ErrTokenExists):
		return problem{http.StatusConflict, adminapi.CodeExists, "a token of that name exists", "name"}
	case errors.Is(err, ErrTokenNotFound):
		return problem{http.StatusNotFound, adminapi.CodeNotFound, "no token of that name", ""}
	case errors.As(err, &fe):
		f := jsonField(fe.Field)
		return problem{http.StatusBadRequest, adminapi.CodeInvalid, "invalid " + f + ": " + fe.Reason, f}
	}
	code := adminapi.CodeInternal
	switch {
	case errors.Is(err, terminal.ErrInvalid):
		code = adminapi.CodeInvalid
	case errors.Is(err, terminal.ErrNotFound):
		code = adminapi.CodeNotFound
	case errors.Is(err, terminal.ErrExists):
		code = adminapi.CodeExists
	case errors.Is(err, terminal.ErrSNBound):
		code = adminapi.CodeSNBound
	case errors.Is(err, terminal.ErrConflict):
		code = adminapi.CodeConflict
	case errors.Is(err, terminal.ErrNoSN):
		code = adminapi.CodeNoSN
	case errors.Is(err, terminal.ErrBlocked):
		code = adminapi.CodeBlocked
	case errors.Is(err, terminal.ErrNotActive), errors.Is(err, terminal.ErrLocked),
		errors.Is(err, terminal.ErrCodeSpent), errors.Is(err, terminal.ErrCodeExpired):
		code = adminapi.CodeState
	case errors.Is(err, terminal.ErrClosed):
		return problem{http.StatusServiceUnavailable, adminapi.CodeUnavailable, "registry closed", ""}
	case errors.Is(err, context.DeadlineExceeded):
		return problem{http.StatusGatewayTimeout, adminapi.CodeTimeout, "registry did not answer in time", ""}
	case errors.Is(err, context.Canceled):
		return problem{http.StatusServiceUnavailable, adminapi.CodeUnavailable, "request canceled", ""}
	}
	if code == adminapi.CodeInternal {
		return problem{http.StatusInternalServerError, code, "internal error", ""}
	}
	return problem{adminapi.StatusOf(code), code, strings.TrimPrefix(err.Error(), "terminal: "), ""}
}

// writeError sends err's problem; causes of 5xx responses are logged (the registry's and the
// security module's errors never hold secrets).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	if p.status >= 500 {
		s.log.Error("admin request failed", zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.Int("status", p.status), zap.Error(err))
	}
	if p.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="posgate admin"`)
	}
	writeJSON(w, p.status, adminapi.ErrorBody{Error: p.msg, Code: p.code, Field: p.field})
}
