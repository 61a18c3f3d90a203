package routing

import (
	"bytes"
	"errors"
	"slices"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

// Route defaults and bounds, applied by NewTable when a field is zero.
const (
	// DefaultTimeout is a route's timeout when none is configured (docs/upstream-protocol.md).
	DefaultTimeout = 8 * time.Second
	// MaxTimeout bounds a route's timeout: it must stay well under the terminal's (60 s).
	MaxTimeout = 30 * time.Second
	// DefaultMaxInFlight is a route's in-flight limit when none is configured.
	DefaultMaxInFlight = 1000
	// DefaultBreakerFailures is how many consecutive failures open a route's breaker.
	DefaultBreakerFailures = 5
	// DefaultBreakerCooldown is how long an open breaker fails fast before one probe is let
	// through (half-open).
	DefaultBreakerCooldown = 10 * time.Second
	// MaxBreakerCooldown bounds the cool-down.
	MaxBreakerCooldown = 10 * time.Minute
)

// maxPANDigits is the longest PAN; BIN bounds are compared as 19-digit numbers.
const maxPANDigits = 19

// Kind is a card kind. It is journaled with each transaction and drives the merchant fee.
type Kind uint8

// Card kinds. KindQR is not configured in the table: it comes from entry mode 03.
const (
	KindUnknown Kind = iota
	KindDebit
	KindCredit
	KindQR
)

var kindNames = [...]string{KindUnknown: "unknown", KindDebit: "debit", KindCredit: "credit", KindQR: "qr"}

// String returns debit, credit, qr or unknown.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// ParseKind is the inverse of String for debit, credit and qr.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if k != int(KindUnknown) && name == s {
			return Kind(k), nil
		}
	}
	return KindUnknown, ErrBadKind
}

// MarshalText implements encoding.TextMarshaler (YAML and JSON write the name).
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Route is one upstream route: a NATS subject suffix (posgate.auth.<Name>) and its limits.
// Zero limits take the defaults above.
type Route struct {
	// Name is the route's name: 1–32 characters a–z, 0–9, '-' or '_' (it is a subject token).
	Name string `yaml:"name"`
	// Timeout caps every request's deadline on this route. Default DefaultTimeout; at most
	// MaxTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// MaxInFlight is the most requests waiting for a reply at once; more fail with ErrBusy.
	// Default DefaultMaxInFlight.
	MaxInFlight int `yaml:"max_in_flight"`
	// BreakerFailures consecutive failures (timeouts, no responders, bad replies) open the
	// breaker. Default DefaultBreakerFailures.
	BreakerFailures int `yaml:"breaker_failures"`
	// BreakerCooldown is how long an open breaker fails fast before a probe. Default
	// DefaultBreakerCooldown; at most MaxBreakerCooldown.
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
	// Line is the route's line in the YAML file (set by ParseTable, 0 otherwise).
	Line int `yaml:"-"`
}

// BINRange maps the PANs from From to To (inclusive, compared on their leading digits) to a
// route and a card kind. From is padded with zeros and To with nines to 19 digits, so
// From "622126", To "622925" covers every PAN starting 622126…622925. Prefix "4" is the same as
// From "4", To "4".
type BINRange struct {
	Prefix string `yaml:"prefix"`
	From   string `yaml:"from"`
	To     string `yaml:"to"`
	Route  string `yaml:"route"`
	Kind   Kind   `yaml:"kind"`
	// Line is the range's line in the YAML file (set by ParseTable, 0 otherwise).
	Line int `yaml:"-"`
}

// bounds returns the range's bounds as 19-digit numbers.
func (r BINRange) bounds() (lo, hi uint64, err error) {
	from, to := r.From, r.To
	if r.Prefix != "" {
		if from != "" || to != "" {
			return 0, 0, ErrBadRange
		}
		from, to = r.Prefix, r.Prefix
	} else if to == "" {
		to = from
	}
	lo, okLo := padDigits(from, '0')
	hi, okHi := padDigits(to, '9')
	if !okLo || !okHi || lo > hi {
		return 0, 0, ErrBadRange
	}
	return lo, hi, nil
}

