package loadtest

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// cpuTimes reads the machine's aggregate CPU line of /proc/stat: total jiffies and those the
// hypervisor stole (Linux only; ok is false elsewhere or on a line it cannot read). A virtual
// machine's latency figures mean little while its host takes CPU away, so a run reports the
// share stolen during its traffic (Report.CPUStealPct).
func cpuTimes() (total, steal uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, s := range fields[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if i < 8 { // user nice system idle iowait irq softirq steal; guest is counted in user
			total += v
		}
		if i == 7 {
			steal = v
		}
	}
	return total, steal, true
}

// stealShare is the percentage of CPU time stolen between two cpuTimes readings, or -1 when
// either failed or no time passed.
func stealShare(t0, s0 uint64, ok0 bool, t1, s1 uint64, ok1 bool) float64 {
	if !ok0 || !ok1 || t1 <= t0 || s1 < s0 {
		return -1
	}
	return float64(s1-s0) / float64(t1-t0) * 100
}
