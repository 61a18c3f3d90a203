package adminapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Paths of access control and the audit trail.
const (
	PathTokens = "/v1/tokens"
	PathWhoAmI = "/v1/whoami"
	PathAudit  = "/v1/audit"
)

// Roles of API tokens, each allowed what the one before it may do and more (docs/admin.md):
// a viewer reads stats, terminals, merchants, settlement and reversals; an operator also
// changes terminals and merchants (add, block, unblock, re-key, software targets, activation
// codes and unlocks) and reads the audit trail; an admin also manages tokens and profiles.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// WhoAmI is the token a request was made with.
type WhoAmI struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Name string `json:"name"` // 1–64 of a-z, 0-9, '-', '_', '.'
	Role string `json:"role"` // viewer, operator or admin
}

// APIToken describes a token without revealing it (the server keeps only its SHA-256).
type APIToken struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// CreatedToken is the answer to POST /v1/tokens: the token itself, shown this once.
type CreatedToken struct {
	APIToken
	Token string `json:"token"`
}

// AuditEntry is one record of the audit trail. A state-changing request is recorded twice:
// when it is accepted (Outcome "requested", before anything changes: if that record cannot be
// stored the request is refused) and when it has been answered (Outcome "ok" or "failed",
// Request naming the first record). Requests refused for the token's role are recorded once
// ("forbidden").
type AuditEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Node    string    `json:"node,omitempty"`
	Actor   string    `json:"actor"` // the token's name
	Role    string    `json:"role"`
	Action  string    `json:"action"` // method and route, e.g. "POST /v1/terminals/{tid}/block"
	Target  string    `json:"target,omitempty"`
	Remote  string    `json:"remote"` // the client's address
	Outcome string    `json:"outcome"`
	Status  int       `json:"status,omitempty"`  // HTTP status of the answer
	Code    string    `json:"code,omitempty"`    // error code of a failed answer
	Request uint64    `json:"request,omitempty"` // Seq of the "requested" record
}

// Audit outcomes.
const (
	OutcomeRequested = "requested"
	OutcomeOK        = "ok"
	OutcomeFailed    = "failed"
	OutcomeForbidden = "forbidden"
)

// AuditPage is one page of GET /v1/audit, oldest first.
type AuditPage struct {
	Entries []AuditEntry `json:"entries"`
	Next    uint64       `json:"next,omitempty"` // pass as after for the next page; 0 when done
}

// WhoAmI returns the client's token name and role.
func (c *Client) WhoAmI(ctx context.Context) (WhoAmI, error) {
	var w WhoAmI
	err := c.do(ctx, http.MethodGet, PathWhoAmI, nil, nil, &w)
	return w, err
}

// CreateToken creates a named token with a role (admin only). The token is in the answer
// and nowhere else.
func (c *Client) CreateToken(ctx context.Context, req CreateTokenRequest) (CreatedToken, error) {
	var t CreatedToken
	err := c.do(ctx, http.MethodPost, PathTokens, nil, req, &t)
	return t, err
}

// ListTokens lists the named tokens (admin only).
func (c *Client) ListTokens(ctx context.Context) ([]APIToken, error) {
	var l []APIToken
	err := c.do(ctx, http.MethodGet, PathTokens, nil, nil, &l)
	return l, err
}

// RevokeToken revokes the named token at once on every node (admin only).
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, PathTokens+"/"+url.PathEscape(name), nil, nil, nil)
}

// Audit returns up to limit (0: the server's default) audit entries after sequence after.
func (c *Client) Audit(ctx context.Context, after uint64, limit int) (AuditPage, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatUint(after, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p AuditPage
	err := c.do(ctx, http.MethodGet, PathAudit, q, nil, &p)
	return p, err
}
