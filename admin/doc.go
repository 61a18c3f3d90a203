// Package admin is posgate's admin HTTP server: the JSON admin API whose contract is package
// adminapi (merchants, terminals, activation codes, blocking, forced sign-on, target software
// versions), Prometheus /metrics, and the /healthz and /readyz probes.
//
// Everything but the two probes needs "Authorization: Bearer <token>"; the token is compared in
// constant time. LoadOrCreateToken makes the token of the embedded default (a random token in a
// 0600 file), LoadToken and ParseToken read one an operator provides.
//
// The server reaches the registry through Registry, the subset of terminal.Store it uses, and
// draws activation codes through ActivationCodes (satisfied by hsm.Module). An activation code
// goes from the security module straight into the one HTTP response that issued it: only its
// verifier is stored, and neither codes nor tokens are logged. Terminals are shown with their
// keys' check values and key generation, never key material.
//
// Errors of the registry map to HTTP statuses in one function (problemOf); error bodies are
// adminapi.ErrorBody and never hold a secret. Request bodies are JSON of at most
// Config.MaxBodyBytes with no unknown fields.
//
// Lifecycle: New → Start(ctx) or Serve(ln) → Shutdown(ctx), which is safe to call twice.
// Handler returns the http.Handler for tests and for embedding in another server.
package admin
