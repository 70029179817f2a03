package werfsync

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lockgateBinaries builds lockgate v0.1.1's server (behind werf's routing) and the Go peer
// on lockgate's DistributedLocker from tests/remote/lockgate, as the Rust tests do.
func lockgateBinaries(t *testing.T) (server, peer string) {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "./server", "./peer")
	build.Dir = filepath.Join("..", "..", "tests", "remote", "lockgate")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building lockgate's server and peer in %s: %v\n%s", build.Dir, err, out)
	}
	return filepath.Join(dir, "server"), filepath.Join(dir, "peer")
}

// startServer starts the server on addr (127.0.0.1:0 for any port) and stops it with the test.
func startServer(t *testing.T, bin, addr string) (url string, stop func()) {
	t.Helper()
	cmd := exec.Command(bin, "-addr", addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	t.Cleanup(stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "LISTENING ") {
		t.Fatalf("server said %q, %v", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "LISTENING ")), stop
}

// peerTry is one non-blocking acquire by lockgate's own DistributedLocker (werf's client).
func peerTry(t *testing.T, peer, url, clientID, lock string) bool {
	t.Helper()
	cmd := exec.Command(peer, "-url", url, "-client-id", clientID, "-lock", lock, "-try")
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		return false
	default:
		t.Fatalf("go peer: %v", err)
		return false
	}
}

func TestHTTPSynchronizationExcludesLockgateAndReportsLostLeases(t *testing.T) {
	server, peer := lockgateBinaries(t)
	url, stop := startServer(t, server, "127.0.0.1:0")
	home := t.TempDir()
	os.Unsetenv("WERF_SYNC_CLIENT_ID")

	s, err := OpenAddressClient(url, home, "go-binding")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id, err := s.ClientID(); err != nil || id != "go-binding" {
		t.Fatalf("ClientID = %q, %v", id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	handle, err := s.LockStage(ctx, "p", "d")
	if err != nil {
		t.Fatal(err)
	}
	if peerTry(t, peer, url, "go-binding", "p.d") {
		t.Fatal("lockgate's locker got a lock the binding holds")
	}
	if !peerTry(t, peer, url, "other-client", "p.d") {
		t.Fatal("another client ID was excluded")
	}
	if err := s.Lost(handle); err != nil {
		t.Fatalf("Lost while held: %v", err)
	}
	if err := s.Unlock(handle); err != nil {
		t.Fatal(err)
	}
	if !peerTry(t, peer, url, "go-binding", "p.d") {
		t.Fatal("lockgate's locker did not get the released lock")
	}

	// A restarted server has forgotten the lease: Lost and Unlock say so.
	handle, err = s.LockStage(ctx, "p", "restart")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	startServer(t, server, strings.TrimPrefix(url, "http://"))
	deadline := time.Now().Add(8 * time.Second)
	for s.Lost(handle) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the lost lease was never reported")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Lost(handle); !errors.Is(err, ErrLostLease) || !strings.Contains(err.Error(), "p.restart") {
		t.Fatalf("Lost = %v", err)
	}
	if err := s.Unlock(handle); !errors.Is(err, ErrLostLease) {
		t.Fatalf("Unlock of a lost lease = %v", err)
	}

	// Guards are :local only; a dead server is ErrUnavailable naming it.
	if _, err := s.TryLock("n", LockOptions{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("TryLock over http = %v", err)
	}
	dead, err := OpenAddressClient("http://127.0.0.1:1", home, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if _, err := dead.LockStage(ctx, "p", "d"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("LockStage on a dead server = %v", err)
	}
}
