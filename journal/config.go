package journal

import (
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultStream          = "POSGATE_JOURNAL"
	DefaultSubjectPrefix   = "posgate.journal"
	DefaultReplicas        = 1
	DefaultDuplicateWindow = 26 * time.Hour
	DefaultRecentIDs       = 1 << 18
	DefaultRetryWindow     = 2 * time.Minute
	DefaultMaxBatch        = 512
	DefaultMaxSegmentBytes = 256 << 10
	DefaultMaxInFlight     = 1
	DefaultPublishTimeout  = 5 * time.Second
	DefaultPublishAttempts = 3
	// DefaultLeaderWait covers a JetStream leader election (nats-server's Raft
	// election timeout is 4–9 s) with room to spare.
	DefaultLeaderWait = 30 * time.Second
)

// maxSegmentBytesLimit stays under nats-server's default max_payload (1 MiB)
// with room for headers.
const maxSegmentBytesLimit = 1<<20 - 4<<10

// Config configures a Journal. The zero value is valid: every field has a
// documented default.
type Config struct {
	// Stream is the JetStream stream name. Default DefaultStream.
	Stream string
	// SubjectPrefix is the subject prefix; segments of business date D are
	// published to "<prefix>.<YYYYMMDD>" and the stream captures "<prefix>.>".
	// Default DefaultSubjectPrefix.
	SubjectPrefix string
	// Replicas is the stream replication factor: 1 for a single server (durable
	// through fsync-before-ack), 3 in a cluster. 0 keeps an existing stream's factor
	// (readers: settle, reconcile must never scale the book of record down) and
	// creates a missing one with DefaultReplicas.
	Replicas int
	// MaxAge is how long the server keeps segments; 0 (default) keeps them
	// forever. The stream uses DiscardNew, so a full stream refuses appends rather
	// than silently dropping old records.
	MaxAge time.Duration
	// MaxBytes caps the stream size; 0 (default) means unlimited.
	MaxBytes int64

	// DuplicateWindow is how long this process remembers an appended transaction
	// id so that a repeated Append is answered without writing again. Default
	// DefaultDuplicateWindow (a business day plus two hours). Read de-duplicates
	// exactly regardless of this window.
	DuplicateWindow time.Duration
	// RecentIDs caps how many transaction ids are remembered (memory bound, about
	// 100 bytes each); the oldest are forgotten first. Default DefaultRecentIDs.
	RecentIDs int
	// RetryWindow is the server's Nats-Msg-Id duplicates window for segments. A
	// segment whose acknowledgement was lost is re-sent with the same id within it,
	// so the server stores it once. Default DefaultRetryWindow.
	RetryWindow time.Duration

	// MaxBatch caps records per segment (one fsync). Default DefaultMaxBatch.
	MaxBatch int
	// MaxSegmentBytes caps a segment payload. Default DefaultMaxSegmentBytes;
	// must stay below the server's max_payload (1 MiB by default).
	MaxSegmentBytes int
	// MaxDelay is how long the committer lingers for more records before sending
	// a segment that is not full. Default 0: send as soon as a commit slot is
	// free; batching then comes from records queuing while earlier segments are
	// being fsynced, which adds no latency when the journal is idle.
	MaxDelay time.Duration
	// MaxInFlight is how many segments may await their acknowledgement at once.
	// Default 1: the server stores and fsyncs a stream's messages one after
	// another anyway, and with one segment in flight the next one collects
	// everything that queued during the fsync, so segments are larger and fsyncs
	// fewer (measured: ~32 records/fsync at 1 vs ~17 at 2 with 64 writers).
	MaxInFlight int
	// PublishTimeout bounds the wait for one segment acknowledgement. Default
	// DefaultPublishTimeout.
	PublishTimeout time.Duration
	// PublishAttempts is how many times a segment is sent (same Nats-Msg-Id)
	// before its records fail with ErrNotDurable. Default DefaultPublishAttempts;
	// all attempts together must fit in RetryWindow.
	PublishAttempts int
	// LeaderWait is how long a segment is offered to a stream that answers "no
	// responders" (between the death of its leader and the election of the next)
	// before its records fail with ErrNotDurable. Default DefaultLeaderWait; with
	// the attempts it must fit in RetryWindow.
	LeaderWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.RecentIDs == 0 {
		c.RecentIDs = DefaultRecentIDs
	}
	if c.RetryWindow == 0 {
		c.RetryWindow = DefaultRetryWindow
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxSegmentBytes == 0 {
		c.MaxSegmentBytes = DefaultMaxSegmentBytes
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.PublishAttempts == 0 {
		c.PublishAttempts = DefaultPublishAttempts
	}
	if c.LeaderWait == 0 {
		c.LeaderWait = DefaultLeaderWait
	}
	return c
}

// Validate applies defaults and reports the first invalid field as a *ConfigError.
func (c Config) Validate() error {
	c = c.withDefaults()
	if !validToken(c.Stream, false) {
		return &ConfigError{Field: "Stream", Err: ErrFormat}
	}
	for _, tok := range strings.Split(c.SubjectPrefix, ".") {
		if !validToken(tok, true) {
			return &ConfigError{Field: "SubjectPrefix", Err: ErrFormat}
		}
	}
	switch {
	case c.Replicas < 0 || c.Replicas > 5:
		return &ConfigError{Field: "Replicas", Err: ErrOutOfRange}
	case c.MaxAge < 0:
		return &ConfigError{Field: "MaxAge", Err: ErrOutOfRange}
	case c.MaxBytes < 0:
		return &ConfigError{Field: "MaxBytes", Err: ErrOutOfRange}
	case c.DuplicateWindow < 0:
		return &ConfigError{Field: "DuplicateWindow", Err: ErrOutOfRange}
	case c.RecentIDs < 0:
		return &ConfigError{Field: "RecentIDs", Err: ErrOutOfRange}
	case c.RetryWindow < time.Second:
		return &ConfigError{Field: "RetryWindow", Err: ErrOutOfRange}
	case c.MaxAge > 0 && c.RetryWindow > c.MaxAge:
		return &ConfigError{Field: "RetryWindow", Err: ErrOutOfRange}
	case c.MaxBatch < 1:
		return &ConfigError{Field: "MaxBatch", Err: ErrOutOfRange}
	case c.MaxSegmentBytes < 2*maxRecordLen || c.MaxSegmentBytes > maxSegmentBytesLimit:
		return &ConfigError{Field: "MaxSegmentBytes", Err: ErrOutOfRange}
	case c.MaxDelay < 0 || c.MaxDelay > time.Second:
		return &ConfigError{Field: "MaxDelay", Err: ErrOutOfRange}
	case c.MaxInFlight < 1:
		return &ConfigError{Field: "MaxInFlight", Err: ErrOutOfRange}
	case c.PublishTimeout <= 0:
		return &ConfigError{Field: "PublishTimeout", Err: ErrOutOfRange}
	case c.PublishAttempts < 1:
		return &ConfigError{Field: "PublishAttempts", Err: ErrOutOfRange}
	case c.LeaderWait < 0:
		return &ConfigError{Field: "LeaderWait", Err: ErrOutOfRange}
	case time.Duration(c.PublishAttempts)*c.PublishTimeout+c.LeaderWait > c.RetryWindow:
		return &ConfigError{Field: "PublishAttempts", Err: ErrOutOfRange}
	}
	return nil
}

// validToken reports whether s is a usable stream name or subject token:
// non-empty, no whitespace, wildcards, dots or path separators.
func validToken(s string, subject bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '*' || c == '>' || c == '.' || (!subject && (c == '/' || c == '\\')) {
			return false
		}
	}
	return true
}

// subject returns the segment subject for date d.
func (c *Config) subject(d Date) string {
	b := make([]byte, 0, len(c.SubjectPrefix)+9)
	b = append(b, c.SubjectPrefix...)
	b = append(b, '.')
	return string(d.appendCompact(b))
}
