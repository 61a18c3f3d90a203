package loadtest

import (
	"fmt"
	"strings"
	"time"
)

// progressf prints one phase line ("loadtest: …") to Config.Progress, if any.
func (r *Runner) progressf(format string, args ...any) {
	if r.cfg.Progress == nil {
		return
	}
	fmt.Fprintf(r.cfg.Progress, "loadtest: "+format+"\n", args...)
}

// showProgress prints the traffic's progress once a second until done is closed: a line each
// time, or one redrawn bar when Config.ProgressBar is set.
func (r *Runner) showProgress(done <-chan struct{}, start time.Time) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := r.now()
	for {
		select {
		case <-done:
			if r.cfg.ProgressBar {
				p := r.rec.snapshot(r.now().Sub(last))
				fmt.Fprintf(r.cfg.Progress, "\r%s\x1b[K\n", progressBar(r.now().Sub(start), r.cfg.Duration, p))
			}
			return
		case <-tick.C:
		}
		now := r.now()
		p := r.rec.snapshot(now.Sub(last))
		last = now
		if r.cfg.ProgressBar {
			fmt.Fprintf(r.cfg.Progress, "\r%s\x1b[K", progressBar(now.Sub(start), r.cfg.Duration, p))
		} else {
			fmt.Fprintln(r.cfg.Progress, progressLine(now.Sub(start), r.cfg.Duration, p))
		}
	}
}

// progressLine is the plain periodic line (stderr is not a terminal).
func progressLine(elapsed, total time.Duration, p progress) string {
	return fmt.Sprintf("loadtest: %4ds/%ds  sent %d  answered %d  %.0f/s  errors %d  p99 %s  queued %d",
		int(max(elapsed, 0).Round(time.Second).Seconds()), int(total.Seconds()), p.sent, p.completed, p.rate, p.errors, fmtDur(p.p99), p.queued)
}

// progressBar is the redrawn line on a terminal.
func progressBar(elapsed, total time.Duration, p progress) string {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(max(elapsed.Seconds()/total.Seconds(), 0), 1)
	}
	fill := int(frac * width)
	return fmt.Sprintf("[%s%s] %3.0f%% %4ds  %.0f/s  errors %d  p99 %s",
		strings.Repeat("#", fill), strings.Repeat("-", width-fill), frac*100,
		int(max(elapsed, 0).Round(time.Second).Seconds()), p.rate, p.errors, fmtDur(p.p99))
}

// fmtDur prints a latency in milliseconds with two decimals.
func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}
