package main

import (
	"context"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/file_locker"
)

// lockName is the lockgate name; the other subjects lock the file lockPath(dir) directly.
const lockName = "bench-project.go-peers"

// subject acquires the lock on a fresh handle (blocking until it has it) and returns the
// function that releases it. poll is a polling waiter's retry interval (0: the kernel wakes
// the waiter).
type subject struct {
	name    string
	acquire func() (release func())
	poll    time.Duration
}

// lockgatePoll is lockgate's file locker retry interval (pollLock's ticker).
const lockgatePoll = 500 * time.Millisecond

func lockPath(dir string) string { return filepath.Join(dir, "go-peers.lock") }

// rawOpen opens (creating) the lock file with nothing but the system call.
func rawOpen(path string) int {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_CLOEXEC, 0o600)
	check(err, "open "+path)
	return fd
}

func rawFlock(fd, how int) {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			check(err, "flock")
			return
		}
	}
}

// rawBlocking is the floor: open, blocking flock; release is unlock + close.
func rawBlocking(path string) subject {
	return subject{name: "floor: open+flock+unlock+close", acquire: func() func() {
		fd := rawOpen(path)
		rawFlock(fd, syscall.LOCK_EX)
		return func() {
			rawFlock(fd, syscall.LOCK_UN)
			check(syscall.Close(fd), "close")
		}
	}}
}

// gofrsLock uses gofrs/flock's blocking Lock (Unlock closes the descriptor).
func gofrsLock(path string) subject {
	return subject{name: "gofrs/flock Lock", acquire: func() func() {
		f := flock.New(path)
		check(f.Lock(), "gofrs/flock Lock")
		return func() { check(f.Unlock(), "gofrs/flock Unlock") }
	}}
}

// gofrsTryContext polls with TryLockContext, the API gofrs/flock recommends.
func gofrsTryContext(path string, delay time.Duration) subject {
	return subject{name: "gofrs/flock TryLockContext " + delay.String(), poll: delay, acquire: func() func() {
		f := flock.New(path)
		ok, err := f.TryLockContext(context.Background(), delay)
		check(err, "gofrs/flock TryLockContext")
		if !ok {
			check(context.Canceled, "gofrs/flock TryLockContext (not locked)")
		}
		return func() { check(f.Unlock(), "gofrs/flock Unlock") }
	}}
}

// lockgateFile uses werf's lockgate file locker as werf's `:local` mode does.
func lockgateFile(dir string, timeout time.Duration) subject {
	locker, err := file_locker.NewFileLocker(filepath.Join(dir, "lockgate"))
	check(err, "create the lockgate file locker")
	name := "lockgate file locker"
	if timeout != 0 {
		name += " (timeout)"
	}
	return subject{name: name, poll: lockgatePoll, acquire: func() func() {
		_, handle, err := locker.Acquire(lockName, lockgate.AcquireOptions{Timeout: timeout})
		check(err, "lockgate Acquire")
		return func() { check(locker.Release(handle), "lockgate Release") }
	}}
}
