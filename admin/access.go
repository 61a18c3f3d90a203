package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/adminapi"
)

// Access control (docs/admin.md, docs/security.md): every request but the probes and the
// dashboard page carries a bearer token; the token names a principal with a role; each route
// needs a role (requiredRole); every state-changing request is written to the audit trail
// before anything changes and again with its answer.

// BootstrapToken is the name of the token of Config.Token: role admin, configured rather than
// stored, for creating the named tokens.
const BootstrapToken = "bootstrap"

// TokenRecord is a named API token as the server keeps it: the SHA-256 of the token, never the
// token (a token is 256 random bits, so the hash cannot be searched).
type TokenRecord struct {
	Name      string
	Role      string
	Hash      [sha256.Size]byte
	CreatedAt time.Time
	CreatedBy string
}

// Token store errors.
var (
	ErrTokenExists   = errors.New("admin: a token of that name exists")
	ErrTokenNotFound = errors.New("admin: no token of that name")
	// ErrAudit: the audit trail could not store a record; the request was not carried out.
	ErrAudit = errors.New("admin: audit trail unavailable")
)

// Tokens keeps the named tokens, shared by every node (admin/natsstore: a JetStream KV bucket
// watched by every node, so a revocation reaches all of them at once).
type Tokens interface {
	// Lookup finds a token by its hash without I/O.
	Lookup(hash [sha256.Size]byte) (TokenRecord, bool)
	// Create stores rec; ErrTokenExists if the name is taken.
	Create(ctx context.Context, rec TokenRecord) error
	// Revoke deletes the token name; ErrTokenNotFound if there is none. When it returns, Lookup
	// on this node no longer finds it.
	Revoke(ctx context.Context, name string) error
	// List returns the tokens by name.
	List(ctx context.Context) ([]TokenRecord, error)
}

// AuditLog is the durable audit trail (admin/natsstore: a JetStream stream).
type AuditLog interface {
	// Append stores e durably and returns its sequence number.
	Append(ctx context.Context, e adminapi.AuditEntry) (uint64, error)
	// List returns up to limit entries after sequence after, oldest first.
	List(ctx context.Context, after uint64, limit int) ([]adminapi.AuditEntry, error)
}

// Role ranks.
var roleRank = map[string]int{adminapi.RoleViewer: 1, adminapi.RoleOperator: 2, adminapi.RoleAdmin: 3}

// ValidRole reports whether role is viewer, operator or admin.
func ValidRole(role string) bool { return roleRank[role] > 0 }

// allows reports whether a principal of role may use a route needing need.
func allows(role, need string) bool { return roleRank[role] >= roleRank[need] }

// requiredRole is the role a route (a mux pattern "METHOD /path") needs; "" for the public
// ones. Reads are for viewers, changes for operators; tokens and profiling for admins, the
// audit trail for operators. A route this table does not know falls to the strictest rule
// that fits its method.
func requiredRole(pattern string) string {
	method, path, _ := strings.Cut(pattern, " ")
	switch {
	case path == adminapi.PathHealth || path == adminapi.PathReady || path == "/{$}":
		return ""
	case strings.HasPrefix(path, adminapi.PathTokens), strings.HasPrefix(path, PathPprof):
		return adminapi.RoleAdmin
	case path == adminapi.PathAudit:
		return adminapi.RoleOperator
	case method == http.MethodGet || method == http.MethodHead:
		return adminapi.RoleViewer
	}
	return adminapi.RoleOperator
}

// auditNote carries what a handler read from the body into the outcome record.
type auditNote struct{ detail string }

type auditKey struct{}

// auditDetail adds key=value pairs (identifiers, never secrets) to the request's outcome
// record in the audit trail.
func auditDetail(r *http.Request, kv ...string) {
	n, ok := r.Context().Value(auditKey{}).(*auditNote)
	if !ok {
		return
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		n.detail = strings.TrimSpace(n.detail + " " + kv[i] + "=" + kv[i+1])
	}
}

// principal is who made a request.
type principal struct{ name, role string }

type principalKey struct{}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// identify returns the principal of an Authorization header: the bootstrap token, or a named
// token of Config.Tokens.
func (s *Server) identify(header string) (principal, bool) {
	tok, ok := bearer(header)
	if !ok {
		return principal{}, false
	}
	if s.tokens.matches(tok) {
		return principal{BootstrapToken, adminapi.RoleAdmin}, true
	}
	if s.cfg.Tokens != nil {
		if rec, ok := s.cfg.Tokens.Lookup(sha256.Sum256([]byte(tok))); ok {
			return principal{rec.Name, rec.Role}, true
		}
	}
	return principal{}, false
}

