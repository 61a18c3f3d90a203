//go:build !linux

package proctest

import "syscall"

// sysProcAttr: elsewhere, only t.Cleanup kills a leftover child.
func sysProcAttr() *syscall.SysProcAttr { return nil }
