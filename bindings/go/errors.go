package werfsync

/*
#include "werf_sync.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per status of the C ABI. Match them with errors.Is; the error
// returned is an *Error carrying the library's message, which names the lock, path or
// argument involved.
var (
	// ErrWouldBlock: a try-lock found the lock held elsewhere (another process, or another
	// acquisition in this one).
	ErrWouldBlock = errors.New("werfsync: lock is held elsewhere")
	// ErrTimeout: a wait ran out of time (the context's deadline passed). Such an error also
	// matches context.DeadlineExceeded.
	ErrTimeout = errors.New("werfsync: timed out waiting for lock")
	// ErrCanceled: a wait was cancelled (the context was cancelled). Such an error also
	// matches context.Canceled.
	ErrCanceled = errors.New("werfsync: waiting for lock was canceled")
	// ErrInvalidArgument: an argument was rejected (invalid UTF-8, an empty werf home, ...).
	ErrInvalidArgument = errors.New("werfsync: invalid argument")
	// ErrNotFound: e.g. a lock handle this Sync does not hold.
	ErrNotFound = errors.New("werfsync: not found")
	// ErrIO: a system call failed.
	ErrIO = errors.New("werfsync: I/O error")
	// ErrCorrupt: stored data could not be read as the expected format.
	ErrCorrupt = errors.New("werfsync: corrupt data")
	// ErrUnsupported: a filesystem without flock(2), or an unsupported address.
	ErrUnsupported = errors.New("werfsync: unsupported")
	// ErrDeadlock is not returned any more: the library no longer refuses a wait on a lock
	// the waiting thread acquired itself (the holder may have moved to another thread). Kept
	// for the status code it stands for.
	ErrDeadlock = errors.New("werfsync: would deadlock")
	// ErrPanic: the library panicked (a bug); the process is unaffected.
	ErrPanic = errors.New("werfsync: internal panic")
	// ErrWrongFileType: a directory or file werf-sync manages has the wrong type (a symlink).
	ErrWrongFileType = errors.New("werfsync: wrong file type")
	// ErrShouldResetCache: the stages storage cache named a stage the stages storage no
	// longer has; reset the project (DeleteAllStages) and retry, as werf does. The message
	// ends with werf's marker "should reset storage cache".
	ErrShouldResetCache = errors.New("werfsync: should reset storage cache")
	// ErrLostLease: a lock held on a synchronization server lost its lease (the server
	// restarted, or renewals failed until the lease could have expired); see Sync.Lost.
	ErrLostLease = errors.New("werfsync: lost the lease of a lock")
	// ErrUnavailable: the synchronization server could not be reached or answered outside
	// its protocol; the message names the server.
	ErrUnavailable = errors.New("werfsync: synchronization server unavailable")
	// ErrClosed: the Sync was closed, or the Lock already unlocked.
	ErrClosed = errors.New("werfsync: already closed")
)

var sentinels = map[C.WerfSyncStatus]error{
	C.WERF_SYNC_STATUS_WOULD_BLOCK:        ErrWouldBlock,
	C.WERF_SYNC_STATUS_TIMEOUT:            ErrTimeout,
	C.WERF_SYNC_STATUS_CANCELLED:          ErrCanceled,
	C.WERF_SYNC_STATUS_INVALID_ARGUMENT:   ErrInvalidArgument,
	C.WERF_SYNC_STATUS_NOT_FOUND:          ErrNotFound,
	C.WERF_SYNC_STATUS_IO:                 ErrIO,
	C.WERF_SYNC_STATUS_CORRUPT:            ErrCorrupt,
	C.WERF_SYNC_STATUS_UNSUPPORTED:        ErrUnsupported,
	C.WERF_SYNC_STATUS_DEADLOCK:           ErrDeadlock,
	C.WERF_SYNC_STATUS_PANIC:              ErrPanic,
	C.WERF_SYNC_STATUS_WRONG_FILE_TYPE:    ErrWrongFileType,
	C.WERF_SYNC_STATUS_SHOULD_RESET_CACHE: ErrShouldResetCache,
	C.WERF_SYNC_STATUS_LOST_LEASE:         ErrLostLease,
	C.WERF_SYNC_STATUS_UNAVAILABLE:        ErrUnavailable,
}

// Error is a failure reported by the library.
type Error struct {
	// Status is the C ABI's status code (WERF_SYNC_STATUS_*).
	Status uint32
	// Message is the library's message.
	Message string
	// cause is the context error behind a timeout or cancellation, if any.
	cause error
}

// Error returns the library's message.
func (e *Error) Error() string { return "werfsync: " + e.Message }

// Is matches the sentinel of the error's status (ErrTimeout, ...).
func (e *Error) Is(target error) bool {
	sentinel, ok := sentinels[C.WerfSyncStatus(e.Status)]
	return ok && sentinel == target
}

// Unwrap returns the context error behind a timeout or cancellation, so that
// errors.Is(err, context.DeadlineExceeded) holds for a wait that hit the context's deadline.
func (e *Error) Unwrap() error { return e.cause }

// call runs one C function that reports failure through a status and an error object, and
// turns both into a Go error (nil on success).
func call(f func(outError **C.WerfSyncError) C.WerfSyncStatus) error {
	var cerr *C.WerfSyncError
	status := f(&cerr)
	if status == C.WERF_SYNC_STATUS_OK {
		return nil
	}
	message := fmt.Sprintf("status %d", uint32(status))
	if cerr != nil {
		message = C.GoString(C.werf_sync_error_message(cerr))
		C.werf_sync_error_free(cerr)
	}
	return &Error{Status: uint32(status), Message: message}
}
