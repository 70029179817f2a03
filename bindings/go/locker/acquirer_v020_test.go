//go:build lockgate_v020

package locker

// lockgate v0.2.0 (werf v3) added AcquireOptions.AcquirerId; its file locker ignores it, and
// so does the adapter. Built by scripts/test-go with -modfile=lockgate-v0.2.0.mod.

import (
	"testing"

	"github.com/werf/lockgate"
)

func TestAcquirerIdIsIgnored(t *testing.T) {
	for _, impl := range implementations {
		l, err := impl.new(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		h := mustAcquire(t, l, "x", lockgate.AcquireOptions{AcquirerId: "werf-3"})
		if ok, _ := try(t, l, "x", false); ok {
			t.Fatalf("%s: AcquirerId made the lock re-entrant", impl.name)
		}
		mustRelease(t, l, h)
	}
}
