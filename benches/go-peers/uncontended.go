package main

import (
	"syscall"
	"testing"
	"time"
)

func uncontendedSubjects(dir string) []subject {
	path := lockPath(dir)
	return []subject{
		flockPairOnOpenFd(path),
		rawBlocking(path),
		gofrsLock(path),
		gofrsTryContext(path, 10*time.Millisecond),
		lockgateFile(dir, 0),
	}
}

// flockPairOnOpenFd is the kernel's part alone: the descriptor stays open.
func flockPairOnOpenFd(path string) subject {
	fd := rawOpen(path)
	return subject{name: "floor: flock pair on open fd", acquire: func() func() {
		rawFlock(fd, syscall.LOCK_EX)
		return func() { rawFlock(fd, syscall.LOCK_UN) }
	}}
}

func runUncontended(s subject) result {
	r := testing.Benchmark(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s.acquire()()
		}
	})
	return result{Scenario: "uncontended", Subject: s.name, NsPerOp: float64(r.NsPerOp())}
}
