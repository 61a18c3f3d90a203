package admin

import (
	"testing"

	"github.com/posgate/posgate/adminapi"
)

// Every route the server registers needs the role docs/admin.md gives it.
func TestRequiredRole(t *testing.T) {
	for pattern, want := range map[string]string{
		"GET /healthz": "", "GET /readyz": "", "GET /{$}": "",
		"GET /metrics": adminapi.RoleViewer, "GET /v1/stats": adminapi.RoleViewer, "GET /v1/whoami": adminapi.RoleViewer,
		"GET /v1/terminals/{tid}": adminapi.RoleViewer, "GET /v1/merchants": adminapi.RoleViewer,
		"GET /v1/settlement/runs/{date}/files/{name}": adminapi.RoleViewer, "GET /v1/reversals": adminapi.RoleViewer,
		"POST /v1/terminals": adminapi.RoleOperator, "POST /v1/merchants": adminapi.RoleOperator,
		"POST /v1/terminals/{tid}/block": adminapi.RoleOperator, "POST /v1/terminals/{tid}/activation/unlock": adminapi.RoleOperator,
		"POST /v1/terminals/{tid}/resign": adminapi.RoleOperator, "POST /v1/terminals/{tid}/software": adminapi.RoleOperator,
		"GET /v1/audit":  adminapi.RoleOperator,
		"GET /v1/tokens": adminapi.RoleAdmin, "POST /v1/tokens": adminapi.RoleAdmin, "DELETE /v1/tokens/{name}": adminapi.RoleAdmin,
		"GET /debug/pprof/": adminapi.RoleAdmin, "GET /debug/pprof/profile": adminapi.RoleAdmin,
	} {
		if got := requiredRole(pattern); got != want {
			t.Errorf("requiredRole(%q) = %q, want %q", pattern, got, want)
		}
	}
	if !allows(adminapi.RoleAdmin, adminapi.RoleViewer) || allows(adminapi.RoleViewer, adminapi.RoleOperator) || allows("", adminapi.RoleViewer) {
		t.Errorf("role order broken")
	}
}
