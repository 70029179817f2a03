package werfsync

// Interop with werf's own lock library: lockgate's file locker, set up exactly as werf sets
// it up (legacy MurmurHash3 file names, locks in <home>/service/locks), against the binding
// on the same werf home and lock name.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/file_lock"
	"github.com/werf/lockgate/pkg/file_locker"
)

// holderEnv makes the test binary a lockgate lock holder (see TestMain).
const holderEnv = "WERFSYNC_TEST_LOCKGATE_HOLDER"

func TestMain(m *testing.M) {
	// What werf does before creating its host locker.
	file_lock.LegacyHashFunction = true
	if dir := os.Getenv(holderEnv); dir != "" {
		holdWithLockgate(dir, os.Args[len(os.Args)-1])
		return
	}
	os.Exit(m.Run())
}

// holdWithLockgate takes name with lockgate, says so on stdout and sleeps until killed.
func holdWithLockgate(locksDir, name string) {
	locker, err := file_locker.NewFileLocker(locksDir)
	if err == nil {
		_, _, err = locker.Acquire(name, lockgate.AcquireOptions{})
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Hour)
}

// werfLocker is lockgate's file locker as werf creates it for home.
func werfLocker(t *testing.T, home string) *file_locker.FileLocker {
	t.Helper()
	locker, err := file_locker.NewFileLocker(filepath.Join(home, "service", "locks"))
	if err != nil {
		t.Fatal(err)
	}
	return locker
}

func lockgateTry(t *testing.T, l *file_locker.FileLocker, name string, shared bool) (bool, lockgate.LockHandle) {
	t.Helper()
	ok, h, err := l.Acquire(name, lockgate.AcquireOptions{NonBlocking: true, Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	return ok, h
}

func TestLockgateUsesTheSameLockFile(t *testing.T) {
	s, home := openTemp(t)
	for _, name := range []string{"hello", "git_data_manager", "", "myproject.0123abcd", "ünïcode/;x"} {
		ours, err := s.LockFilePath(name)
		if err != nil {
			t.Fatal(err)
		}
		theirs := file_lock.NewFileLock(name, filepath.Join(home, "service", "locks")).(*file_lock.FileLock).LockFilePath()
		if ours != theirs {
			t.Errorf("lock file of %q: ours %s, lockgate's %s", name, ours, theirs)
		}
	}
}

func TestLockgateExclusiveExcludesBothWays(t *testing.T) {
	s, home := openTemp(t)
	werf := werfLocker(t, home)

	ok, h := lockgateTry(t, werf, "stage", false)
	if !ok {
		t.Fatal("lockgate could not take a free lock")
	}
	if _, err := s.TryLock("stage", LockOptions{}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("binding TryLock while lockgate holds: %v", err)
	}
	if _, err := s.TryLock("stage", LockOptions{Shared: true}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("binding shared TryLock while lockgate holds exclusively: %v", err)
	}
	if err := werf.Release(h); err != nil {
		t.Fatal(err)
	}

	ours, err := s.TryLock("stage", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := lockgateTry(t, werf, "stage", false); ok {
		t.Fatal("lockgate took a lock the binding holds")
	}
	if ok, _ := lockgateTry(t, werf, "stage", true); ok {
		t.Fatal("lockgate took shared a lock the binding holds exclusively")
	}
	if err := ours.Unlock(); err != nil {
		t.Fatal(err)
	}
	ok, h = lockgateTry(t, werf, "stage", false)
	if !ok {
		t.Fatal("lockgate cannot take the lock after the binding released it")
	}
	_ = werf.Release(h)
}

func TestLockgateSharedCoexistsAndExcludesExclusive(t *testing.T) {
	s, home := openTemp(t)
	werf := werfLocker(t, home)

	// lockgate shared, binding shared: coexist; binding exclusive: excluded.
	ok, h := lockgateTry(t, werf, "images", true)
	if !ok {
		t.Fatal("lockgate shared failed on a free lock")
	}
	ours, err := s.TryLock("images", LockOptions{Shared: true})
	if err != nil {
		t.Fatalf("binding shared next to lockgate shared: %v", err)
	}
	if _, err := s.TryLock("images", LockOptions{}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("binding exclusive next to lockgate shared: %v", err)
	}
	_ = werf.Release(h)

	// Binding shared (still held), lockgate shared: coexist; lockgate exclusive: excluded.
	if ok, h := lockgateTry(t, werf, "images", true); !ok {
		t.Fatal("lockgate shared next to binding shared failed")
	} else {
		_ = werf.Release(h)
	}
	if ok, _ := lockgateTry(t, werf, "images", false); ok {
		t.Fatal("lockgate exclusive next to binding shared succeeded")
	}
	_ = ours.Unlock()
}

func TestLockgateWaiterGetsTheLockWhenTheBindingReleases(t *testing.T) {
	s, home := openTemp(t)
	werf := werfLocker(t, home)
	ours, err := s.TryLock("handoff", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	acquired := make(chan error, 1)
	go func() {
		_, h, err := werf.Acquire("handoff", lockgate.AcquireOptions{
			Timeout: 10 * time.Second,
			OnWaitFunc: func(_ string, doWait func() error) error {
				close(waiting)
				return doWait()
			},
		})
		if err == nil {
			err = werf.Release(h)
		}
		acquired <- err
	}()
	<-waiting
	select {
	case err := <-acquired:
		t.Fatalf("lockgate got a held lock: %v", err)
	case <-time.After(600 * time.Millisecond): // longer than one of lockgate's polls
	}
	if err := ours.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acquired:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lockgate waiter did not get the released lock")
	}
}

func TestBindingWaiterGetsTheLockWhenLockgateReleases(t *testing.T) {
	s, home := openTemp(t)
	werf := werfLocker(t, home)
	ok, h := lockgateTry(t, werf, "handoff", false)
	if !ok {
		t.Fatal("lockgate could not take a free lock")
	}
	waiting := make(chan struct{})
	acquired := make(chan error, 1)
	var gotAt time.Time
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := s.Lock(ctx, "handoff", LockOptions{OnWait: func(string) { close(waiting) }})
		gotAt = time.Now()
		if err == nil {
			err = l.Unlock()
		}
		acquired <- err
	}()
	<-waiting
	time.Sleep(20 * time.Millisecond)
	releasedAt := time.Now()
	if err := werf.Release(h); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acquired:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("binding waiter did not get the lock lockgate released")
	}
	// The kernel wakes the waiter: no polling interval in between.
	if d := gotAt.Sub(releasedAt); d > 200*time.Millisecond {
		t.Fatalf("handoff from lockgate took %v", d)
	}
}

func TestKilledLockgateProcessFreesTheLock(t *testing.T) {
	s, home := openTemp(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$", "crashed")
	child.Env = append(os.Environ(), holderEnv+"="+filepath.Join(home, "service", "locks"))
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lockgate holder said %q, %v", line, err)
	}
	if _, err := s.TryLock("crashed", LockOptions{}); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock while the lockgate process holds: %v", err)
	}

	acquired := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := s.Lock(ctx, "crashed", LockOptions{})
		if err == nil {
			err = l.Unlock()
		}
		acquired <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acquired:
		if err != nil {
			t.Fatalf("Lock after the holder was killed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the killed process's lock was not freed")
	}
}
