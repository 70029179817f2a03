//go:build werfsync_static

package werfsync

// With the build tag werfsync_static: the installed static archive libwerf_sync.a and the
// native libraries it needs (pkg-config file werf_sync_static, written by scripts/install-c
// from cargo-c's werf_sync.pc), so the program has no run-time dependency on
// libwerf_sync.so — also under werf's release flags
// -ldflags '-linkmode external -extldflags -static', which make it fully static.

/*
#cgo pkg-config: werf_sync_static
*/
import "C"
