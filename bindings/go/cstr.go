package werfsync

/*
#include "werf_sync.h"
*/
import "C"

import "unsafe"

// cstr passes s to C without copying, as the C ABI's (pointer, length) pair. The bytes hold
// no Go pointers, so cgo's pointer rules allow it; cgo keeps s alive during the call. The
// empty string is (NULL, 0), which the ABI accepts.
func cstr(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// goString copies and frees a string the library allocated.
func goString(s *C.char) string {
	defer C.werf_sync_string_free(s)
	return C.GoString(s)
}
