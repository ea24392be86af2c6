//go:build unix

package mail

import "syscall"

const noFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
