// Command peer holds one lock the way werf does: lockgate v0.1.1's DistributedLocker over
// its HttpBackend (werf's client code path), on `<url>/<clientID>/locker`.
//
//	peer -url URL -client-id ID -lock NAME [-shared] [-try]
//
// It prints, one line each, as things happen: "WAITING" (lockgate's OnWaitFunc: the first
// try found the lock held), "ACQUIRED <uuid>", "BUSY" (with -try: held elsewhere; exits 3),
// "LOST <uuid>" (OnLostLeaseFunc; exits 4), "RELEASED". After acquiring it holds the lock
// until its standard input reaches end of file, then releases it and exits 0.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/distributed_locker"
)

func say(format string, args ...interface{}) {
	fmt.Printf(format+"\n", args...)
	os.Stdout.Sync()
}

func main() {
	url := flag.String("url", "", "synchronization server address")
	clientID := flag.String("client-id", "", "client ID")
	lockName := flag.String("lock", "", "lock name")
	shared := flag.Bool("shared", false, "shared lock")
	try := flag.Bool("try", false, "non-blocking")
	flag.Parse()

	locker := distributed_locker.NewHttpLocker(fmt.Sprintf("%s/%s/locker", *url, *clientID))
	acquired, handle, err := locker.Acquire(*lockName, lockgate.AcquireOptions{
		NonBlocking: *try,
		Shared:      *shared,
		OnWaitFunc: func(_ string, doWait func() error) error {
			say("WAITING")
			return doWait()
		},
		OnLostLeaseFunc: func(h lockgate.LockHandle) error {
			say("LOST %s", h.UUID)
			os.Exit(4)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "acquire: %s\n", err)
		os.Exit(1)
	}
	if !acquired {
		say("BUSY")
		os.Exit(3)
	}
	say("ACQUIRED %s", handle.UUID)
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	if err := locker.Release(handle); err != nil {
		fmt.Fprintf(os.Stderr, "release: %s\n", err)
		os.Exit(1)
	}
	say("RELEASED")
}
