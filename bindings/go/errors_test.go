package werfsync

import (
	"errors"
	"testing"
)

// TestEveryStatusHasASentinel: each status of the header (1 to 14) matches its own sentinel
// and no other, so errors.Is works for every failure the library can report.
func TestEveryStatusHasASentinel(t *testing.T) {
	want := map[uint32]error{
		1: ErrWouldBlock, 2: ErrTimeout, 3: ErrCanceled, 4: ErrInvalidArgument, 5: ErrNotFound,
		6: ErrIO, 7: ErrCorrupt, 8: ErrUnsupported, 9: ErrDeadlock, 10: ErrPanic,
		11: ErrWrongFileType, 12: ErrShouldResetCache, 13: ErrLostLease, 14: ErrUnavailable,
	}
	if len(sentinels) != len(want) {
		t.Fatalf("%d sentinels, want %d", len(sentinels), len(want))
	}
	for status, sentinel := range want {
		err := error(&Error{Status: status, Message: "m"})
		for other, s := range want {
			if errors.Is(err, s) != (other == status) {
				t.Errorf("status %d: errors.Is(err, %v) = %v", status, s, errors.Is(err, s))
			}
		}
		if !errors.Is(err, sentinel) {
			t.Errorf("status %d does not match %v", status, sentinel)
		}
	}
}
