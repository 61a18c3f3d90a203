package terminal

// Status is a terminal's lifecycle state.
type Status uint8

// Terminal states. The zero value is not a valid status.
const (
	StatusPending Status = iota + 1 // registered, waiting for activation (no TMK yet)
	StatusActive                    // activated: may sign on and transact
	StatusBlocked                   // blocked by an operator; see BlockReason
)

var statusNames = [...]string{StatusPending: "pending", StatusActive: "active", StatusBlocked: "blocked"}

// String returns "pending", "active" or "blocked".
func (s Status) String() string {
	if s > 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// ParseStatus is the inverse of Status.String.
func ParseStatus(s string) (Status, error) {
	for i, n := range statusNames {
		if n != "" && n == s {
			return Status(i), nil
		}
	}
	return 0, invalid("Status", "must be pending, active or blocked")
}

// MarshalText encodes s as its name.
func (s Status) MarshalText() ([]byte, error) {
	if s.String() == "unknown" {
		return nil, invalid("Status", "must be pending, active or blocked")
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes what MarshalText wrote.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// BlockReason says why a terminal is blocked.
type BlockReason uint8

// Block reasons. ReasonNone goes with every status other than StatusBlocked.
const (
	ReasonNone   BlockReason = iota
	ReasonLost               // device reported lost
	ReasonStolen             // device reported stolen
	ReasonOther              // any other operator decision
)

var reasonNames = [...]string{ReasonNone: "", ReasonLost: "lost", ReasonStolen: "stolen", ReasonOther: "other"}

// String returns "lost", "stolen", "other", or "" for ReasonNone.
func (r BlockReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// ParseBlockReason is the inverse of BlockReason.String.
func ParseBlockReason(s string) (BlockReason, error) {
	for i, n := range reasonNames {
		if n == s {
			return BlockReason(i), nil
		}
	}
	return 0, invalid("BlockReason", "must be lost, stolen or other")
}

// MarshalText encodes r as its name.
func (r BlockReason) MarshalText() ([]byte, error) {
	if int(r) >= len(reasonNames) {
		return nil, invalid("BlockReason", "must be lost, stolen or other")
	}
	return []byte(r.String()), nil
}

// UnmarshalText decodes what MarshalText wrote.
func (r *BlockReason) UnmarshalText(b []byte) error {
	v, err := ParseBlockReason(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
