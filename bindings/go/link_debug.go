//go:build !werfsync_release

package werfsync

// The debug static library, built by `cargo build --lib` (what scripts/test-go does). The
// native libraries are those of `cargo rustc --lib -- --print native-static-libs` on Linux.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/debug/libwerf_sync_c.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
*/
import "C"
