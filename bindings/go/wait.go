package werfsync

/*
#include "werf_sync.h"
*/
import "C"

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// waitFunc is a waiting C call given a timeout in milliseconds and a cancel token.
type waitFunc func(timeoutMs C.int64_t, token *C.WerfSyncCancelToken, e **C.WerfSyncError) C.WerfSyncStatus

// wait runs a waiting C call under ctx: the context's deadline becomes the call's timeout,
// and its cancellation cancels the call's token from another goroutine, so the blocked cgo
// call (and its OS thread) returns as soon as ctx is done.
//
// A token is passed even for a context that is never done: a wait with a token runs on a
// helper thread in the library and skips the library's "this thread holds the lock itself"
// deadlock check, which for goroutines (sharing OS threads) can see another goroutine's
// hold. Like lockgate, a goroutine that waits on a lock it holds itself with a context
// that never ends therefore waits forever.
//
// The token is also registered with s, so that Close cancels the wait; the error then
// matches ErrClosed as well as ErrCanceled.
func (s *Sync) wait(ctx context.Context, f waitFunc) error {
	if err := ctx.Err(); err != nil {
		return contextError(ctx, err)
	}
	token := C.werf_sync_cancel_token_new()
	if token == nil {
		return &Error{Status: uint32(C.WERF_SYNC_STATUS_PANIC), Message: "cannot create a cancel token"}
	}
	defer C.werf_sync_cancel_token_free(token)
	if !s.track(token) {
		return ErrClosed
	}
	defer s.untrack(token)

	var cancelling sync.WaitGroup
	cancelling.Add(1)
	stop := context.AfterFunc(ctx, func() {
		defer cancelling.Done()
		C.werf_sync_cancel_token_cancel(token, nil)
	})
	err := call(func(e **C.WerfSyncError) C.WerfSyncStatus {
		return f(timeoutMs(ctx), token, e)
	})
	if stop() {
		cancelling.Done() // the AfterFunc will never run
	} else {
		cancelling.Wait() // it ran or is running: the token must outlive it
	}

	var werr *Error
	if errors.As(err, &werr) {
		switch C.WerfSyncStatus(werr.Status) {
		case C.WERF_SYNC_STATUS_TIMEOUT:
			// Only the context's deadline sets a timeout; the library may notice it a
			// moment before the context's own timer fires.
			werr.cause = context.DeadlineExceeded
		case C.WERF_SYNC_STATUS_CANCELLED:
			// The context or Close cancelled the token; a deadline that fired the
			// AfterFunc is still a timeout.
			werr.cause = ctx.Err()
			if werr.cause == nil {
				werr.cause = ErrClosed
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				werr.Status = uint32(C.WERF_SYNC_STATUS_TIMEOUT)
			}
		}
	}
	return err
}

// timeoutMs is the time left until ctx's deadline, rounded up to whole milliseconds, or
// WERF_SYNC_NO_TIMEOUT.
func timeoutMs(ctx context.Context) C.int64_t {
	deadline, ok := ctx.Deadline()
	if !ok {
		return C.WERF_SYNC_NO_TIMEOUT
	}
	left := time.Until(deadline)
	if left <= 0 {
		return 0
	}
	ms := (left + time.Millisecond - 1) / time.Millisecond
	return C.int64_t(min(int64(ms), math.MaxInt64))
}

// contextError is the error of a wait that did not start because ctx was already done.
func contextError(ctx context.Context, err error) error {
	status := C.WERF_SYNC_STATUS_CANCELLED
	if errors.Is(err, context.DeadlineExceeded) {
		status = C.WERF_SYNC_STATUS_TIMEOUT
	}
	return &Error{Status: uint32(status), Message: "context done before waiting: " + err.Error(), cause: ctx.Err()}
}
