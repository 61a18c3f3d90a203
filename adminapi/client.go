package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds each call of a Client whose HTTP field is nil.
const DefaultTimeout = 30 * time.Second

// MaxResponseBytes bounds the body of a response the client reads (a page of 1000 terminals is
// well under 1 MiB).
const MaxResponseBytes = 16 << 20

// Client calls the admin API. The zero value is not usable: set BaseURL and Token. It is safe for
// concurrent use. Every method takes a context that bounds the call.
type Client struct {
	// BaseURL of the admin listener, e.g. "http://127.0.0.1:8080". A path is kept as a prefix.
	BaseURL string
	// Token is the bearer token; it is sent only in the Authorization header and never appears
	// in an error.
	Token string
	// HTTP is the client to use; nil means a client with DefaultTimeout.
	HTTP *http.Client
}

// CreateMerchant creates a merchant. ErrExists if the MID is taken.
func (c *Client) CreateMerchant(ctx context.Context, req CreateMerchantRequest) (Merchant, error) {
	var m Merchant
	err := c.do(ctx, http.MethodPost, PathMerchants, nil, req, &m)
	return m, err
}

// GetMerchant returns a merchant. ErrNotFound if there is none.
func (c *Client) GetMerchant(ctx context.Context, mid string) (Merchant, error) {
	var m Merchant
	err := c.do(ctx, http.MethodGet, PathMerchants+"/"+url.PathEscape(mid), nil, nil, &m)
	return m, err
}

// ListMerchants returns one page of merchants in MID order.
func (c *Client) ListMerchants(ctx context.Context, req ListMerchantsRequest) (MerchantList, error) {
	q := url.Values{}
	setQuery(q, "after", req.After)
	if req.Limit != 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	var l MerchantList
	err := c.do(ctx, http.MethodGet, PathMerchants, q, nil, &l)
	return l, err
}

// CreateTerminal creates a terminal (and its merchant when req.Merchant is set and the MID is
// new). When req.SN is set the response carries the terminal's first activation code: it is
// shown once. ErrExists if the TID is taken, ErrSNBound if the SN is bound elsewhere,
// ErrNotFound if the merchant does not exist and req.Merchant is nil.
func (c *Client) CreateTerminal(ctx context.Context, req CreateTerminalRequest) (CreateTerminalResponse, error) {
	var r CreateTerminalResponse
	err := c.do(ctx, http.MethodPost, PathTerminals, nil, req, &r)
	return r, err
}

// GetTerminal returns a terminal. ErrNotFound if there is none.
func (c *Client) GetTerminal(ctx context.Context, tid string) (Terminal, error) {
	var t Terminal
	err := c.do(ctx, http.MethodGet, terminalPath(tid, ""), nil, nil, &t)
	return t, err
}

// ListTerminals returns one page of terminals matching req.
func (c *Client) ListTerminals(ctx context.Context, req ListTerminalsRequest) (TerminalList, error) {
	q := url.Values{}
	setQuery(q, "mid", req.MID)
	setQuery(q, "status", req.Status)
	setQuery(q, "sn", req.SN)
	setQuery(q, "tid", req.TID)
	setQuery(q, "after", req.After)
	if req.Limit != 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	var l TerminalList
	err := c.do(ctx, http.MethodGet, PathTerminals, q, nil, &l)
	return l, err
}

// AllTerminals iterates over every terminal matching req, fetching page after page from
// req.After on. It stops at the first error, which it yields with a zero Terminal.
func (c *Client) AllTerminals(ctx context.Context, req ListTerminalsRequest) iter.Seq2[Terminal, error] {
	return func(yield func(Terminal, error) bool) {
		for {
			page, err := c.ListTerminals(ctx, req)
			if err != nil {
				yield(Terminal{}, err)
				return
			}
			for _, t := range page.Terminals {
				if !yield(t, nil) {
					return
				}
			}
			if page.Next == "" || page.Next == req.After {
				return
			}
			req.After = page.Next
		}
	}
}

