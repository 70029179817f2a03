// Package werfsync is the Go binding of werf-sync: werf's --synchronization=:local mode
// (named flock(2) locks on werf's own lock files, shared with werf and its lock library
// lockgate) through the crate's C ABI.
//
// A lock taken here and a lock taken by werf (lockgate's file locker with the legacy hash)
// on the same name and werf home exclude each other; a waiter here gets a released lock
// within microseconds instead of lockgate's 500 ms polling.
//
//	s, err := werfsync.Open("")            // $WERF_HOME, else ~/.werf
//	if err != nil { ... }
//	defer s.Close()
//	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
//	defer cancel()
//	lock, err := s.Lock(ctx, "myproject.0123abcd", werfsync.LockOptions{})
//	if err != nil { ... }                    // errors.Is(err, werfsync.ErrTimeout), ...
//	defer lock.Unlock()
//
// Linking: the package links the installed C library (scripts/install-c PREFIX in the
// werf-sync repository) found through pkg-config — the shared libwerf_sync.so.0.1, or with
// the build tag werfsync_static the archive libwerf_sync.a, so that the program needs no
// libwerf_sync.so at run time (and is fully static with
// -ldflags '-linkmode external -extldflags -static'). For a prefix pkg-config does not
// search, set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig.
//
// Package locker is a drop-in lockgate.Locker on lockgate's lock files, for werf.
//
// Waits honour a context: its deadline becomes the wait's timeout and its cancellation
// cancels the wait through a C cancel token, so no goroutine or OS thread stays blocked
// after the context is done.
//
// Like lockgate, a lock is not re-entrant: a second Lock of a name this process holds waits
// for the first to be unlocked, exactly as another process would.
package werfsync
