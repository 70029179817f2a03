package werfsync

/*
#include "werf_sync.h"
*/
import "C"

import (
	"runtime"
	"sync"
)

// Sync is werf's :local synchronization of one werf home: named locks and werf's lock
// manager operations. It is safe for concurrent use by multiple goroutines.
type Sync struct {
	// mu guards ptr: calls hold it shared, Close exclusively, so Close never frees the
	// handle under a running call.
	mu      sync.RWMutex
	ptr     *C.WerfSync
	cleanup runtime.Cleanup
}

// Open opens the synchronization of the werf home directory home. An empty home resolves
// it as werf does: $WERF_HOME, else ~/.werf. Nothing on disk is touched until the first lock.
//
// Call Close when done; a Sync that becomes unreachable is closed by the garbage collector
// as a safety net.
func Open(home string) (*Sync, error) {
	var ptr *C.WerfSync
	p, n := cstr(home)
	err := call(func(e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_open(p, n, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	return newSync(ptr), nil
}

// OpenAddress opens the synchronization a werf --synchronization address selects, below the
// werf home home (empty: $WERF_HOME, else ~/.werf). An empty address means
// $WERF_SYNCHRONIZATION, and ":local" when that is unset or empty. A valid kubernetes:// or
// http(s):// address fails with ErrUnsupported (only :local is implemented); anything else
// with ErrInvalidArgument and werf's message.
func OpenAddress(address, home string) (*Sync, error) {
	var ptr *C.WerfSync
	ap, an := cstr(address)
	hp, hn := cstr(home)
	err := call(func(e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_open_address(ap, an, hp, hn, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	return newSync(ptr), nil
}

func newSync(ptr *C.WerfSync) *Sync {
	s := &Sync{ptr: ptr}
	s.cleanup = runtime.AddCleanup(s, func(ptr *C.WerfSync) { C.werf_sync_free(ptr) }, ptr)
	return s
}

// Close releases the locks still held through the lock manager methods (LockStage, ...)
// and frees the Sync. Locks returned by Lock and TryLock stay held until unlocked. Close
// waits for calls in progress to return (cancel their contexts first); a second Close
// returns ErrClosed.
func (s *Sync) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return ErrClosed
	}
	s.cleanup.Stop()
	C.werf_sync_free(s.ptr)
	s.ptr = nil
	return nil
}

// use runs f with the C handle while holding the Sync open; ErrClosed after Close.
func (s *Sync) use(f func(ptr *C.WerfSync) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return ErrClosed
	}
	err := f(s.ptr)
	runtime.KeepAlive(s)
	return err
}

// Home returns the absolute path of the werf home.
func (s *Sync) Home() (string, error) {
	var path string
	err := s.use(func(ptr *C.WerfSync) error {
		var out *C.char
		err := call(func(e **C.WerfSyncError) C.WerfSyncStatus { return C.werf_sync_home(ptr, &out, e) })
		if err == nil {
			path = goString(out)
		}
		return err
	})
	return path, err
}

// LockFilePath returns the lock file of lock name: <home>/service/locks/<murmur3 hex>,
// the file werf (lockgate's file locker with the legacy hash) uses for the same name.
func (s *Sync) LockFilePath(name string) (string, error) {
	var path string
	err := s.use(func(ptr *C.WerfSync) error {
		var out *C.char
		p, n := cstr(name)
		err := call(func(e **C.WerfSyncError) C.WerfSyncStatus {
			return C.werf_sync_lock_file_path(ptr, p, n, &out, e)
		})
		if err == nil {
			path = goString(out)
		}
		return err
	})
	return path, err
}
