package adminapi

import "time"

// API paths. Identifiers in paths are escaped with url.PathEscape.
const (
	PathMerchants = "/v1/merchants"
	PathTerminals = "/v1/terminals"
	PathHealth    = "/healthz"
	PathReady     = "/readyz"
	PathMetrics   = "/metrics"
)

// Terminal statuses as the API spells them.
const (
	StatusPending = "pending"
	StatusActive  = "active"
	StatusBlocked = "blocked"
)

// Block reasons as the API spells them.
const (
	ReasonLost   = "lost"
	ReasonStolen = "stolen"
	ReasonOther  = "other"
)

// MAC algorithms as the API spells them.
const (
	MACPOSECB = "pos-ecb"
	MACX919   = "x9.19"
)

// Merchant is a merchant as the API shows it.
type Merchant struct {
	MID               string    `json:"mid"`
	Name              string    `json:"name"`
	MCC               string    `json:"mcc"`
	City              string    `json:"city,omitempty"`
	FeePlan           string    `json:"fee_plan,omitempty"`
	SettlementAccount string    `json:"settlement_account"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	Revision          uint64    `json:"revision"`
}

// NewMerchant holds the fields of a merchant to create, other than its MID.
type NewMerchant struct {
	Name              string `json:"name"`               // required, UTF-8, at most 100 characters
	MCC               string `json:"mcc"`                // required, 4 digits
	City              string `json:"city,omitempty"`     // optional
	FeePlan           string `json:"fee_plan,omitempty"` // "" means the settlement default plan
	SettlementAccount string `json:"settlement_account"` // required: the account credited at settlement
}

// CreateMerchantRequest is the body of POST /v1/merchants.
type CreateMerchantRequest struct {
	MID string `json:"mid"` // 15 printable ASCII characters
	NewMerchant
}

// MerchantList is one page of GET /v1/merchants.
type MerchantList struct {
	Merchants []Merchant `json:"merchants"`
	// Next is the cursor of the next page (pass it as After); "" on the last page.
	Next string `json:"next,omitempty"`
}

// ListMerchantsRequest selects a page of merchants in MID order.
type ListMerchantsRequest struct {
	After string // return merchants whose MID sorts after this; "" starts at the beginning
	Limit int    // 0 means the server's default (50); the server caps it at 1000
}

// KeyInfo describes a terminal's keys without revealing them: each key's check value (8 upper
// case hex characters; "" when the key is not set) and the number of working-key rotations.
type KeyInfo struct {
	TMKKCV     string `json:"tmk_kcv,omitempty"`
	PIKKCV     string `json:"pik_kcv,omitempty"`
	MAKKCV     string `json:"mak_kcv,omitempty"`
	TDKKCV     string `json:"tdk_kcv,omitempty"`
	Generation uint64 `json:"generation"`
}

// Terminal is a terminal as the API shows it.
type Terminal struct {
	TID          string   `json:"tid"`
	MID          string   `json:"mid"`
	SN           string   `json:"sn,omitempty"`
	DeviceType   string   `json:"device_type,omitempty"`
	Status       string   `json:"status"`                 // pending, active or blocked
	BlockReason  string   `json:"block_reason,omitempty"` // lost, stolen or other when blocked
	Legacy       bool     `json:"legacy"`
	Operators    []string `json:"operators"`
	MACAlgorithm string   `json:"mac_algorithm"` // pos-ecb or x9.19
	Keys         KeyInfo  `json:"keys"`
	Batch        string   `json:"batch"` // current batch number, 6 digits

	SoftwareVersion     string `json:"software_version,omitempty"` // last reported by the terminal
	TargetVersion       string `json:"target_version,omitempty"`   // set by an operator
	NeedsSoftwareUpdate bool   `json:"needs_software_update"`
	ForceSignOn         bool   `json:"force_sign_on"`

	LastSeen   *time.Time `json:"last_seen,omitempty"`    // nil if never seen
	LastSignOn *time.Time `json:"last_sign_on,omitempty"` // nil if never signed on
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Revision   uint64     `json:"revision"`
}

// CreateTerminalRequest is the body of POST /v1/terminals.
type CreateTerminalRequest struct {
	TID          string   `json:"tid"`                     // 8 printable ASCII characters
	MID          string   `json:"mid"`                     // the owning merchant
	SN           string   `json:"sn,omitempty"`            // device serial number to bind
	DeviceType   string   `json:"device_type,omitempty"`   // 2 characters: 02 POS, 03 mPOS, 04 smart POS
	Legacy       bool     `json:"legacy,omitempty"`        // may sign on without field 59
	Operators    []string `json:"operators,omitempty"`     // default ["01"]
	MACAlgorithm string   `json:"mac_algorithm,omitempty"` // default pos-ecb
	// TargetVersion is the software version the terminal should run; "" for none.
	TargetVersion string `json:"target_version,omitempty"`
	// Merchant, when set, creates the merchant MID with these fields if it does not exist yet
	// (they are then validated: name, MCC and settlement account are required). For an existing
	// merchant they are ignored.
	Merchant *NewMerchant `json:"merchant,omitempty"`
	// CodeTTLSeconds is the validity of the activation code issued when SN is set; 0 means the
	// server's default (7 days), at most 90 days.
	CodeTTLSeconds int64 `json:"code_ttl_seconds,omitempty"`
}

// CreateTerminalResponse is the answer to POST /v1/terminals. When the request bound an SN, the
// server also issued an activation code: it is in this response and nowhere else.
type CreateTerminalResponse struct {
	Terminal        Terminal `json:"terminal"`
	MerchantCreated bool     `json:"merchant_created"`
	// ActivationCode is the one-time code to type into the terminal ("" when no SN is bound).
	ActivationCode string     `json:"activation_code,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"` // when ActivationCode expires
}

// ListTerminalsRequest filters GET /v1/terminals. Empty fields match everything. SN and TID
// look one terminal up (a list of zero or one); MID and Status filter a paged scan in TID order.
type ListTerminalsRequest struct {
	MID    string
	Status string // pending, active or blocked
	SN     string
	TID    string
	After  string // return terminals whose TID sorts after this
	Limit  int    // 0 means the server's default (50); the server caps it at 1000
}

// TerminalList is one page of GET /v1/terminals. A page may hold fewer than Limit terminals
// although more follow: continue while Next is not empty.
type TerminalList struct {
	Terminals []Terminal `json:"terminals"`
	Next      string     `json:"next,omitempty"`
}

// IssueCodeRequest is the optional body of POST /v1/terminals/{tid}/activation-code.
type IssueCodeRequest struct {
	// TTLSeconds is the code's validity; 0 means the server's default (7 days), at most 90 days.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// ActivationCode is a freshly issued activation code. It is returned once: the server keeps
// only a verifier, so a lost code can only be replaced by issuing a new one (which revokes it).
type ActivationCode struct {
	TID            string    `json:"tid"`
	SN             string    `json:"sn"`              // the serial number the code is issued to
	ActivationCode string    `json:"activation_code"` // 20 digits in groups of four
	ExpiresAt      time.Time `json:"expires_at"`
}

// String hides the code, so that printing the struct with fmt never leaks it.
func (c ActivationCode) String() string {
	return "activation code for terminal " + c.TID + " (hidden)"
}

// BlockRequest is the body of POST /v1/terminals/{tid}/block.
type BlockRequest struct {
	Reason string `json:"reason"` // lost, stolen or other
}

// SoftwareRequest is the body of POST /v1/terminals/{tid}/software.
type SoftwareRequest struct {
	// TargetVersion the terminal should run (at most 8 printable ASCII characters); "" clears it.
	TargetVersion string `json:"target_version"`
}

// Status is the body of a successful /healthz or /readyz.
type Status struct {
	Status string `json:"status"` // "ok" or "ready"
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`           // what went wrong; never holds a secret
	Code  string `json:"code"`            // one of the Code constants
	Field string `json:"field,omitempty"` // the JSON name of the invalid field, for CodeInvalid
}

// String hides the activation code, so that printing the response with fmt never leaks it.
func (r CreateTerminalResponse) String() string {
	return "terminal " + r.Terminal.TID + " created (activation code hidden)"
}

// ActivationStatus is where a terminal's activation code stands, without the code.
type ActivationStatus struct {
	TID    string `json:"tid"`
	SN     string `json:"sn"`
	Proofs int    `json:"proofs"` // proofs presented since the code was issued or unlocked
	// LockedUntil is when the SN may present its next proof; nil when it may now.
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	ExpiresAt   time.Time  `json:"expires_at"`
	Spent       bool       `json:"spent"`
}
