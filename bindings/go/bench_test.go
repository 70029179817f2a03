package werfsync

// Benchmarks, each against a peer in the same run (not part of the default test run; see
// BENCHMARKS.md for the command):
//   - LockUnlock: an uncontended lock+unlock through the binding, against the floor — raw
//     open+flock(LOCK_EX)+flock(LOCK_UN)+close of the same file in Go — and against
//     lockgate's file locker (what werf uses).
//   - Handoff: time from the holder's release to the waiter holding the lock, through the
//     binding against lockgate (whose waiters poll every 500 ms).

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/file_locker"
)

func BenchmarkLockUnlock(b *testing.B) {
	s, home := openTemp(b)
	const name = "myproject.0123abcd"
	path, err := s.LockFilePath(name)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("binding", func(b *testing.B) {
		for b.Loop() {
			l, err := s.Lock(ctx, name, LockOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Unlock(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-flock", func(b *testing.B) {
		for b.Loop() {
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
	})
	b.Run("lockgate", func(b *testing.B) {
		locker, err := file_locker.NewFileLocker(filepath.Join(home, "service", "locks"))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			_, h, err := locker.Acquire(name, lockgate.AcquireOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if err := locker.Release(h); err != nil {
				b.Fatal(err)
			}
		}
	})
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

func BenchmarkHandoff(b *testing.B) {
	s, home := openTemp(b)
	const name = "handoff"
	ctx := context.Background()
	b.Run("binding", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			total += handoff(b, func() func() {
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
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/handoff")
	})
	b.Run("lockgate", func(b *testing.B) {
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
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/handoff")
	})
}
