// Package adminapi is the contract of posgate's admin HTTP API: the JSON types every endpoint
// accepts and returns, the error body and its codes, and Client, a typed client with one method
// per endpoint. The server is package admin; the `posgate terminal` CLI and the load generator
// (which provisions its simulated fleet) talk to it through Client.
//
// The package imports nothing of posgate, so any program may use it without pulling in the
// registry or the security module. Wire types never carry key material: a terminal's keys appear
// only as their key check values (KCV) and key generation. An activation code appears in exactly
// one place, the response that issued it (ActivationCode, CreateTerminalResponse), and is never
// stored by the server.
//
// Endpoints (all JSON; all but /healthz and /readyz need "Authorization: Bearer <token>"):
//
//	POST /v1/merchants                         CreateMerchantRequest → 201 Merchant
//	GET  /v1/merchants?after=&limit=           → MerchantList
//	GET  /v1/merchants/{mid}                   → Merchant
//	POST /v1/terminals                         CreateTerminalRequest → 201 CreateTerminalResponse
//	GET  /v1/terminals?mid=&status=&sn=&tid=&after=&limit=  → TerminalList
//	GET  /v1/terminals/{tid}                   → Terminal
//	POST /v1/terminals/{tid}/activation-code   IssueCodeRequest (optional) → 201 ActivationCode
//	POST /v1/terminals/{tid}/block             BlockRequest → Terminal
//	POST /v1/terminals/{tid}/unblock           → Terminal
//	POST /v1/terminals/{tid}/resign            → Terminal (force_sign_on set)
//	POST /v1/terminals/{tid}/software          SoftwareRequest → Terminal
//	GET  /v1/reversals?tid=&rrn=&txn=&since=&until=&limit=  → ReversalList
//	GET  /healthz, /readyz                     → Status (503 ErrorBody when not ready)
//	GET  /metrics                              Prometheus text format
//
// Errors are ErrorBody {"error": "...", "code": "...", "field": "..."} with the HTTP status
// given for each code in the Code constants; Client turns them into *Error, which matches the
// sentinel of its code with errors.Is.
package adminapi