// padDigits reads 1–19 digits padded on the right with pad to 19 digits.
func padDigits(s string, pad byte) (uint64, bool) {
	if len(s) == 0 || len(s) > maxPANDigits {
		return 0, false
	}
	var v uint64
	for i := 0; i < maxPANDigits; i++ {
		c := pad
		if i < len(s) {
			c = s[i]
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// TableConfig is a routing table as written: routes, BIN ranges and the default for PANs no
// range covers. Build a Table from it with NewTable, or parse one with ParseTable.
type TableConfig struct {
	// DefaultRoute receives PANs no range covers. Required; must be one of Routes.
	DefaultRoute string `yaml:"default_route"`
	// DefaultKind is the kind of PANs no range covers. Default debit.
	DefaultKind Kind       `yaml:"default_kind"`
	Routes      []Route    `yaml:"routes"`
	BINs        []BINRange `yaml:"bins"`

	defaultRouteLine int
}

// Validate reports the first problem as a *TableError naming its line (for a parsed table) and
// route: no routes, a bad or duplicate route name, a timeout or limit out of range, a BIN range
// that is malformed, names an unknown route or kind, or overlaps another, and an unknown
// default route.
func (c TableConfig) Validate() error {
	_, err := c.compile()
	return err
}

// Table is a compiled, immutable routing table; it is safe for concurrent use.
type Table struct {
	routes       []Route
	byName       map[string]int
	defaultRoute string
	defaultKind  Kind
	lo, hi       []uint64 // sorted by lo, non-overlapping
	ranges       []BINRange
}

// NewTable validates cfg, applies the route defaults and compiles it for lookups.
func NewTable(cfg TableConfig) (*Table, error) { return cfg.compile() }

func (c TableConfig) compile() (*Table, error) {
	if len(c.Routes) == 0 {
		return nil, &TableError{Err: ErrNoRoutes}
	}
	t := &Table{byName: make(map[string]int, len(c.Routes)), defaultRoute: c.DefaultRoute, defaultKind: c.DefaultKind}
	if t.defaultKind == KindUnknown {
		t.defaultKind = KindDebit
	}
	if t.defaultKind == KindQR {
		return nil, &TableError{Line: c.defaultRouteLine, Err: ErrBadKind}
	}
	for _, r := range c.Routes {
		if !ValidRouteName(r.Name) {
			return nil, &TableError{Line: r.Line, Route: r.Name, Err: ErrBadRouteName}
		}
		if _, dup := t.byName[r.Name]; dup {
			return nil, &TableError{Line: r.Line, Route: r.Name, Err: ErrDuplicateRoute}
		}
		switch {
		case r.Timeout == 0:
			r.Timeout = DefaultTimeout
		case r.Timeout < 0 || r.Timeout > MaxTimeout:
			return nil, &TableError{Line: r.Line, Route: r.Name, Err: ErrBadTimeout}
		}
		switch {
		case r.BreakerCooldown == 0:
			r.BreakerCooldown = DefaultBreakerCooldown
		case r.BreakerCooldown < 0 || r.BreakerCooldown > MaxBreakerCooldown:
			return nil, &TableError{Line: r.Line, Route: r.Name, Err: ErrBadTimeout}
		}
		if r.MaxInFlight < 0 || r.BreakerFailures < 0 {
			return nil, &TableError{Line: r.Line, Route: r.Name, Err: ErrBadLimit}
		}
		if r.MaxInFlight == 0 {
			r.MaxInFlight = DefaultMaxInFlight
		}
		if r.BreakerFailures == 0 {
			r.BreakerFailures = DefaultBreakerFailures
		}
		t.byName[r.Name] = len(t.routes)
		t.routes = append(t.routes, r)
	}
	if _, ok := t.byName[c.DefaultRoute]; !ok {
		return nil, &TableError{Line: c.defaultRouteLine, Route: c.DefaultRoute, Err: ErrUnknownRoute}
	}
	type compiled struct {
		lo, hi uint64
		r      BINRange
	}
	cs := make([]compiled, 0, len(c.BINs))
	for _, r := range c.BINs {
		lo, hi, err := r.bounds()
		if err != nil {
			return nil, &TableError{Line: r.Line, Route: r.Route, Err: err}
		}
		if _, ok := t.byName[r.Route]; !ok {
			return nil, &TableError{Line: r.Line, Route: r.Route, Err: ErrUnknownRoute}
		}
		if r.Kind != KindDebit && r.Kind != KindCredit {
			return nil, &TableError{Line: r.Line, Route: r.Route, Err: ErrBadKind}
		}
		cs = append(cs, compiled{lo, hi, r})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].lo < cs[j].lo })
	for i, x := range cs {
		if i > 0 && x.lo <= cs[i-1].hi {
			return nil, &TableError{Line: x.r.Line, OtherLine: cs[i-1].r.Line, Route: x.r.Route, Err: ErrOverlap}
		}
		t.lo = append(t.lo, x.lo)
		t.hi = append(t.hi, x.hi)
		t.ranges = append(t.ranges, x.r)
	}
	return t, nil
}

// ValidRouteName reports whether s can name a route: 1–32 characters a–z, 0–9, '-' or '_', so
// that posgate.auth.<name> is a single subject token.
func ValidRouteName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Match is the result of a lookup.
type Match struct {
	Route   string // the route's name
	Kind    Kind
	Default bool // no BIN range covered the PAN: the default route and kind
}

// Lookup returns the route and kind of pan (ASCII digits, field 2): the range covering its
// leading digits, or the default. It is a binary search and allocates nothing.
func (t *Table) Lookup(pan []byte) Match {
	if key, ok := panKey(pan); ok {
		i, found := slices.BinarySearch(t.lo, key)
		if !found {
			i--
		}
		if i >= 0 && key <= t.hi[i] {
			return Match{Route: t.ranges[i].Route, Kind: t.ranges[i].Kind}
		}
	}
	return Match{Route: t.defaultRoute, Kind: t.defaultKind, Default: true}
}

// Resolve is Lookup plus the entry-mode rule: entry mode 03x (scanned code, field 22) makes the
// kind qr; the route still follows the PAN.
func (t *Table) Resolve(pan, entryMode []byte) Match {
	m := t.Lookup(pan)
	if len(entryMode) >= 2 && entryMode[0] == '0' && entryMode[1] == '3' {
		m.Kind = KindQR
	}
	return m
}

// panKey reads the PAN's leading digits as a 19-digit number padded with zeros.
func panKey(pan []byte) (uint64, bool) {
	if len(pan) == 0 || len(pan) > maxPANDigits {
		return 0, false
	}
	var v uint64
	for i := 0; i < maxPANDigits; i++ {
		var d byte
		if i < len(pan) {
			c := pan[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			d = c - '0'
		}
		v = v*10 + uint64(d)
	}
	return v, true
}

// Route returns the named route with its defaults applied.
func (t *Table) Route(name string) (Route, bool) {
	i, ok := t.byName[name]
	if !ok {
		return Route{}, false
	}
	return t.routes[i], true
}

// Routes returns the routes in table order (a copy).
func (t *Table) Routes() []Route { return slices.Clone(t.routes) }

// DefaultRoute returns the name of the route for PANs no range covers.
func (t *Table) DefaultRoute() string { return t.defaultRoute }

// ErrUnknownKey is wrapped by the *TableError of a YAML key the table does not know (a typo
// must not silently drop a setting).
var ErrUnknownKey = errors.New("routing table: unknown key")

// ParseTable parses a YAML routing table and compiles it:
//
//	default_route: cup
//	default_kind: debit          # optional, default debit
//	routes:
//	  - name: cup
//	    timeout: 8s              # optional, default 8s, at most 30s
//	    max_in_flight: 1000      # optional
//	    breaker_failures: 5      # optional
//	    breaker_cooldown: 10s    # optional
//	  - name: visa
//	bins:
//	  - {prefix: "4", route: visa, kind: credit}
//	  - {from: "620000", to: "622999", route: cup, kind: debit}
//
// Errors are *TableError values naming the line.
func ParseTable(data []byte) (*Table, error) {
	var c TableConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		var te *TableError
		if errors.As(err, &te) {
			return nil, te
		}
		return nil, &TableError{Line: yamlErrLine(err), Err: ErrTableSyntax, Cause: err}
	}
	return c.compile()
}

// yamlErrLine extracts the line of a yaml.v3 error ("yaml: line N: …"), 0 if none.
func yamlErrLine(err error) int {
	var te *yaml.TypeError
	s := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		s = te.Errors[0]
	}
	i := bytes.Index([]byte(s), []byte("line "))
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range []byte(s[i+5:]) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// UnmarshalYAML decodes the table, rejecting unknown keys and noting the default route's line.
func (c *TableConfig) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "default_route", "default_kind", "routes", "bins"); err != nil {
		return err
	}
	type plain TableConfig
	if err := n.Decode((*plain)(c)); err != nil {
		return err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "default_route" {
			c.defaultRouteLine = n.Content[i+1].Line
		}
	}
	if c.defaultRouteLine == 0 {
		c.defaultRouteLine = n.Line
	}
	return nil
}

