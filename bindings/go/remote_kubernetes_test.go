package werfsync

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// kubePeerTry is one non-blocking acquire by lockgate's own Kubernetes locker (werf's code
// path, tests/remote/kube-peer), released at once: whether it was granted.
func kubePeerTry(t *testing.T, peer, kubeconfig, project, lock string) bool {
	t.Helper()
	cmd := exec.Command(peer, "-kubeconfig", kubeconfig, "-project", project, "-lock", lock, "-nonblocking")
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == 2:
		return false
	default:
		t.Fatalf("kube-peer: %v", err)
		return false
	}
}

// Needs the cluster and the Go peer of scripts/test-kubernetes, which also builds the
// library with its kubernetes feature.
func TestKubernetesSynchronizationExcludesLockgate(t *testing.T) {
	kubeconfig, peer := os.Getenv("WERF_SYNC_TEST_KUBECONFIG"), os.Getenv("WERF_SYNC_TEST_KUBE_PEER")
	if kubeconfig == "" || peer == "" {
		if os.Getenv("WERF_SYNC_TEST_KUBE_REQUIRED") != "" {
			t.Fatal("the cluster's variables are missing, and WERF_SYNC_TEST_KUBE_REQUIRED says this run must not skip")
		}
		t.Skip("needs a real kube-apiserver and the Go peer: run scripts/test-kubernetes")
	}
	s, err := OpenAddress("kubernetes://werf-synchronization@"+kubeconfig, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	handle, err := s.LockStage(ctx, "gobind", "d1")
	if err != nil {
		t.Fatal(err)
	}
	if handle.LockName != "gobind/stage/d1" {
		t.Fatalf("werf's kubernetes stage lock name, got %q", handle.LockName)
	}
	if kubePeerTry(t, peer, kubeconfig, "gobind", "gobind/stage/d1") {
		t.Fatal("lockgate's locker got a lock the binding holds")
	}
	if err := s.Unlock(handle); err != nil {
		t.Fatal(err)
	}
	if !kubePeerTry(t, peer, kubeconfig, "gobind", "gobind/stage/d1") {
		t.Fatal("lockgate's locker did not get the released lock")
	}
}
