package adminapi

import (
	"errors"
	"net/http"
	"strconv"
)

// Error codes of ErrorBody.Code, with the HTTP status the server sends for each.
const (
	CodeInvalid          = "invalid"                // 400: a field or query parameter failed validation
	CodeBadRequest       = "bad_request"            // 400: the body is not the JSON the endpoint takes
	CodeUnauthorized     = "unauthorized"           // 401: missing or wrong bearer token
	CodeForbidden        = "forbidden"              // 403: the token's role may not do this
	CodeNotFound         = "not_found"              // 404: no such terminal, merchant or route
	CodeMethod           = "method_not_allowed"     // 405
	CodeExists           = "exists"                 // 409: the TID or MID is taken
	CodeSNBound          = "sn_bound"               // 409: the SN is bound to another terminal
	CodeConflict         = "conflict"               // 409: concurrent modification; retry
	CodeBlocked          = "blocked"                // 409: the terminal is blocked
	CodeNoSN             = "no_sn"                  // 409: the terminal has no bound SN
	CodeState            = "state"                  // 409: the terminal's state forbids it otherwise
	CodeTooLarge         = "too_large"              // 413: request body over the server's limit
	CodeUnsupportedMedia = "unsupported_media_type" // 415: a body that is not application/json
	CodeInternal         = "internal"               // 500: details are in the server's log only
	CodeUnavailable      = "unavailable"            // 503: not ready, or the registry is closed
	CodeTimeout          = "timeout"                // 504: the registry did not answer in time
)

// Sentinel errors, one per code. An *Error matches the sentinel of its code with errors.Is.
var (
	ErrInvalid          = errors.New("adminapi: invalid input")
	ErrBadRequest       = errors.New("adminapi: malformed request")
	ErrUnauthorized     = errors.New("adminapi: unauthorized")
	ErrForbidden        = errors.New("adminapi: forbidden for this token's role")
	ErrNotFound         = errors.New("adminapi: not found")
	ErrMethod           = errors.New("adminapi: method not allowed")
	ErrExists           = errors.New("adminapi: already exists")
	ErrSNBound          = errors.New("adminapi: serial number bound to another terminal")
	ErrConflict         = errors.New("adminapi: concurrent modification")
	ErrBlocked          = errors.New("adminapi: terminal blocked")
	ErrNoSN             = errors.New("adminapi: terminal has no serial number")
	ErrState            = errors.New("adminapi: terminal state forbids the operation")
	ErrTooLarge         = errors.New("adminapi: request too large")
	ErrUnsupportedMedia = errors.New("adminapi: unsupported media type")
	ErrInternal         = errors.New("adminapi: internal server error")
	ErrUnavailable      = errors.New("adminapi: unavailable")
	ErrTimeout          = errors.New("adminapi: timeout")
	// ErrUnexpected matches an *Error whose code this version of the package does not know.
	ErrUnexpected = errors.New("adminapi: unexpected response")
)

var codes = map[string]struct {
	status int
	err    error
}{
	CodeInvalid:          {http.StatusBadRequest, ErrInvalid},
	CodeBadRequest:       {http.StatusBadRequest, ErrBadRequest},
	CodeUnauthorized:     {http.StatusUnauthorized, ErrUnauthorized},
	CodeForbidden:        {http.StatusForbidden, ErrForbidden},
	CodeNotFound:         {http.StatusNotFound, ErrNotFound},
	CodeMethod:           {http.StatusMethodNotAllowed, ErrMethod},
	CodeExists:           {http.StatusConflict, ErrExists},
	CodeSNBound:          {http.StatusConflict, ErrSNBound},
	CodeConflict:         {http.StatusConflict, ErrConflict},
	CodeBlocked:          {http.StatusConflict, ErrBlocked},
	CodeNoSN:             {http.StatusConflict, ErrNoSN},
	CodeState:            {http.StatusConflict, ErrState},
	CodeTooLarge:         {http.StatusRequestEntityTooLarge, ErrTooLarge},
	CodeUnsupportedMedia: {http.StatusUnsupportedMediaType, ErrUnsupportedMedia},
	CodeInternal:         {http.StatusInternalServerError, ErrInternal},
	CodeUnavailable:      {http.StatusServiceUnavailable, ErrUnavailable},
	CodeTimeout:          {http.StatusGatewayTimeout, ErrTimeout},
}

// StatusOf returns the HTTP status the server sends with code (500 for an unknown code).
func StatusOf(code string) int {
	if c, ok := codes[code]; ok {
		return c.status
	}
	return http.StatusInternalServerError
}

// Error is an error response of the admin API.
type Error struct {
	Status  int    // HTTP status
	Code    string // ErrorBody.Code; derived from Status when the body was not an ErrorBody
	Message string // ErrorBody.Error: a one-line reason without secrets
	Field   string // ErrorBody.Field: the invalid field's JSON name, for CodeInvalid
}

// Error returns "adminapi: <message> (HTTP <status> <code>)".
func (e *Error) Error() string {
	return "adminapi: " + e.Message + " (HTTP " + strconv.Itoa(e.Status) + " " + e.Code + ")"
}

// Unwrap returns the sentinel of the error's code, or ErrUnexpected for an unknown code.
func (e *Error) Unwrap() error {
	if c, ok := codes[e.Code]; ok {
		return c.err
	}
	return ErrUnexpected
}

// codeForStatus guesses a code for a response without an ErrorBody (a proxy's error page).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		return CodeUnauthorized
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethod
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusUnsupportedMediaType:
		return CodeUnsupportedMedia
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return CodeUnavailable
	case http.StatusGatewayTimeout:
		return CodeTimeout
	}
	return CodeInternal
}