// UnmarshalYAML decodes a route, rejecting unknown keys and noting its line.
func (r *Route) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "name", "timeout", "max_in_flight", "breaker_failures", "breaker_cooldown"); err != nil {
		return err
	}
	type plain Route
	if err := n.Decode((*plain)(r)); err != nil {
		return &TableError{Line: n.Line, Err: ErrTableSyntax, Cause: err}
	}
	r.Line = n.Line
	return nil
}

// UnmarshalYAML decodes a BIN range, rejecting unknown keys and noting its line.
func (r *BINRange) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "prefix", "from", "to", "route", "kind"); err != nil {
		return err
	}
	type plain BINRange
	if err := n.Decode((*plain)(r)); err != nil {
		if errors.Is(err, ErrBadKind) {
			return &TableError{Line: n.Line, Err: ErrBadKind}
		}
		return &TableError{Line: n.Line, Err: ErrTableSyntax, Cause: err}
	}
	r.Line = n.Line
	return nil
}

func checkKeys(n *yaml.Node, allowed ...string) error {
	if n.Kind != yaml.MappingNode {
		return &TableError{Line: n.Line, Err: ErrTableSyntax}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !slices.Contains(allowed, n.Content[i].Value) {
			return &TableError{Line: n.Content[i].Line, Err: ErrUnknownKey}
		}
	}
	return nil
}

