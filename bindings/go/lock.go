package werfsync

/*
#include "werf_sync.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// LockOptions says how to take a lock. The zero value is an exclusive lock.
type LockOptions struct {
	// Shared takes a shared lock (LOCK_SH): any number of shared holders, no exclusive one.
	Shared bool
	// OnWait, if set, is called once with the lock name when the lock is held elsewhere and
	// Lock is about to wait (werf logs `Waiting for locked "NAME"` there).
	OnWait func(name string)
}

func (o LockOptions) mode() C.uint32_t {
	if o.Shared {
		return C.WERF_SYNC_LOCK_MODE_SHARED
	}
	return C.WERF_SYNC_LOCK_MODE_EXCLUSIVE
}

// Lock is a held lock, returned by Sync.Lock and Sync.TryLock. It stays held until Unlock
// (or, as a safety net, until the garbage collector finds it unreachable), independently of
// the Sync it came from. It is safe for concurrent use.
type Lock struct {
	name    string
	shared  bool
	mu      sync.Mutex
	ptr     *C.WerfSyncLockGuard
	cleanup runtime.Cleanup
}

// Name returns the lock name.
func (l *Lock) Name() string { return l.name }

// Shared reports whether the lock is held shared.
func (l *Lock) Shared() bool { return l.shared }

// Unlock releases the lock. A second Unlock returns ErrClosed.
func (l *Lock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ptr == nil {
		return ErrClosed
	}
	l.cleanup.Stop()
	err := call(func(e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_lock_guard_release(l.ptr, e)
	})
	l.ptr = nil
	return err
}

func newLock(ptr *C.WerfSyncLockGuard, name string, opts LockOptions) *Lock {
	l := &Lock{name: name, shared: opts.Shared, ptr: ptr}
	l.cleanup = runtime.AddCleanup(l, func(ptr *C.WerfSyncLockGuard) { C.werf_sync_lock_guard_free(ptr) }, ptr)
	return l
}

// TryLock makes one attempt to take lock name without waiting. It returns an error matching
// ErrWouldBlock when the lock is held elsewhere — by another process or by another
// acquisition in this one.
func (s *Sync) TryLock(name string, opts LockOptions) (*Lock, error) {
	var guard *C.WerfSyncLockGuard
	p, n := cstr(name)
	err := s.use(func(ptr *C.WerfSync) error {
		return call(func(e **C.WerfSyncError) C.WerfSyncStatus {
			return C.werf_sync_try_lock(ptr, p, n, opts.mode(), &guard, e)
		})
	})
	if err != nil {
		return nil, err
	}
	return newLock(guard, name, opts), nil
}

// Lock takes lock name, waiting while it is held elsewhere until ctx is done. A released
// lock is handed over within microseconds. When ctx's deadline passes the error matches
// ErrTimeout and context.DeadlineExceeded; when ctx is cancelled, ErrCanceled and
// context.Canceled; when the Sync is closed, ErrCanceled and ErrClosed.
//
// Like lockgate, locks are not re-entrant: a goroutine that already holds name (in a
// conflicting mode) waits for itself until ctx is done.
func (s *Sync) Lock(ctx context.Context, name string, opts LockOptions) (*Lock, error) {
	// The uncontended case costs one cgo call and no cancel token.
	lock, err := s.TryLock(name, opts)
	if !errors.Is(err, ErrWouldBlock) {
		return lock, err
	}
	if opts.OnWait != nil {
		opts.OnWait(name)
	}
	var guard *C.WerfSyncLockGuard
	p, n := cstr(name)
	err = s.use(func(ptr *C.WerfSync) error {
		return s.wait(ctx, func(ms C.int64_t, token *C.WerfSyncCancelToken, e **C.WerfSyncError) C.WerfSyncStatus {
			return C.werf_sync_lock(ptr, p, n, opts.mode(), ms, token, &guard, e)
		})
	})
	if err != nil {
		return nil, err
	}
	return newLock(guard, name, opts), nil
}
