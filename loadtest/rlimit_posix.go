//go:build linux || darwin

package loadtest

import "syscall"

// RaiseFileLimit raises the process's soft limit on open files to at least want, as far as the
// hard limit allows, and returns the limit now in force. (Go already raises the soft limit to
// the hard one at start-up on Linux; this covers the other systems and a lower hard limit is
// reported by the caller.)
func RaiseFileLimit(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur >= want {
		return l.Cur, nil
	}
	l.Cur = min(want, l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	return l.Cur, nil
}
