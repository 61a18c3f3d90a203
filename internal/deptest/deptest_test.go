// Package deptest enforces the import direction of docs/architecture.md: which of posgate's
// packages each package may import (a package may always import its own sub-packages), and
// that the codec stays free of networking and logging.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/posgate/posgate"

// allowed maps a top-level package to the top-level packages of ours it may import.
// A top-level package missing here fails the test: add it with its rule.
var allowed = map[string][]string{
	"codec":      {},
	"hsm":        {},
	"journal":    {},
	"natsembed":  {},
	"terminal":   {"hsm", "internal"},
	"routing":    {"codec", "hsm", "natsembed"}, // routing/redisstan uses go-redis directly
	"gateway":    {"codec", "hsm", "terminal", "routing", "journal", "internal"},
	"settlement": {"journal"},
	"adminapi":   {},
	"admin":      {"terminal", "journal", "settlement", "adminapi", "hsm", "internal"},
	"loadtest":   {"codec", "hsm", "adminapi"},
	// reconcile compares the journal with files (an issuer's clearing file, terminal books);
	// it knows nothing of the gateway, the routing or the simulator.
	"reconcile": {"journal"},
	// faults holds only the fault suite's tests (real processes; its doc.go imports nothing).
	"faults":   {},
	"internal": {},
	"app":      {"codec", "hsm", "terminal", "routing", "journal", "gateway", "natsembed", "admin", "adminapi", "settlement", "internal"},
	"cmd":      nil, // the binary may import everything
}

// forbidden lists imports (ours or not) a package must not have even indirectly.
var forbidden = map[string][]string{
	"codec": {"net", "go.uber.org/zap"},
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

func topLevel(pkg string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	top, _, _ := strings.Cut(rel, "/")
	return top
}

func TestImportDirection(t *testing.T) {
	pkgs := goList(t, module+"/...")
	if len(pkgs) < 2 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, pkg := range pkgs {
		top := topLevel(pkg)
		rule, known := allowed[top]
		if !known {
			t.Errorf("%s: top-level package %q has no import rule in deptest", pkg, top)
			continue
		}
		deps := goList(t, "-deps", "-f", "{{.ImportPath}}", pkg)
		for _, dep := range deps {
			for _, bad := range forbidden[top] {
				if dep == bad || strings.HasPrefix(dep, bad+"/") {
					t.Errorf("%s imports %s: %s must stay free of it", pkg, dep, top)
				}
			}
			if rule == nil || !strings.HasPrefix(dep, module+"/") {
				continue
			}
			depTop := topLevel(dep)
			if depTop == top {
				continue
			}
			ok := false
			for _, a := range rule {
				ok = ok || a == depTop
			}
			if !ok {
				t.Errorf("%s imports %s: %s may import only %v of posgate (docs/architecture.md)", pkg, dep, top, rule)
			}
		}
	}
}

// The test must see the rule it enforces: the codec imports no package of ours and no net.
func TestCodecIsALeaf(t *testing.T) {
	for _, dep := range goList(t, "-deps", "-f", "{{.ImportPath}}", module+"/codec") {
		if dep != module+"/codec" && strings.HasPrefix(dep, module+"/") || dep == "net" {
			t.Fatalf("codec imports %s", dep)
		}
	}
}

// internal/proctest builds and runs the posgate binary for tests: no package may import it
// (its own test files, and other packages' test files, may).
func TestProctestOnlyInTests(t *testing.T) {
	const proctest = module + "/internal/proctest"
	for _, line := range goList(t, "-f", "{{.ImportPath}}:{{join .Imports \",\"}}", module+"/...") { // no spaces: one field each
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Split(imports, ",") {
			if imp == proctest {
				t.Errorf("%s imports %s, which is for tests only", pkg, proctest)
			}
		}
	}
}
