// Package locker is a drop-in replacement for lockgate's file locker
// (github.com/werf/lockgate/pkg/file_locker): a lockgate.Locker on the same lock files, so a
// lock taken here and one taken by lockgate — in this process or any other — exclude each
// other, while a waiter gets a released lock within microseconds instead of lockgate's
// 500 ms polling.
//
// Adopting it in werf is a one-line change:
//
//	locker, err := locker.NewFileLocker(locksDir) // was file_locker.NewFileLocker(locksDir)
//
// The lock files are lockgate's: <locksDir>/<hex MurmurHash3 of the name> when
// file_lock.LegacyHashFunction is true (werf sets it), <locksDir>/<hex SHA-256> otherwise.
// The switch is read when the Locker is created, so set it first, as werf does in its init.
package locker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/google/uuid"
	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/file_lock"

	werfsync "github.com/werf-sync/werf-sync/bindings/go"
)

// Locker is a lockgate.Locker on lockgate's lock files in one directory. It is safe for
// concurrent use by multiple goroutines.
type Locker struct {
	sync *werfsync.Sync
	mu   sync.Mutex
	// held maps a handle's UUID to its lock, as lockgate's file locker does.
	held map[string]*werfsync.Lock
}

var _ lockgate.Locker = (*Locker)(nil)

// NewFileLocker returns a Locker on the lock files in locksDir, creating the directory
// (mode 0755) if it is missing — the signature and meaning of lockgate's
// file_locker.NewFileLocker.
func NewFileLocker(locksDir string) (*Locker, error) {
	if err := os.MkdirAll(locksDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create dir %s: %s", locksDir, err)
	}
	naming := werfsync.SHA256
	if file_lock.LegacyHashFunction {
		naming = werfsync.Murmur3
	}
	s, err := werfsync.OpenLocksDir(locksDir, naming)
	if err != nil {
		return nil, err
	}
	return &Locker{sync: s, held: make(map[string]*werfsync.Lock)}, nil
}

// Acquire takes lock lockName as lockgate's file locker does, and returns whether it was
// acquired and the handle to Release it with ({UUID, LockName}, a fresh UUID each call):
//   - NonBlocking: one attempt; (false, handle, nil) when the lock is held elsewhere.
//   - Otherwise one attempt, and when the lock is held, OnWaitFunc(lockName, doWait) is
//     called once (werf logs there) and Acquire returns its error; doWait waits for the
//     lock, woken by the kernel on release. Without OnWaitFunc, Acquire waits itself.
//   - Timeout (> 0) bounds the wait, counted from doWait; when it expires the error is
//     lockgate's "<path>" file lock timeout <d> expired, matching werfsync.ErrTimeout.
//   - Shared takes a shared lock.
//   - AcquirerId and OnLostLeaseFunc are accepted and ignored, as by lockgate's file locker.
//   - On an error, acquired is what lockgate's file locker returns: false for NonBlocking,
//     true otherwise (lockgate returns true with the error of a blocking wait). Check the
//     error first.
//
// As with lockgate, locks are not re-entrant: a second exclusive Acquire of a name this
// process holds waits like any other process would.
//
// Unlike lockgate, an OnWaitFunc that returns nil without calling doWait (or after doWait
// failed) makes Acquire fail, instead of reporting a lock it does not hold as acquired.
func (l *Locker) Acquire(lockName string, opts lockgate.AcquireOptions) (bool, lockgate.LockHandle, error) {
	handle := lockgate.LockHandle{UUID: uuid.NewString(), LockName: lockName}
	lock, err := l.acquire(lockName, opts)
	if err != nil {
		// lockgate's file locker reports a failed blocking Acquire as acquired, with the
		// error; callers check the error first, and so does lockgate.WithAcquire.
		return !opts.NonBlocking, handle, err
	}
	if lock == nil {
		return false, handle, nil
	}
	l.mu.Lock()
	l.held[handle.UUID] = lock
	l.mu.Unlock()
	return true, handle, nil
}

func (l *Locker) acquire(name string, opts lockgate.AcquireOptions) (*werfsync.Lock, error) {
	lockOpts := werfsync.LockOptions{Shared: opts.Shared}
	lock, err := l.sync.TryLock(name, lockOpts)
	if !errors.Is(err, werfsync.ErrWouldBlock) {
		return lock, err
	}
	if opts.NonBlocking {
		return nil, nil
	}
	doWait := func() error {
		if lock != nil {
			return nil // called again after it succeeded
		}
		ctx := context.Background()
		if opts.Timeout != 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
		}
		var err error
		lock, err = l.sync.Lock(ctx, name, lockOpts)
		if errors.Is(err, werfsync.ErrTimeout) {
			path, _ := l.sync.LockFilePath(name)
			return &timeoutError{path: path, timeout: opts.Timeout, cause: err}
		}
		return err
	}
	if opts.OnWaitFunc != nil {
		err = opts.OnWaitFunc(name, doWait)
	} else {
		err = doWait()
	}
	switch {
	case err != nil && lock != nil:
		// OnWaitFunc failed after the wait succeeded: give the lock back.
		_ = lock.Unlock()
		return nil, err
	case err != nil:
		return nil, err
	case lock == nil:
		return nil, fmt.Errorf("lock %q was not acquired: OnWaitFunc returned without a successful doWait", name)
	}
	return lock, nil
}

// Release releases the lock of handle. A handle this Locker does not hold (never acquired
// here, not acquired, or already released) is an error, as in lockgate:
// unknown id "UUID" for lock "NAME".
func (l *Locker) Release(handle lockgate.LockHandle) error {
	l.mu.Lock()
	lock, ok := l.held[handle.UUID]
	delete(l.held, handle.UUID)
	l.mu.Unlock()
	if !ok {
		return fmt.Errorf("unknown id %q for lock %q", handle.UUID, handle.LockName)
	}
	return lock.Unlock()
}

// timeoutError is lockgate's timeout error, also matching werfsync.ErrTimeout and
// context.DeadlineExceeded.
type timeoutError struct {
	path    string
	timeout interface{ String() string }
	cause   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%q file lock timeout %s expired", e.path, e.timeout)
}

func (e *timeoutError) Unwrap() error { return e.cause }
