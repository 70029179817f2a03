package locker

// The adapter against lockgate's own file locker, in whichever lockgate version the build
// selects: go.mod pins v0.1.1 (werf v1.2/v2); scripts/test-go runs this package again with
// -modfile=lockgate-v0.2.0.mod (werf v3).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/file_lock"
	"github.com/werf/lockgate/pkg/file_locker"
	"github.com/werf/lockgate/pkg/util"

	werfsync "github.com/werf-sync/werf-sync/bindings/go"
)

func TestMain(m *testing.M) {
	if helperMain() {
		return
	}
	os.Exit(m.Run())
}

// implementations are the two lockgate.Locker constructors a program can choose between.
var implementations = []struct {
	name string
	new  func(locksDir string) (lockgate.Locker, error)
}{
	{"adapter", func(dir string) (lockgate.Locker, error) { return NewFileLocker(dir) }},
	{"lockgate", func(dir string) (lockgate.Locker, error) { return file_locker.NewFileLocker(dir) }},
}

// namings runs f with lockgate's hash switch set each way, restoring it afterwards.
func namings(t *testing.T, f func(t *testing.T, legacy bool)) {
	saved := file_lock.LegacyHashFunction
	defer func() { file_lock.LegacyHashFunction = saved }()
	for _, legacy := range []bool{true, false} {
		file_lock.LegacyHashFunction = legacy
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) { f(t, legacy) })
	}
}

func mustAcquire(t *testing.T, l lockgate.Locker, name string, opts lockgate.AcquireOptions) lockgate.LockHandle {
	t.Helper()
	ok, h, err := l.Acquire(name, opts)
	if err != nil || !ok {
		t.Fatalf("Acquire(%q, %+v): %v, %v", name, opts, ok, err)
	}
	return h
}

func mustRelease(t *testing.T, l lockgate.Locker, h lockgate.LockHandle) {
	t.Helper()
	if err := l.Release(h); err != nil {
		t.Fatalf("Release(%+v): %v", h, err)
	}
}

func try(t *testing.T, l lockgate.Locker, name string, shared bool) (bool, lockgate.LockHandle) {
	t.Helper()
	ok, h, err := l.Acquire(name, lockgate.AcquireOptions{NonBlocking: true, Shared: shared})
	if err != nil {
		t.Fatalf("NonBlocking Acquire(%q): %v", name, err)
	}
	return ok, h
}

