//go:build !linux

package dnstest

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