// serveAuthorized checks the principal's role for the route and, for a state-changing
// request, records it in the audit trail around h.
func (s *Server) serveAuthorized(w http.ResponseWriter, r *http.Request, pattern string, h http.Handler) {
	need := requiredRole(pattern)
	if need == "" {
		h.ServeHTTP(w, r)
		return
	}
	p := principalOf(r)
	changes := r.Method != http.MethodGet && r.Method != http.MethodHead
	entry := adminapi.AuditEntry{Node: s.cfg.Node, Actor: p.name, Role: p.role, Action: pattern,
		Target: target(pattern, r.URL.Path), Remote: r.RemoteAddr}
	if !allows(p.role, need) {
		if changes {
			entry.Outcome, entry.Status, entry.Code = adminapi.OutcomeForbidden, http.StatusForbidden, adminapi.CodeForbidden
			s.record(r.Context(), entry)
		}
		s.writeError(w, r, badRequest(adminapi.CodeForbidden, "the "+p.role+" role may not do this; it needs "+need))
		return
	}
	if !changes || s.cfg.Audit == nil {
		h.ServeHTTP(w, r)
		return
	}
	entry.Outcome = adminapi.OutcomeRequested
	seq, err := s.record(r.Context(), entry)
	if err != nil {
		s.writeError(w, r, badRequest(adminapi.CodeUnavailable, "audit trail unavailable: nothing was changed"))
		return
	}
	// The answer waits until its outcome is recorded: a caller that saw success can rely on the
	// trail holding it. Handlers add what the body named (auditDetail).
	buf := &bufferedWriter{header: http.Header{}}
	note := &auditNote{}
	h.ServeHTTP(buf, r.WithContext(context.WithValue(r.Context(), auditKey{}, note)))
	if note.detail != "" {
		entry.Target = strings.TrimSpace(entry.Target + " " + note.detail)
	}
	entry.Request, entry.Status = seq, buf.code()
	entry.Outcome = adminapi.OutcomeOK
	if entry.Status >= 400 {
		entry.Outcome, entry.Code = adminapi.OutcomeFailed, errorCode(buf.body.Bytes())
	}
	_, _ = s.record(r.Context(), entry)
	buf.flush(w)
}

// record appends e to the audit trail with the server's clock, bounded by its own timeout
// (the request's context may be ending). Failures are logged.
func (s *Server) record(ctx context.Context, e adminapi.AuditEntry) (uint64, error) {
	if s.cfg.Audit == nil {
		return 0, nil
	}
	e.Time = time.Now().UTC()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
	defer cancel()
	seq, err := s.cfg.Audit.Append(actx, e)
	if err != nil {
		s.log.Error("audit trail append failed", zap.String("action", e.Action), zap.String("actor", e.Actor),
			zap.String("outcome", e.Outcome), zap.Error(err))
		return 0, errors.Join(ErrAudit, err)
	}
	return seq, nil
}

// target names what a request acts on: the wildcards of its route ("tid=T0000001"), read off
// the path (the mux sets path values only once it dispatches).
func target(pattern, path string) string {
	_, pp, _ := strings.Cut(pattern, " ")
	want, got := strings.Split(pp, "/"), strings.Split(path, "/")
	var parts []string
	for i, seg := range want {
		if i < len(got) && strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && seg != "{$}" {
			parts = append(parts, strings.Trim(seg, "{}.")+"="+got[i])
		}
	}
	return strings.Join(parts, " ")
}

// errorCode reads the code of an ErrorBody response.
func errorCode(body []byte) string {
	const key = `"code":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	if j := bytes.IndexByte(rest, '"'); j >= 0 && j <= 64 {
		return string(rest[:j])
	}
	return ""
}

// bufferedWriter holds a response until its outcome is audited.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}
func (b *bufferedWriter) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}
func (b *bufferedWriter) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.code())
	_, _ = w.Write(b.body.Bytes())
}

// Token names: 1–64 of a-z, 0-9, '-', '_', '.'; "bootstrap" is reserved.
func validTokenName(name string) error {
	if name == BootstrapToken {
		return invalidField("name", `"bootstrap" is the configured token's name`)
	}
	if len(name) == 0 || len(name) > 64 {
		return invalidField("name", "must be 1 to 64 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return invalidField("name", "may hold only a-z, 0-9, '-', '_' and '.'")
		}
	}
	return nil
}

func (s *Server) accessRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+adminapi.PathWhoAmI, s.api(s.whoAmI))
	if s.cfg.Tokens != nil {
		m.HandleFunc("POST "+adminapi.PathTokens, s.api(s.createToken))
		m.HandleFunc("GET "+adminapi.PathTokens, s.api(s.listTokens))
		m.HandleFunc("DELETE "+adminapi.PathTokens+"/{name}", s.api(s.revokeToken))
	}
	if s.cfg.Audit != nil {
		m.HandleFunc("GET "+adminapi.PathAudit, s.api(s.listAudit))
	}
}

func (s *Server) whoAmI(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	writeJSON(w, http.StatusOK, adminapi.WhoAmI{Name: p.name, Role: p.role})
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.CreateTokenRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	if err := validTokenName(req.Name); err != nil {
		return err
	}
	if !ValidRole(req.Role) {
		return invalidField("role", "must be viewer, operator or admin")
	}
	auditDetail(r, "name", req.Name, "role", req.Role)
	tok := NewToken()
	rec := TokenRecord{Name: req.Name, Role: req.Role, Hash: sha256.Sum256([]byte(tok)),
		CreatedAt: time.Now().UTC().Truncate(time.Second), CreatedBy: principalOf(r).name}
	if err := s.cfg.Tokens.Create(r.Context(), rec); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, adminapi.CreatedToken{APIToken: tokenView(rec), Token: tok})
	return nil
}

func tokenView(rec TokenRecord) adminapi.APIToken {
	return adminapi.APIToken{Name: rec.Name, Role: rec.Role, CreatedAt: rec.CreatedAt, CreatedBy: rec.CreatedBy}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	recs, err := s.cfg.Tokens.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]adminapi.APIToken, 0, len(recs))
	for _, rec := range recs {
		out = append(out, tokenView(rec))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Tokens.Revoke(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Audit page sizes.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return invalidField("after", "must be a sequence number")
		}
		after = n
	}
	limit := defaultAuditLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return invalidField("limit", "must be a positive number")
		}
		limit = min(n, maxAuditLimit)
	}
	entries, err := s.cfg.Audit.List(r.Context(), after, limit)
	if err != nil {
		return err
	}
	page := adminapi.AuditPage{Entries: entries}
	if page.Entries == nil {
		page.Entries = []adminapi.AuditEntry{}
	}
	if len(entries) == limit {
		page.Next = entries[len(entries)-1].Seq
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
