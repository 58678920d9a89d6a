package supervisor

import "syscall"

// sysProcAttr makes the kernel kill stunnel if the sidecar dies without
// stopping it, so a crashed sidecar never leaves an orphan holding ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
