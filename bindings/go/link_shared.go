//go:build !werfsync_static

package werfsync

// The installed C library (scripts/install-c PREFIX), found through pkg-config: the shared
// libwerf_sync.so.0.1. For a prefix pkg-config does not search, set
// PKG_CONFIG_PATH=PREFIX/lib/pkgconfig, and LD_LIBRARY_PATH=PREFIX/lib (or an rpath) to run.

/*
#cgo pkg-config: werf_sync
*/
import "C"
