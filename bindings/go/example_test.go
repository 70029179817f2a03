package werfsync_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	werfsync "github.com/werf-sync/werf-sync/bindings/go"
)

func Example() {
	home, _ := os.MkdirTemp("", "werf-home")
	defer os.RemoveAll(home)

	s, err := werfsync.Open(home) // "" would mean $WERF_HOME, else ~/.werf
	if err != nil {
		panic(err)
	}
	defer s.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lock, err := s.Lock(ctx, "myproject.0123abcd", werfsync.LockOptions{
		OnWait: func(name string) { fmt.Printf("Waiting for locked %q\n", name) },
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("locked", lock.Name())
	if err := lock.Unlock(); err != nil {
		panic(err)
	}
	// Output: locked myproject.0123abcd
}

func ExampleSync_TryLock() {
	home, _ := os.MkdirTemp("", "werf-home")
	defer os.RemoveAll(home)
	s, _ := werfsync.Open(home)
	defer s.Close()

	first, _ := s.TryLock("deploy", werfsync.LockOptions{})
	_, err := s.TryLock("deploy", werfsync.LockOptions{})
	fmt.Println(errors.Is(err, werfsync.ErrWouldBlock))
	_ = first.Unlock()
	// Output: true
}

func ExampleSync_LockStage() {
	home, _ := os.MkdirTemp("", "werf-home")
	defer os.RemoveAll(home)
	s, _ := werfsync.Open(home)
	defer s.Close()

	handle, err := s.LockStage(context.Background(), "myproject", "0123abcd")
	if err != nil {
		panic(err)
	}
	fmt.Println(handle.LockName)
	_ = s.Unlock(handle)
	// Output: myproject.0123abcd
}

func ExampleSync_StoreStagesByDigest() {
	home, _ := os.MkdirTemp("", "werf-home")
	defer os.RemoveAll(home)
	s, _ := werfsync.Open(home)
	defer s.Close()

	digest := "0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	if _, found, _ := s.GetStagesByDigest("myproject", digest); !found {
		_ = s.StoreStagesByDigest("myproject", digest, []werfsync.StageID{{Digest: digest, UniqueID: 1647350000123}})
	}
	stages, found, _ := s.GetStagesByDigest("myproject", digest)
	fmt.Println(found, stages[0].UniqueID)
	// Output: true 1647350000123
}

func ExampleParseAddress() {
	a, err := werfsync.ParseAddress("kubernetes://werf-sync:prod@/etc/kubeconfig")
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Mode == werfsync.ModeKubernetes, a.Namespace, a.Context, a.KubeconfigPath)
	// Output: true werf-sync prod /etc/kubeconfig
}
