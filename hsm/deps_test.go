package hsm_test

import (
	"os/exec"
	"strings"
	"testing"
)

// hsm is a leaf of posgate (docs/architecture.md): it and its sub-packages import only the
// standard library and each other.
func TestImportsAreLeaf(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/posgate/posgate/hsm/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/posgate/posgate/hsm" && !strings.HasPrefix(p, "github.com/posgate/posgate/hsm/") {
			t.Errorf("hsm depends on %s: hsm may import only the standard library", p)
		}
	}
}
