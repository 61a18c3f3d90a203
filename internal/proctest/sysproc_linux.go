package proctest

import "syscall"

// sysProcAttr has the kernel SIGKILL the child when the test process dies (a test timeout, a
// crash), so no posgate outlives its test. Pdeathsig follows the thread that started the child;
// the Go runtime ends threads only when a goroutine that locked one exits, which tests here
// do not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
