package settlement

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/posgate/posgate/journal"
)

// Defaults of Config.
const (
	// DefaultPartitions is how many spill partitions a run uses. With 10 M records a
	// partition holds ~40 k records (~20 MB decoded), the run's working set.
	DefaultPartitions = 256
	// DefaultStaleAfter is how long a "running" claim blocks other runs of the date before
	// it is considered abandoned (a crashed run).
	DefaultStaleAfter = 2 * time.Hour
)

// Config configures a Settler. The zero value is valid.
type Config struct {
	// Calendar defines business dates and the cut-off (default 23:00 Asia/Shanghai). It must
	// be the gateway's calendar: the journal files records under the gateway's dates.
	Calendar journal.Calendar
	// Plans are the fee plans by name. A plan named DefaultPlanName overrides DefaultPlan;
	// otherwise DefaultPlan is used for merchants naming no plan.
	Plans []FeePlan
	// Partitions is the number of spill partitions, a power of two in [1, 65536]. Default
	// DefaultPartitions. More partitions, less memory per partition.
	Partitions int
	// TempDir holds the spill files during a run ("" = os.TempDir()); they are removed at
	// the end. It needs about 150 bytes per journal record.
	TempDir string
	// Node names who runs (recorded in run records). Default: the host name.
	Node string
	// StaleAfter: a "running" claim older than this is taken over. Default DefaultStaleAfter.
	StaleAfter time.Duration
	// Now returns the current time (tests). Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first invalid field as a *ConfigError.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := c.Calendar.Validate(); err != nil {
		return &ConfigError{Field: "Calendar", Err: err}
	}
	if c.Partitions < 1 || c.Partitions > 1<<16 || bits.OnesCount(uint(c.Partitions)) != 1 {
		return &ConfigError{Field: "Partitions", Err: errOutOfRange}
	}
	if c.StaleAfter < 0 {
		return &ConfigError{Field: "StaleAfter", Err: errOutOfRange}
	}
	seen := map[string]bool{}
	for i := range c.Plans {
		if err := c.Plans[i].Validate(); err != nil {
			return err
		}
		if seen[c.Plans[i].Name] {
			return &ConfigError{Field: fmt.Sprintf("Plans[%d]", i), Err: fmt.Errorf("duplicate plan %q", c.Plans[i].Name)}
		}
		seen[c.Plans[i].Name] = true
	}
	return nil
}

// plans returns the plans by name with the default plan present.
func (c *Config) plans() map[string]*FeePlan {
	m := make(map[string]*FeePlan, len(c.Plans)+1)
	for i := range c.Plans {
		p := c.Plans[i]
		m[p.Name] = &p
	}
	if _, ok := m[DefaultPlanName]; !ok {
		p := DefaultPlan()
		m[DefaultPlanName] = &p
	}
	return m
}
