package main

import (
	"math/rand"
	"slices"
	"time"
)

func handoffSubjects(dir string) []subject {
	path := lockPath(dir)
	return []subject{
		rawBlocking(path),
		gofrsLock(path),
		gofrsTryContext(path, time.Millisecond),
		gofrsTryContext(path, 10*time.Millisecond),
		lockgateFile(dir, 0),
		lockgateFile(dir, 30*time.Second),
	}
}

// runHandoff measures n handoffs from a holder to a waiter of the same subject. The holder
// keeps the lock 1 ms plus a random time up to the subject's retry interval (at least 9 ms)
// after the waiter started, so a polling waiter is caught at a uniformly random point of its
// interval, as in real use where a release comes at no particular moment.
func runHandoff(s subject, n int) result {
	latencies := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		release := s.acquire()
		acquired := make(chan time.Time)
		go func() {
			waiterRelease := s.acquire()
			acquired <- time.Now()
			waiterRelease()
		}()
		spread := max(s.poll, 9*time.Millisecond)
		time.Sleep(time.Millisecond + time.Duration(rand.Int63n(int64(spread))))
		released := time.Now()
		release()
		latencies = append(latencies, (<-acquired).Sub(released))
	}
	slices.Sort(latencies)
	return result{
		Scenario: "handoff",
		Subject:  s.name,
		P50Us:    micros(quantile(latencies, 0.5)),
		P99Us:    micros(quantile(latencies, 0.99)),
		MaxUs:    micros(latencies[len(latencies)-1]),
		Samples:  n,
	}
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(float64(len(sorted)-1)*q+0.5)]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
