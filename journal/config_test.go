package journal

import (
	"errors"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"zero value", Config{}, ""},
		{"cluster", Config{Replicas: 3}, ""},
		{"stream with dot", Config{Stream: "A.B"}, "Stream"},
		{"prefix with wildcard", Config{SubjectPrefix: "posgate.*"}, "SubjectPrefix"},
		{"prefix empty token", Config{SubjectPrefix: "posgate..j"}, "SubjectPrefix"},
		{"replicas", Config{Replicas: 7}, "Replicas"},
		{"negative max age", Config{MaxAge: -time.Second}, "MaxAge"},
		{"retry window too small", Config{RetryWindow: time.Millisecond}, "RetryWindow"},
		{"retry window above max age", Config{MaxAge: time.Minute, RetryWindow: time.Hour}, "RetryWindow"},
		{"max batch", Config{MaxBatch: -1}, "MaxBatch"},
		{"segment too big", Config{MaxSegmentBytes: 2 << 20}, "MaxSegmentBytes"},
		{"segment too small", Config{MaxSegmentBytes: 100}, "MaxSegmentBytes"},
		{"max delay", Config{MaxDelay: 2 * time.Second}, "MaxDelay"},
		{"in flight", Config{MaxInFlight: -2}, "MaxInFlight"},
		{"attempts exceed retry window", Config{PublishAttempts: 100}, "PublishAttempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ConfigError on %s", err, tt.field)
			}
		})
	}
	c := Config{}.withDefaults()
	if got := c.subject(NewDate(2026, 1, 2)); got != "posgate.journal.20260102" {
		t.Errorf("subject = %q", got)
	}
}

func TestRecentSet(t *testing.T) {
	s := newRecentSet(3, int64(time.Hour))
	for i, id := range []string{"a", "b", "c", "d"} {
		s.add(id, int64(i))
	}
	tests := []struct {
		id   string
		now  int64
		want bool
	}{
		{"a", 10, false}, // evicted by count
		{"b", 10, true},
		{"d", 10, true},
		{"d", int64(time.Hour) + 3, false}, // aged out
		{"zz", 10, false},
	}
	for _, tt := range tests {
		if got := s.contains(tt.id, tt.now); got != tt.want {
			t.Errorf("contains(%q, %d) = %v, want %v", tt.id, tt.now, got, tt.want)
		}
	}
	// Re-adding an aged-out id survives eviction of its old ring entry.
	s.add("b", int64(2*time.Hour))
	s.add("e", int64(2*time.Hour)+1)
	s.add("f", int64(2*time.Hour)+2)
	if !s.contains("b", int64(2*time.Hour)+5) {
		t.Error("re-added id forgotten when its old entry was evicted")
	}
	if len(s.ids) > 4 {
		t.Errorf("map holds %d ids, want bounded by ring", len(s.ids))
	}
}