// IssueActivationCode issues a new activation code for the terminal's bound SN, revoking any
// earlier one; ttl 0 means the server's default. The code is in the response only.
// ErrNoSN if no SN is bound, ErrBlocked if the terminal is blocked.
func (c *Client) IssueActivationCode(ctx context.Context, tid string, ttl time.Duration) (ActivationCode, error) {
	var a ActivationCode
	err := c.do(ctx, http.MethodPost, terminalPath(tid, "activation-code"), nil,
		IssueCodeRequest{TTLSeconds: int64(ttl / time.Second)}, &a)
	return a, err
}

// Block blocks a terminal for reason (ReasonLost, ReasonStolen or ReasonOther).
func (c *Client) Block(ctx context.Context, tid, reason string) (Terminal, error) {
	var t Terminal
	err := c.do(ctx, http.MethodPost, terminalPath(tid, "block"), nil, BlockRequest{Reason: reason}, &t)
	return t, err
}

// Unblock lifts a terminal's block: it becomes active if it was activated, pending otherwise.
func (c *Client) Unblock(ctx context.Context, tid string) (Terminal, error) {
	var t Terminal
	err := c.do(ctx, http.MethodPost, terminalPath(tid, "unblock"), nil, nil, &t)
	return t, err
}

// UnlockActivation lifts the proof back-off of the terminal's activation code, so its SN may
// present a proof at once (an operator's audited action).
func (c *Client) UnlockActivation(ctx context.Context, tid string) (ActivationStatus, error) {
	var a ActivationStatus
	err := c.do(ctx, http.MethodPost, terminalPath(tid, "activation/unlock"), nil, nil, &a)
	return a, err
}

// ForceSignOn makes the gateway tell the terminal, in its next response, to sign on again.
func (c *Client) ForceSignOn(ctx context.Context, tid string) (Terminal, error) {
	var t Terminal
	err := c.do(ctx, http.MethodPost, terminalPath(tid, "resign"), nil, nil, &t)
	return t, err
}

// SetTargetVersion sets the software version the terminal should run ("" clears it).
func (c *Client) SetTargetVersion(ctx context.Context, tid, version string) (Terminal, error) {
	var t Terminal
	err := c.do(ctx, http.MethodPost, terminalPath(tid, "software"), nil, SoftwareRequest{TargetVersion: version}, &t)
	return t, err
}

// Health checks /healthz: nil when the process answers.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, PathHealth, nil, nil, &Status{})
}

// Ready checks /readyz: nil when the server is ready, an *Error (ErrUnavailable) with the
// reason otherwise.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, PathReady, nil, nil, &Status{})
}

func terminalPath(tid, action string) string {
	p := PathTerminals + "/" + url.PathEscape(tid)
	if action != "" {
		p += "/" + action
	}
	return p
}

func setQuery(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// do sends one request with body encoded as JSON (none when nil) and decodes a 2xx response
// into out. Errors: *Error for an error response, otherwise a transport or decoding error that
// names the method and path but never the token.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	if c.BaseURL == "" {
		return errors.New("adminapi: Client.BaseURL is empty")
	}
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("adminapi: %s %s: encoding request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("adminapi: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("adminapi: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("adminapi: %s %s: reading response: %w", method, path, err)
	}
	if len(raw) > MaxResponseBytes {
		return fmt.Errorf("adminapi: %s %s: response larger than %d bytes", method, path, MaxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("adminapi: %s %s: decoding response: %w", method, path, err)
	}
	return nil
}

// responseError builds an *Error from an error response, falling back to the status when the
// body is not an ErrorBody.
func responseError(status int, raw []byte) *Error {
	var b ErrorBody
	if err := json.Unmarshal(raw, &b); err != nil || b.Code == "" {
		return &Error{Status: status, Code: codeForStatus(status), Message: strings.ToLower(http.StatusText(status))}
	}
	msg := strings.Join(strings.Fields(b.Error), " ") // one line, whatever the server sent
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	return &Error{Status: status, Code: b.Code, Message: msg, Field: b.Field}
}
