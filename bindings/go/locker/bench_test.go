package locker

// Benchmarks (not part of the default test run; BENCHMARKS.md has the command):
//   - AcquireRelease: an uncontended Acquire+Release through the adapter, interleaved with
//     lockgate's file locker and the floor — Go's open+flock(LOCK_EX)+flock(LOCK_UN)+close
//     of the same lock file — so load hits all three alike; read the X/raw ratios.
//   - Handoff: from a holder's Release to a blocked waiter's Acquire returning, through the
//     adapter and through lockgate's file locker (whose waiter polls every 500 ms).

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/file_lock"
	"github.com/werf/lockgate/pkg/file_locker"
)

const benchName = "myproject.0123abcd"

func benchLockers(b *testing.B) (dir string, ours *Locker, theirs *file_locker.FileLocker) {
	file_lock.LegacyHashFunction = true // as werf sets it
	dir = b.TempDir()
	ours, err := NewFileLocker(dir)
	if err != nil {
		b.Fatal(err)
	}
	theirs, err = file_locker.NewFileLocker(dir)
	if err != nil {
		b.Fatal(err)
	}
	return dir, ours, theirs
}

func acquireRelease(b *testing.B, l lockgate.Locker) func() {
	return func() {
		_, h, err := l.Acquire(benchName, lockgate.AcquireOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	_, ours, theirs := benchLockers(b)
	path, err := ours.sync.LockFilePath(benchName)
	if err != nil {
		b.Fatal(err)
	}
	raw := func() {
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
	contenders := []struct {
		name string
		op   func()
	}{{"adapter", acquireRelease(b, ours)}, {"raw", raw}, {"lockgate", acquireRelease(b, theirs)}}
	totals := make([]time.Duration, len(contenders))
	for b.Loop() {
		for i, c := range contenders {
			start := time.Now()
			c.op()
			totals[i] += time.Since(start)
		}
	}
	for i, c := range contenders {
		b.ReportMetric(float64(totals[i].Nanoseconds())/float64(b.N), c.name+"-ns/op")
		if c.name != "raw" {
			b.ReportMetric(float64(totals[i])/float64(totals[1]), c.name+"/raw")
		}
	}
}

// handoff measures one release→acquire: the waiter has announced its wait (OnWaitFunc) and
// had 2 ms more to block when the holder releases.
func handoff(b *testing.B, l lockgate.Locker) time.Duration {
	_, held, err := l.Acquire(benchName, lockgate.AcquireOptions{})
	if err != nil {
		b.Fatal(err)
	}
	waiting := make(chan struct{})
	acquired := make(chan time.Time)
	go func() {
		_, h, err := l.Acquire(benchName, lockgate.AcquireOptions{OnWaitFunc: func(_ string, doWait func() error) error {
			close(waiting)
			return doWait()
		}})
		at := time.Now()
		if err != nil {
			b.Error(err)
		} else if err := l.Release(h); err != nil {
			b.Error(err)
		}
		acquired <- at
	}()
	<-waiting
	time.Sleep(2 * time.Millisecond)
	releasedAt := time.Now()
	if err := l.Release(held); err != nil {
		b.Fatal(err)
	}
	return (<-acquired).Sub(releasedAt)
}

func BenchmarkHandoff(b *testing.B) {
	_, ours, theirs := benchLockers(b)
	for _, c := range []struct {
		name string
		l    lockgate.Locker
	}{{"adapter", ours}, {"lockgate", theirs}} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				total += handoff(b, c.l)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "handoff-ns/op")
		})
	}
}
