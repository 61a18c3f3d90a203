package routing

import (
	"errors"
	"testing"
	"time"
)

const testTable = `default_route: cup
default_kind: debit
routes:
  - name: cup
  - name: visa
    timeout: 5s
    max_in_flight: 50
    breaker_failures: 3
    breaker_cooldown: 2s
  - name: onus
bins:
  - {prefix: "4", route: visa, kind: credit}
  - {from: "620000", to: "622999", route: cup, kind: debit}
  - from: "623000"
    to: "623099"
    route: onus
    kind: debit
  - {from: "62510000", to: "62519999", route: cup, kind: credit}
`

func TestParseTableLookup(t *testing.T) {
	tab, err := ParseTable([]byte(testTable))
	if err != nil {
		t.Fatalf("ParseTable: %v", err)
	}
	tests := []struct {
		pan         string
		route       string
		kind        Kind
		defaultSeen bool
	}{
		{"4111111111111111", "visa", KindCredit, false},
		{"4000000000000000000", "visa", KindCredit, false}, // 19 digits
		{"3999999999999999", "cup", KindDebit, true},       // just below the 4 prefix
		{"5000000000000000", "cup", KindDebit, true},       // just above
		{"6200000000000000", "cup", KindDebit, false},      // lower bound
		{"6229999999999999", "cup", KindDebit, false},      // upper bound
		{"6199999999999999", "cup", KindDebit, true},       // one below the range
		{"6230000000000000", "onus", KindDebit, false},     // next range starts right after
		{"6230999999999999999", "onus", KindDebit, false},  // upper bound, 19 digits
		{"6231000000000000", "cup", KindDebit, true},       // one above
		{"6251000012345678", "cup", KindCredit, false},     // 8-digit BIN range
		{"6250999999999999", "cup", KindDebit, true},
		{"6252000000000000", "cup", KindDebit, true},
		{"62", "cup", KindDebit, false}, // short input pads with zeros: 6200… is in range
		{"", "cup", KindDebit, true},
		{"62000000000000X0", "cup", KindDebit, true},     // not digits
		{"62000000000000000000", "cup", KindDebit, true}, // 20 digits
	}
	for _, tt := range tests {
		t.Run(tt.pan, func(t *testing.T) {
			got := tab.Lookup([]byte(tt.pan))
			if got.Route != tt.route || got.Kind != tt.kind || got.Default != tt.defaultSeen {
				t.Errorf("Lookup = %+v, want route %s kind %v default %v", got, tt.route, tt.kind, tt.defaultSeen)
			}
		})
	}
	visa, ok := tab.Route("visa")
	if !ok || visa.Timeout != 5*time.Second || visa.MaxInFlight != 50 || visa.BreakerFailures != 3 ||
		visa.BreakerCooldown != 2*time.Second || visa.Line != 5 {
		t.Errorf("visa route = %+v", visa)
	}
	cup, _ := tab.Route("cup")
	if cup.Timeout != DefaultTimeout || cup.MaxInFlight != DefaultMaxInFlight ||
		cup.BreakerFailures != DefaultBreakerFailures || cup.BreakerCooldown != DefaultBreakerCooldown {
		t.Errorf("cup route defaults = %+v", cup)
	}
	if _, ok := tab.Route("amex"); ok {
		t.Error("unknown route found")
	}
	if got := len(tab.Routes()); got != 3 {
		t.Errorf("Routes() has %d routes, want 3", got)
	}
}

func TestResolveQR(t *testing.T) {
	tab := DefaultTable()
	tests := []struct {
		pan, mode string
		route     string
		kind      Kind
	}{
		{"4111111111111111", "051", "visa", KindCredit},
		{"4111111111111111", "031", "visa", KindQR},
		{"6212340000000000", "032", "cup", KindQR},
		{"", "030", "cup", KindQR},
		{"6212340000000000", "", "cup", KindDebit},
		{"6250000000000000", "072", "cup", KindCredit},
		{"6230000000000000", "021", "onus", KindDebit},
	}
	for _, tt := range tests {
		got := tab.Resolve([]byte(tt.pan), []byte(tt.mode))
		if got.Route != tt.route || got.Kind != tt.kind {
			t.Errorf("Resolve(%s, %s) = %+v, want %s/%v", tt.pan, tt.mode, got, tt.route, tt.kind)
		}
	}
}

