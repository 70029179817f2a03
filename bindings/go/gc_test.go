package werfsync

import "runtime"

// runtime_GC runs a collection and gives cleanups a moment to run.
func runtime_GC() {
	runtime.GC()
	runtime.Gosched()
}