// lockerProgram is a program written only against lockgate.Locker, as werf's code is; it
// must behave the same with either implementation.
func lockerProgram(t *testing.T, l lockgate.Locker) {
	const name = "project.0123abcd"
	h := mustAcquire(t, l, name, lockgate.AcquireOptions{OnLostLeaseFunc: func(lockgate.LockHandle) error { return nil }})
	if h.LockName != name || len(h.UUID) != 36 {
		t.Fatalf("handle %+v", h)
	}
	// Not re-entrant: the same process waits for itself, like another process.
	if ok, _ := try(t, l, name, false); ok {
		t.Fatal("second exclusive acquire succeeded")
	}
	if ok, _ := try(t, l, name, true); ok {
		t.Fatal("shared acquire over exclusive succeeded")
	}
	var waits int32
	start := time.Now()
	_, _, err := l.Acquire(name, lockgate.AcquireOptions{
		Timeout: 50 * time.Millisecond,
		OnWaitFunc: func(lockName string, doWait func() error) error {
			atomic.AddInt32(&waits, 1)
			if lockName != name {
				t.Errorf("OnWaitFunc got %q", lockName)
			}
			return doWait()
		},
	})
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("timed-out acquire: %v", err)
	}
	if waits != 1 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("OnWaitFunc called %d times, returned after %v", waits, time.Since(start))
	}
	// A waiter gets the lock once the holder releases it.
	acquired := make(chan lockgate.LockHandle)
	go func() {
		h, err := func() (lockgate.LockHandle, error) {
			_, h, err := l.Acquire(name, lockgate.AcquireOptions{OnWaitFunc: func(_ string, doWait func() error) error {
				atomic.AddInt32(&waits, 1)
				return doWait()
			}})
			return h, err
		}()
		if err != nil {
			t.Error(err)
		}
		acquired <- h
	}()
	time.Sleep(20 * time.Millisecond)
	mustRelease(t, l, h)
	h2 := <-acquired
	if waits != 2 {
		t.Fatalf("OnWaitFunc calls: %d", waits)
	}
	mustRelease(t, l, h2)
	// OnWaitFunc is not called when no wait is needed.
	h3 := mustAcquire(t, l, name, lockgate.AcquireOptions{OnWaitFunc: func(string, func() error) error {
		t.Error("OnWaitFunc called for a free lock")
		return nil
	}})
	mustRelease(t, l, h3)
	// Released, unknown and forged handles are errors.
	if err := l.Release(h3); err == nil {
		t.Fatal("second Release succeeded")
	}
	if err := l.Release(lockgate.LockHandle{UUID: "00000000-0000-0000-0000-000000000000", LockName: name}); err == nil {
		t.Fatal("Release of an unknown handle succeeded")
	}
	// Shared locks coexist and exclude exclusive ones.
	s1 := mustAcquire(t, l, name, lockgate.AcquireOptions{Shared: true})
	s2 := mustAcquire(t, l, name, lockgate.AcquireOptions{Shared: true, NonBlocking: true})
	if ok, _ := try(t, l, name, false); ok {
		t.Fatal("exclusive over shared succeeded")
	}
	mustRelease(t, l, s1)
	mustRelease(t, l, s2)
	// lockgate.WithAcquire, as werf uses it.
	err = lockgate.WithAcquire(l, name, lockgate.AcquireOptions{NonBlocking: true}, func(acquired bool) error {
		if !acquired {
			return errors.New("WithAcquire did not acquire a free lock")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAProgramAgainstLockgateLockerRunsWithEither(t *testing.T) {
	namings(t, func(t *testing.T, _ bool) {
		for _, impl := range implementations {
			t.Run(impl.name, func(t *testing.T) {
				l, err := impl.new(filepath.Join(t.TempDir(), "does", "not", "exist", "yet"))
				if err != nil {
					t.Fatal(err)
				}
				lockerProgram(t, l)
			})
		}
	})
}

func TestSameLockFilesAsLockgate(t *testing.T) {
	namings(t, func(t *testing.T, legacy bool) {
		dir := t.TempDir()
		l, err := NewFileLocker(dir)
		if err != nil {
			t.Fatal(err)
		}
		h := mustAcquire(t, l, "git_data_manager", lockgate.AcquireOptions{})
		defer mustRelease(t, l, h)
		want := util.Sha256Hash("git_data_manager")
		if legacy {
			want = util.MurmurHash("git_data_manager")
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 || entries[0].Name() != want {
			t.Fatalf("locks dir holds %v (%v), want only %s", entries, err, want)
		}
		if got := file_lock.NewFileLock("git_data_manager", dir).(*file_lock.FileLock).LockFilePath(); got != filepath.Join(dir, want) {
			t.Fatalf("lockgate's path %s", got)
		}
	})
}

// TestExcludesLockgateInProcess: the adapter and lockgate's file locker on one directory,
// in one process, each way round.
func TestExcludesLockgateInProcess(t *testing.T) {
	namings(t, func(t *testing.T, _ bool) {
		dir := t.TempDir()
		ours, err := NewFileLocker(dir)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := file_locker.NewFileLocker(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]lockgate.Locker{{ours, theirs}, {theirs, ours}} {
			holder, other := pair[0], pair[1]
			h := mustAcquire(t, holder, "x", lockgate.AcquireOptions{})
			if ok, _ := try(t, other, "x", false); ok {
				t.Fatal("exclusive acquired over the other's exclusive")
			}
			if ok, _ := try(t, other, "x", true); ok {
				t.Fatal("shared acquired over the other's exclusive")
			}
			mustRelease(t, holder, h)
			s := mustAcquire(t, holder, "x", lockgate.AcquireOptions{Shared: true})
			ok, s2 := try(t, other, "x", true)
			if !ok {
				t.Fatal("shared locks do not coexist")
			}
			if ok, _ := try(t, other, "x", false); ok {
				t.Fatal("exclusive acquired over the other's shared")
			}
			mustRelease(t, other, s2)
			mustRelease(t, holder, s)
		}
		// Waits, each way: the waiter gets the lock once the other releases it.
		for _, pair := range [][2]lockgate.Locker{{ours, theirs}, {theirs, ours}} {
			holder, waiter := pair[0], pair[1]
			h := mustAcquire(t, holder, "w", lockgate.AcquireOptions{})
			done := make(chan error, 1)
			var waited atomic.Bool
			go func() {
				_, wh, err := waiter.Acquire("w", lockgate.AcquireOptions{Timeout: 10 * time.Second, OnWaitFunc: func(_ string, doWait func() error) error {
					waited.Store(true)
					return doWait()
				}})
				if err == nil {
					err = waiter.Release(wh)
				}
				done <- err
			}()
			time.Sleep(30 * time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("waiter returned while the lock was held: %v", err)
			default:
			}
			mustRelease(t, holder, h)
			if err := <-done; err != nil || !waited.Load() {
				t.Fatalf("waiter: %v (waited %v)", err, waited.Load())
			}
		}
	})
}

func TestOnWaitFuncErrorsAndMisuse(t *testing.T) {
	dir := t.TempDir()
	l, err := NewFileLocker(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := mustAcquire(t, l, "x", lockgate.AcquireOptions{})
	refused := errors.New("refused")
	// As lockgate, a failed blocking Acquire says "acquired" along with its error.
	ok, _, err := l.Acquire("x", lockgate.AcquireOptions{OnWaitFunc: func(string, func() error) error { return refused }})
	if !ok || !errors.Is(err, refused) {
		t.Fatalf("OnWaitFunc's error: %v, %v", ok, err)
	}
	ok, _, err = l.Acquire("x", lockgate.AcquireOptions{OnWaitFunc: func(string, func() error) error { return nil }})
	if err == nil {
		t.Fatalf("OnWaitFunc without doWait: %v, %v", ok, err)
	}
	ok, _, err = l.Acquire("x", lockgate.AcquireOptions{Timeout: time.Millisecond})
	if !ok || !errors.Is(err, werfsync.ErrTimeout) || !strings.Contains(err.Error(), `file lock timeout 1ms expired`) {
		t.Fatalf("timeout: %v, %v", ok, err)
	}
	mustRelease(t, l, h)
	// A wait that succeeded and an OnWaitFunc that then fails leaves the lock free.
	h = mustAcquire(t, l, "y", lockgate.AcquireOptions{})
	go func() { time.Sleep(20 * time.Millisecond); _ = l.Release(h) }()
	_, _, err = l.Acquire("y", lockgate.AcquireOptions{OnWaitFunc: func(_ string, doWait func() error) error {
		if err := doWait(); err != nil {
			return err
		}
		return refused
	}})
	if !errors.Is(err, refused) {
		t.Fatalf("OnWaitFunc failing after doWait: %v, %v", ok, err)
	}
	if ok, h := try(t, l, "y", false); !ok {
		t.Fatal("lock kept after OnWaitFunc failed")
	} else {
		mustRelease(t, l, h)
	}
}

// TestAcquiredOnErrorMatchesLockgate: what Acquire returns beside an error is lockgate's.
func TestAcquiredOnErrorMatchesLockgate(t *testing.T) {
	refused := errors.New("refused")
	for _, impl := range implementations {
		l, err := impl.new(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		h := mustAcquire(t, l, "x", lockgate.AcquireOptions{})
		cases := []struct {
			name string
			opts lockgate.AcquireOptions
			want bool
		}{
			{"OnWaitFunc error", lockgate.AcquireOptions{OnWaitFunc: func(string, func() error) error { return refused }}, true},
			{"timeout", lockgate.AcquireOptions{Timeout: time.Millisecond}, true},
			{"NonBlocking held", lockgate.AcquireOptions{NonBlocking: true}, false},
		}
		for _, c := range cases {
			ok, _, _ := l.Acquire("x", c.opts)
			if ok != c.want {
				t.Errorf("%s, %s: acquired=%v, want %v", impl.name, c.name, ok, c.want)
			}
		}
		mustRelease(t, l, h)
	}
}
