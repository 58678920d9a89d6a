package dnstest

import "syscall"

// procAttr makes the kernel kill named when the test binary dies (go
// test's timeout, SIGKILL), so no server outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