func TestTableValidationErrors(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		want      error
		line      int
		otherLine int
		route     string
	}{
		{"overlap", "default_route: cup\nroutes:\n  - name: cup\nbins:\n  - {from: \"620000\", to: \"622999\", route: cup, kind: debit}\n  - {prefix: \"6221\", route: cup, kind: credit}\n",
			ErrOverlap, 6, 5, "cup"},
		{"overlap at shared bound", "default_route: cup\nroutes:\n  - name: cup\nbins:\n  - {from: \"620000\", to: \"622999\", route: cup, kind: debit}\n  - {from: \"622999\", to: \"623999\", route: cup, kind: debit}\n",
			ErrOverlap, 6, 5, "cup"},
		{"unknown default route", "routes:\n  - name: cup\ndefault_route: amex\n", ErrUnknownRoute, 3, 0, "amex"},
		{"missing default route", "routes:\n  - name: cup\n", ErrUnknownRoute, 1, 0, ""},
		{"range names unknown route", "default_route: cup\nroutes:\n  - name: cup\nbins:\n  - {prefix: \"4\", route: visa, kind: credit}\n",
			ErrUnknownRoute, 5, 0, "visa"},
		{"negative timeout", "default_route: cup\nroutes:\n  - name: cup\n  - name: visa\n    timeout: -1s\n", ErrBadTimeout, 4, 0, "visa"},
		{"timeout too long", "default_route: cup\nroutes:\n  - name: cup\n    timeout: 31s\n", ErrBadTimeout, 3, 0, "cup"},
		{"unparsable timeout", "default_route: cup\nroutes:\n  - name: cup\n    timeout: soon\n", ErrTableSyntax, 3, 0, ""},
		{"negative cooldown", "default_route: cup\nroutes:\n  - name: cup\n    breaker_cooldown: -5s\n", ErrBadTimeout, 3, 0, "cup"},
		{"negative limit", "default_route: cup\nroutes:\n  - name: cup\n    max_in_flight: -1\n", ErrBadLimit, 3, 0, "cup"},
		{"duplicate route", "default_route: cup\nroutes:\n  - name: cup\n  - name: cup\n", ErrDuplicateRoute, 4, 0, "cup"},
		{"bad route name", "default_route: cup\nroutes:\n  - name: cup\n  - name: \"a.b\"\n", ErrBadRouteName, 4, 0, "a.b"},
		{"bad kind", "default_route: cup\nroutes:\n  - name: cup\nbins:\n  - {prefix: \"4\", route: cup, kind: prepaid}\n", ErrBadKind, 5, 0, ""},
		{"qr is not a BIN kind", "default_route: cup\nroutes:\n  - name: cup\nbins:\n  - {prefix: \"4\", route: cup, kind: qr}\n", ErrBadKind, 5, 0, "cup"},
		{"range upside down", "default_route: cup\nroutes:\n  - name: cup\nbins:\n  - {from: \"623000\", to: \"622000\", route: cup, kind: debit}\n", ErrBadRange, 5, 0, "cup"},
		{"range not digits", "default_route: cup\nroutes:\n  - name: cup\nbins:\n  - {prefix: \"62x\", route: cup, kind: debit}\n", ErrBadRange, 5, 0, "cup"},
		{"prefix and from", "default_route: cup\nroutes:\n  - name: cup\nbins:\n  - {prefix: \"62\", from: \"62\", route: cup, kind: debit}\n", ErrBadRange, 5, 0, "cup"},
		{"unknown key", "default_route: cup\nroutes:\n  - name: cup\n    timout: 5s\n", ErrUnknownKey, 4, 0, ""},
		{"no routes", "default_route: cup\n", ErrNoRoutes, 0, 0, ""},
		{"not YAML", "default_route: [cup\n", ErrTableSyntax, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTable([]byte(tt.yaml))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			var te *TableError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TableError", err)
			}
			if tt.line != 0 && te.Line != tt.line || te.OtherLine != tt.otherLine || te.Route != tt.route {
				t.Errorf("TableError = line %d other %d route %q, want %d %d %q (%v)", te.Line, te.OtherLine, te.Route,
					tt.line, tt.otherLine, tt.route, err)
			}
		})
	}
}

func TestDefaultTableValid(t *testing.T) {
	if err := DefaultTableConfig().Validate(); err != nil {
		t.Fatalf("built-in table: %v", err)
	}
	tab := DefaultTable()
	if tab.DefaultRoute() != "cup" {
		t.Errorf("default route %q", tab.DefaultRoute())
	}
	for _, name := range []string{"cup", "visa", "onus"} {
		if _, ok := tab.Route(name); !ok {
			t.Errorf("built-in table lacks route %s", name)
		}
	}
}

func TestKindText(t *testing.T) {
	for _, k := range []Kind{KindDebit, KindCredit, KindQR} {
		b, _ := k.MarshalText()
		var got Kind
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("kind %v round trip = %v, %v", k, got, err)
		}
	}
	if _, err := ParseKind("unknown"); !errors.Is(err, ErrBadKind) {
		t.Errorf("ParseKind(unknown) error = %v", err)
	}
}
