package locker

// Across processes: a child (this test binary, re-executed) holds a lock with one
// implementation; the test meets it with the other, then kills the child with SIGKILL.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/file_lock"
)

// helperEnv makes the test binary a lock holder: "IMPL LEGACY SHARED DIR NAME".
const helperEnv = "WERFSYNC_LOCKER_TEST_HOLDER"

// helperMain holds a lock when asked to by helperEnv, says "locked" and sleeps until killed;
// it reports whether it ran.
func helperMain() bool {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return false
	}
	var implName, dir, name string
	var legacy, shared bool
	if _, err := fmt.Sscan(spec, &implName, &legacy, &shared, &dir, &name); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	file_lock.LegacyHashFunction = legacy
	for _, impl := range implementations {
		if impl.name != implName {
			continue
		}
		l, err := impl.new(dir)
		if err == nil {
			_, _, err = l.Acquire(name, lockgate.AcquireOptions{Shared: shared})
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Hour)
	}
	os.Exit(2)
	return true
}

// holdInChild starts a child holding name with implementation impl and returns it.
func holdInChild(t *testing.T, impl, dir, name string, shared bool) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%s %v %v %s %s", helperEnv, impl, file_lock.LegacyHashFunction, shared, dir, name))
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("%s holder said %q, %v", impl, line, err)
	}
	return child
}

func TestExcludesLockgateAcrossProcesses(t *testing.T) {
	namings(t, func(t *testing.T, _ bool) {
		for _, pair := range [][2]int{{0, 1}, {1, 0}} {
			holderImpl, local := implementations[pair[0]], implementations[pair[1]]
			t.Run(holderImpl.name+"-holds", func(t *testing.T) {
				dir := t.TempDir()
				l, err := local.new(dir)
				if err != nil {
					t.Fatal(err)
				}
				// Shared in the child: shared here coexists, exclusive does not.
				child := holdInChild(t, holderImpl.name, dir, "shared", true)
				ok, h := try(t, l, "shared", true)
				if !ok {
					t.Fatal("shared lock refused beside a shared holder")
				}
				mustRelease(t, l, h)
				if ok, _ := try(t, l, "shared", false); ok {
					t.Fatal("exclusive acquired beside a shared holder")
				}
				_ = child.Process.Kill()

				// Exclusive in the child: nothing here; SIGKILL frees it for a waiter.
				child = holdInChild(t, holderImpl.name, dir, "crashed", false)
				for _, shared := range []bool{false, true} {
					if ok, _ := try(t, l, "crashed", shared); ok {
						t.Fatalf("acquired (shared=%v) while another process holds it", shared)
					}
				}
				done := make(chan error, 1)
				go func() {
					_, h, err := l.Acquire("crashed", lockgate.AcquireOptions{Timeout: 10 * time.Second})
					if err == nil {
						err = l.Release(h)
					}
					done <- err
				}()
				time.Sleep(20 * time.Millisecond)
				if err := child.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatalf("waiter after SIGKILL: %v", err)
				}
			})
		}
	})
}

// TestHelperSpecIsParsed guards the child's argument format (a path with spaces would
// break it; t.TempDir has none).
func TestHelperSpecIsParsed(t *testing.T) {
	if strings.ContainsAny(t.TempDir(), " \t\n") {
		t.Skip("temporary directory contains spaces")
	}
}
