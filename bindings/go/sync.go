package werfsync

/*
#include "werf_sync.h"
*/
import "C"

import (
	"runtime"
	"sync"
)

// Sync is werf's :local synchronization of one werf home: named locks, werf's lock manager
// operations and werf's stages storage cache. It is safe for concurrent use by multiple
// goroutines.
type Sync struct {
	mu sync.Mutex
	// ptr is the C handle; freed by the last call to finish after Close (see release).
	ptr *C.WerfSync
	// active counts calls using ptr; closed is set by Close.
	active int
	closed bool
	// waits are the cancel tokens of waits in progress, which Close cancels.
	waits   map[*C.WerfSyncCancelToken]struct{}
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
// $WERF_SYNCHRONIZATION, and ":local" when that is unset or empty. An http(s):// address
// is werf's synchronization server (locks only, through the lock manager methods; see
// OpenAddressClient). A kubernetes:// address keeps lockgate leases on ConfigMap
// werf-PROJECT when the library was built with its kubernetes feature, and fails with
// ErrUnsupported otherwise; anything else fails with ErrInvalidArgument and werf's message.
func OpenAddress(address, home string) (*Sync, error) {
	return OpenAddressClient(address, home, "")
}

// OpenAddressClient is OpenAddress with the client ID of an http(s):// synchronization
// server: the lock namespace shared with Go werf only under the same ID. Empty means
// $WERF_SYNC_CLIENT_ID, else a fresh ID from the server (Sync.ClientID tells it).
func OpenAddressClient(address, home, clientID string) (*Sync, error) {
	var ptr *C.WerfSync
	ap, an := cstr(address)
	hp, hn := cstr(home)
	cp, cn := cstr(clientID)
	err := call(func(e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_open_address_with_client_id(ap, an, hp, hn, cp, cn, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	return newSync(ptr), nil
}

// LockFileNaming is how lock names become file names in a locks directory: lockgate's two
// schemes, chosen in lockgate by file_lock.LegacyHashFunction.
type LockFileNaming uint32

const (
	// Murmur3 names files by the hex MurmurHash3 of the lock name: lockgate with
	// LegacyHashFunction = true, as werf sets it, and every werf home.
	Murmur3 LockFileNaming = C.WERF_SYNC_LOCK_FILE_NAMING_MURMUR3
	// SHA256 names files by the hex SHA-256 of the lock name: lockgate's default
	// (LegacyHashFunction = false).
	SHA256 LockFileNaming = C.WERF_SYNC_LOCK_FILE_NAMING_SHA256
)

// OpenLocksDir opens the lock files directly in locksDir, named by naming: the files of
// lockgate's file_locker.NewFileLocker(locksDir), so that locks taken here and there exclude
// each other. Locks and the lock manager methods work as on a werf home; the stages storage
// cache methods fail with ErrUnsupported. The directory is created by the first lock.
func OpenLocksDir(locksDir string, naming LockFileNaming) (*Sync, error) {
	var ptr *C.WerfSync
	p, n := cstr(locksDir)
	err := call(func(e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_open_locks_dir(p, n, C.uint32_t(naming), &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	return newSync(ptr), nil
}

func newSync(ptr *C.WerfSync) *Sync {
	s := &Sync{ptr: ptr, waits: make(map[*C.WerfSyncCancelToken]struct{})}
	s.cleanup = runtime.AddCleanup(s, func(ptr *C.WerfSync) { C.werf_sync_free(ptr) }, ptr)
	return s
}

// Close cancels waits in progress (they return an error matching ErrClosed and
// ErrCanceled), then frees the Sync, releasing the locks still held through the lock manager
// methods (LockStage, ...). Locks returned by Lock and TryLock stay held until unlocked.
// Close never waits: calls still running (a wait with a context that never ends, say) keep
// the Sync alive, and the last of them frees it. A second Close returns ErrClosed.
func (s *Sync) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	s.cleanup.Stop()
	for token := range s.waits {
		C.werf_sync_cancel_token_cancel(token, nil)
	}
	s.freeIfIdle()
	return nil
}

// freeIfIdle frees the C handle once the Sync is closed and no call uses it. s.mu is held.
func (s *Sync) freeIfIdle() {
	if s.closed && s.active == 0 && s.ptr != nil {
		C.werf_sync_free(s.ptr)
		s.ptr = nil
	}
}

// use runs f with the C handle, which stays valid until f returns; ErrClosed after Close.
func (s *Sync) use(f func(ptr *C.WerfSync) error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.active++
	ptr := s.ptr
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		s.active--
		s.freeIfIdle()
		s.mu.Unlock()
		runtime.KeepAlive(s)
	}()
	return f(ptr)
}

// track registers the cancel token of a wait so that Close can cancel it; it reports false
// when the Sync is already closed. untrack must follow before the token is freed.
func (s *Sync) track(token *C.WerfSyncCancelToken) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.waits[token] = struct{}{}
	return true
}

func (s *Sync) untrack(token *C.WerfSyncCancelToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waits, token)
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
// the file werf (lockgate's file locker with the legacy hash) uses for the same name; for
// OpenLocksDir, <locks dir>/<hex hash by its naming>.
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

// ClientID is the client ID of an http(s):// synchronization (asking the server for a fresh
// one if none was given and no lock was taken yet); "" for other modes.
func (s *Sync) ClientID() (string, error) {
	var id *C.char
	err := s.use(func(ptr *C.WerfSync) error {
		return call(func(e **C.WerfSyncError) C.WerfSyncStatus { return C.werf_sync_client_id(ptr, &id, e) })
	})
	if err != nil || id == nil {
		return "", err
	}
	return goString(id), nil
}

// Lost reports whether the lock of handle lost its lease while held: nil while it is not
// known to be lost (always for :local locks), else an error matching ErrLostLease that
// names the lock, lease, server and reason. The lock then protects nothing: stop the work
// it guards, and Unlock (which fails the same way). Cheap (no request); poll it freely.
func (s *Sync) Lost(handle LockHandle) error {
	return s.callWithHandle(handle, func(ptr *C.WerfSync, h *C.WerfSyncLockHandle, e **C.WerfSyncError) C.WerfSyncStatus {
		return C.werf_sync_lock_lost(ptr, h, e)
	})
}