// DefaultTableConfig is the built-in table of the embedded mode (`posgate serve` without a
// table file). Its ranges are illustrative, chosen so the demo terminals and the load generator
// exercise every route and kind:
//
//	4                 → visa, credit
//	620000 – 622999   → cup,  debit
//	623000 – 623099   → onus, debit   (posgate's demo on-us BIN)
//	625000 – 625999   → cup,  credit
//	628000 – 628999   → cup,  credit
//	anything else     → cup,  debit
func DefaultTableConfig() TableConfig {
	return TableConfig{
		DefaultRoute: "cup",
		DefaultKind:  KindDebit,
		Routes:       []Route{{Name: "cup"}, {Name: "visa"}, {Name: "onus"}},
		BINs: []BINRange{
			{Prefix: "4", Route: "visa", Kind: KindCredit},
			{From: "620000", To: "622999", Route: "cup", Kind: KindDebit},
			{From: "623000", To: "623099", Route: "onus", Kind: KindDebit},
			{From: "625000", To: "625999", Route: "cup", Kind: KindCredit},
			{From: "628000", To: "628999", Route: "cup", Kind: KindCredit},
		},
	}
}

// DefaultTable compiles DefaultTableConfig.
func DefaultTable() *Table {
	t, err := NewTable(DefaultTableConfig())
	if err != nil {
		panic("routing: built-in table invalid: " + err.Error()) // a programming error, caught by tests
	}
	return t
}
