//go:build werfsync_release

package werfsync

// The optimised static library, built by `cargo build --release --lib`; selected with
// `go test -tags werfsync_release` (the benchmarks' numbers come from it).

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libwerf_sync_c.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
*/
import "C"
