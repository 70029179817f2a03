package werfsync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openTemp(t testing.TB) (*Sync, string) {
	t.Helper()
	home := t.TempDir()
	s, err := Open(home)
	if err != nil {
		t.Fatalf("Open(%q): %v", home, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, home
}

func TestOpenResolvesHomeAndRejectsBadInput(t *testing.T) {
	home := t.TempDir()
	t.Setenv("WERF_HOME", home)
	s, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Home(); err != nil || got != home {
		t.Fatalf("Home() = %q, %v; want %q", got, err, home)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.TryLock("x", LockOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("TryLock after Close: %v", err)
	}
	t.Setenv("WERF_HOME", "")
	_, err = Open("")
	var werr *Error
	if !errors.Is(err, ErrInvalidArgument) || !errors.As(err, &werr) || !strings.Contains(werr.Message, "WERF_HOME") {
		t.Fatalf("Open with empty WERF_HOME: %v", err)
	}
	if _, err := Open("/tmp/a\x00b"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Open with NUL: %v", err)
	}
}

func TestTryLockExcludesAndSharedCoexist(t *testing.T) {
	s, home := openTemp(t)
	a, err := s.TryLock("hello", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TryLock("hello", LockOptions{Shared: true}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("second TryLock: %v, want ErrWouldBlock", err)
	}
	path, err := s.LockFilePath("hello")
	if want := filepath.Join(home, "service", "locks", "248bfa47"); err != nil || path != want {
		t.Fatalf("LockFilePath = %q, %v; want %q", path, err, want)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Unlock: %v", err)
	}
	r1, err1 := s.TryLock("hello", LockOptions{Shared: true})
	r2, err2 := s.TryLock("hello", LockOptions{Shared: true})
	if err1 != nil || err2 != nil || !r1.Shared() || r1.Name() != "hello" {
		t.Fatalf("shared TryLocks: %v, %v", err1, err2)
	}
	if _, err := s.TryLock("hello", LockOptions{}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("exclusive over shared: %v", err)
	}
	_ = r1.Unlock()
	_ = r2.Unlock()
}

func TestLockHonoursContextDeadlineAndCancel(t *testing.T) {
	s, _ := openTemp(t)
	held, err := s.TryLock("busy", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var waited atomic.Int32
	start := time.Now()
	_, err = s.Lock(ctx, "busy", LockOptions{OnWait: func(string) { waited.Add(1) }})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock past deadline: %v", err)
	}
	if d := time.Since(start); d < 45*time.Millisecond || d > 2*time.Second {
		t.Fatalf("waited %v for a 50ms deadline", d)
	}
	if waited.Load() != 1 {
		t.Fatalf("OnWait called %d times", waited.Load())
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	_, err = s.Lock(ctx, "busy", LockOptions{})
	if !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock cancelled: %v", err)
	}
	if _, err := s.Lock(ctx, "busy", LockOptions{}); !errors.Is(err, ErrCanceled) {
		t.Fatalf("Lock with a done context: %v", err)
	}
}

func TestWaiterGetsTheLockOnRelease(t *testing.T) {
	s, _ := openTemp(t)
	held, err := s.TryLock("handoff", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		l, err := s.Lock(context.Background(), "handoff", LockOptions{OnWait: func(string) { close(waiting) }})
		if err == nil {
			err = l.Unlock()
		}
		got <- err
	}()
	<-waiting
	time.Sleep(10 * time.Millisecond)
	released := time.Now()
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(released); d > time.Second {
		t.Fatalf("handoff took %v", d)
	}
}

// Many goroutines increment a counter under the lock; every increment must be seen.
func TestCounterUnderLock(t *testing.T) {
	s, _ := openTemp(t)
	var counter, inside int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				l, err := s.Lock(context.Background(), "counter", LockOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				if atomic.AddInt64(&inside, 1) != 1 {
					t.Error("two holders at once")
				}
				counter++
				atomic.AddInt64(&inside, -1)
				if err := l.Unlock(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if counter != 400 {
		t.Fatalf("counter = %d, want 400", counter)
	}
}

func TestManagerOperations(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	h, err := s.LockStage(ctx, "proj", "0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	if h.LockName != "proj.0123abcd" || len(h.UUID) != 36 {
		t.Fatalf("handle %+v", h)
	}
	if _, err := s.TryLock("proj.0123abcd", LockOptions{}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("stage lock not held: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.LockStage(short, "proj", "0123abcd"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("second LockStage: %v", err)
	}
	if err := s.Unlock(h); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(h); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Unlock: %v", err)
	}

	names := map[string]func() (LockHandle, error){
		"proj.d.cache": func() (LockHandle, error) { return s.Acquire(ctx, StageCacheLockName("proj", "d"), LockOptions{}) },
		"img.image":    func() (LockHandle, error) { return s.Acquire(ctx, ImageLockName("img"), LockOptions{}) },
		"proj.stages_and_images": func() (LockHandle, error) {
			return s.Acquire(ctx, StagesAndImagesLockName("proj"), LockOptions{Shared: true})
		},
		"project/p;release/r;kube_context/ctx": func() (LockHandle, error) {
			return s.Acquire(ctx, DeployProcessLockName("p", "r", "ctx"), LockOptions{})
		},
		"any": func() (LockHandle, error) { return s.Acquire(ctx, "any", LockOptions{Shared: true}) },
	}
	for want, lock := range names {
		h, err := lock()
		if err != nil || h.LockName != want {
			t.Fatalf("%s: %+v, %v", want, h, err)
		}
		defer func() {
			if err := s.Unlock(h); err != nil {
				t.Error(err)
			}
		}()
	}
	if _, err := s.TryAcquire("any", LockOptions{}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryAcquire over shared: %v", err)
	}
	if h2, err := s.TryAcquire("any", LockOptions{Shared: true}); err != nil {
		t.Fatal(err)
	} else if err := s.Unlock(h2); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidArguments(t *testing.T) {
	s, _ := openTemp(t)
	bad := string([]byte{'a', 0xff})
	_, err := s.TryLock(bad, LockOptions{})
	var werr *Error
	if !errors.Is(err, ErrInvalidArgument) || !errors.As(err, &werr) || !strings.Contains(werr.Message, "UTF-8") {
		t.Fatalf("invalid UTF-8 name: %v", err)
	}
	if err := s.Unlock(LockHandle{UUID: "u", LockName: bad}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Unlock with invalid name: %v", err)
	}
}

// The garbage collector's cleanup releases a Lock nobody unlocked.
func TestForgottenLockIsReleasedByTheCollector(t *testing.T) {
	s, _ := openTemp(t)
	func() {
		if _, err := s.TryLock("forgotten", LockOptions{}); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC() // the Lock is unreachable: its cleanup runs after a collection
		l, err := s.TryLock("forgotten", LockOptions{})
		if err == nil {
			_ = l.Unlock()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("forgotten lock still held: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The library refuses a wait without deadline on a lock held by the waiting OS thread; in
// Go another goroutine may have taken it on that thread and release it, so Lock must wait.
func TestLockWaitsForAHoldTakenOnTheSameOSThread(t *testing.T) {
	s, _ := openTemp(t)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		held, err := s.TryLock("same-thread", LockOptions{})
		if err != nil {
			done <- err
			return
		}
		time.AfterFunc(50*time.Millisecond, func() { _ = held.Unlock() })
		l, err := s.Lock(context.Background(), "same-thread", LockOptions{})
		if err == nil {
			err = l.Unlock()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock did not get the lock released by another goroutine")
	}
}

// Close must not wait for a wait in progress (that could deadlock on a lock only another
// call could release): it cancels it, and frees the Sync — releasing its lock manager's
// locks — once the last call returned.
func TestCloseCancelsWaitsAndReleasesManagerLocks(t *testing.T) {
	home := t.TempDir()
	s, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := s.LockStage(context.Background(), "p", "d"); err != nil {
		t.Fatal(err)
	}
	held, err := other.TryLock("busy", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()

	waiting := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		_, err := s.Lock(context.Background(), "busy", LockOptions{OnWait: func(string) { close(waiting) }})
		result <- err
	}()
	<-waiting
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrCanceled) {
			t.Fatalf("wait ended with %v, want ErrClosed and ErrCanceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cancel the wait")
	}
	// The stage lock went with the Sync.
	if l, err := other.TryLock("p.d", LockOptions{}); err != nil {
		t.Fatalf("stage lock still held after Close: %v", err)
	} else {
		_ = l.Unlock()
	}
	if _, err := s.LockStage(context.Background(), "p", "d"); !errors.Is(err, ErrClosed) {
		t.Fatalf("LockStage after Close: %v", err)
	}
}
