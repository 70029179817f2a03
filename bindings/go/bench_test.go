package werfsync

// Benchmarks, each against a peer in the same run (not part of the default test run; see
// BENCHMARKS.md for the command):
//   - LockUnlock: an uncontended lock+unlock through the binding, against the floor — raw
//     open+flock(LOCK_EX)+flock(LOCK_UN)+close of the same file in Go — and against
//     lockgate's file locker (what werf uses) and gofrs/flock (Lock, and TryLockContext
//     with a retry delay — the API its README recommends).
//   - Handoff: time from the holder's release to the waiter holding the lock, through the
//     binding against the floor — a Go waiter blocked in flock(2) itself — and against
//     lockgate (whose waiters poll every 500 ms) and gofrs/flock's TryLockContext (which
//     polls every retry delay).

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/file_locker"
)

// gofrsRetryDelay is the TryLockContext retry delay in the peer benchmarks: short enough to
// be a fair peer, long enough not to spin (gofrs/flock's own examples use 678 ms).
const gofrsRetryDelay = 10 * time.Millisecond

// BenchmarkLockUnlock runs the three contenders interleaved — one lock+unlock of each per
// iteration, each timed on its own — so that load from other processes hits all of them
// alike; the ratios to the raw flock floor are the stable numbers.
func BenchmarkLockUnlock(b *testing.B) {
	s, home := openTemp(b)
	const name = "myproject.0123abcd"
	path, err := s.LockFilePath(name)
	if err != nil {
		b.Fatal(err)
	}
	locker, err := file_locker.NewFileLocker(filepath.Join(home, "service", "locks"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	binding := func() {
		l, err := s.Lock(ctx, name, LockOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Unlock(); err != nil {
			b.Fatal(err)
		}
	}
	rawFlock := func() {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
	}
	lockgateFileLocker := func() {
		_, h, err := locker.Acquire(name, lockgate.AcquireOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := locker.Release(h); err != nil {
			b.Fatal(err)
		}
	}
	gofrsLock := func() {
		f := flock.New(path)
		if err := f.Lock(); err != nil {
			b.Fatal(err)
		}
		if err := f.Unlock(); err != nil { // Unlock also closes the descriptor
			b.Fatal(err)
		}
	}
	gofrsTryLockContext := func() {
		f := flock.New(path)
		if ok, err := f.TryLockContext(ctx, gofrsRetryDelay); !ok || err != nil {
			b.Fatalf("TryLockContext: %v, %v", ok, err)
		}
		if err := f.Unlock(); err != nil {
			b.Fatal(err)
		}
	}
	reportInterleaved(b, []contender{
		{"binding", timed(binding)},
		{"raw", timed(rawFlock)},
		{"lockgate", timed(lockgateFileLocker)},
		{"gofrs-Lock", timed(gofrsLock)},
		{"gofrs-TryLockContext", timed(gofrsTryLockContext)},
	})
}

// contender is one operation of an interleaved benchmark; op returns the time it measured.
type contender struct {
	name string
	op   func() time.Duration
}

// timed measures the whole of op.
func timed(op func()) func() time.Duration {
	return func() time.Duration {
		start := time.Now()
		op()
		return time.Since(start)
	}
}

// reportInterleaved runs every contender once per iteration and reports each one's mean
// (NAME-ns/op) and its ratio to the contender named "raw".
func reportInterleaved(b *testing.B, contenders []contender) {
	totals := make([]time.Duration, len(contenders))
	for b.Loop() {
		for i, c := range contenders {
			totals[i] += c.op()
		}
	}
	var raw time.Duration
	for i, c := range contenders {
		if c.name == "raw" {
			raw = totals[i]
		}
	}
	for i, c := range contenders {
		b.ReportMetric(float64(totals[i].Nanoseconds())/float64(b.N), c.name+"-ns/op")
		if c.name != "raw" && raw > 0 {
			b.ReportMetric(float64(totals[i])/float64(raw), c.name+"/raw")
		}
	}
}

// handoff measures one release→acquire: the waiter is blocked (it announced the wait and
// had 2 ms more to block) when the holder releases; returns the time until the waiter
// holds the lock.
func handoff(b *testing.B, hold func() (release func()), waitFor func(onWait func()) (acquiredAt time.Time)) time.Duration {
	release := hold()
	waiting := make(chan struct{})
	acquired := make(chan time.Time)
	go func() { acquired <- waitFor(func() { close(waiting) }) }()
	<-waiting
	time.Sleep(2 * time.Millisecond)
	releasedAt := time.Now()
	release()
	return (<-acquired).Sub(releasedAt)
}

// BenchmarkHandoff measures release→acquire through the binding and through the floor, interleaved like BenchmarkLockUnlock (metrics
// NAME-ns/op are handoff latencies). BenchmarkHandoffLockgate measures lockgate apart: each
// of its handoffs takes up to 500 ms.
func BenchmarkHandoff(b *testing.B) {
	s, _ := openTemp(b)
	const name = "handoff"
	path, err := s.LockFilePath(name)
	if err != nil {
		b.Fatal(err)
	}
	// The binding's waiter blocks on a library helper thread that it can abandon (on the
	// context or Close), which the kernel wakes on release.
	binding := func(ctx context.Context) func() time.Duration {
		return func() time.Duration {
			return handoff(b, func() func() {
				l, err := s.Lock(ctx, name, LockOptions{})
				if err != nil {
					b.Fatal(err)
				}
				return func() { _ = l.Unlock() }
			}, func(onWait func()) time.Time {
				l, err := s.Lock(ctx, name, LockOptions{OnWait: func(string) { onWait() }})
				at := time.Now()
				if err != nil {
					b.Error(err)
					return at
				}
				_ = l.Unlock()
				return at
			})
		}
	}
	// The floor: a Go waiter blocked in flock(2) itself, woken directly by the kernel.
	flock := func(onWait func()) (*os.File, time.Time) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		if onWait != nil {
			onWait()
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		at := time.Now()
		if err != nil {
			b.Error(err)
		}
		return f, at
	}
	raw := func() time.Duration {
		return handoff(b, func() func() {
			f, _ := flock(nil)
			return func() { _ = f.Close() }
		}, func(onWait func()) time.Time {
			f, at := flock(onWait)
			_ = f.Close()
			return at
		})
	}
	reportInterleaved(b, []contender{
		{"binding", binding(context.Background())},
		{"raw", raw},
	})
}

func BenchmarkHandoffLockgate(b *testing.B) {
	_, home := openTemp(b)
	const name = "handoff"
	locker, err := file_locker.NewFileLocker(filepath.Join(home, "service", "locks"))
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		total += handoff(b, func() func() {
			_, h, err := locker.Acquire(name, lockgate.AcquireOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return func() { _ = locker.Release(h) }
		}, func(onWait func()) time.Time {
			_, h, err := locker.Acquire(name, lockgate.AcquireOptions{
				OnWaitFunc: func(_ string, doWait func() error) error {
					onWait()
					return doWait()
				},
			})
			at := time.Now()
			if err != nil {
				b.Error(err)
				return at
			}
			_ = locker.Release(h)
			return at
		})
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "lockgate-ns/op")
}

// BenchmarkHandoffGofrs measures release→acquire for a gofrs/flock waiter polling with
// TryLockContext. handoff releases 2 ms after the waiter's first failed try, so with a
// 10 ms delay each handoff takes about 8 ms: the poll interval, not the kernel, sets it.
func BenchmarkHandoffGofrs(b *testing.B) {
	s, _ := openTemp(b)
	path, err := s.LockFilePath("handoff")
	if err != nil {
		b.Fatal(err)
	}
	// gofrs/flock creates the file, not its directory.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		total += handoff(b, func() func() {
			f := flock.New(path)
			if err := f.Lock(); err != nil {
				b.Fatal(err)
			}
			return func() { _ = f.Unlock() }
		}, func(onWait func()) time.Time {
			f := flock.New(path)
			// The first try fails (the holder has the lock); then announce the wait.
			if ok, err := f.TryLock(); ok || err != nil {
				b.Errorf("TryLock while held: %v, %v", ok, err)
			}
			onWait()
			ok, err := f.TryLockContext(context.Background(), gofrsRetryDelay)
			at := time.Now()
			if !ok || err != nil {
				b.Errorf("TryLockContext: %v, %v", ok, err)
				return at
			}
			_ = f.Unlock()
			return at
		})
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "gofrs-TryLockContext-ns/op")
}
