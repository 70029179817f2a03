// kube-peer is the Go side of werf-sync's kubernetes:// tests: werf's own code path for
// stage locks, lockgate's DistributedLocker over NewKubernetesLocker (annotations of
// ConfigMap werf-<project>), driven from the command line.
//
//	kube-peer -kubeconfig K -namespace NS -project P -lock NAME [-shared] [-nonblocking]
//	    acquires NAME, prints "acquired <uuid>", holds it until stdin closes (or -hold
//	    passes), releases it and prints "released". With -nonblocking prints "busy" and
//	    exits 2 when the lock is held elsewhere.
//	kube-peer ... -counter FILE -iterations N
//	    N times: acquire NAME, check no one else is inside (FILE.inside created with
//	    O_EXCL), increment the number in FILE slowly, release. Exits 4 on a double grant.
//
// A lost lease prints "lost-lease" and exits 3 (werf itself panics there).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/werf/lockgate"
	"github.com/werf/lockgate/pkg/distributed_locker"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig path")
	namespace := flag.String("namespace", "werf-synchronization", "namespace of the ConfigMap")
	project := flag.String("project", "", "werf project: the ConfigMap is werf-<project>")
	lockName := flag.String("lock", "", "lock name (werf: <project>/stage/<digest>)")
	shared := flag.Bool("shared", false, "acquire shared")
	nonBlocking := flag.Bool("nonblocking", false, "fail with \"busy\" instead of waiting")
	hold := flag.Duration("hold", 0, "hold for this long instead of until stdin closes")
	counter := flag.String("counter", "", "counter file for the storm mode")
	iterations := flag.Int("iterations", 1, "storm mode: how many times to take the lock")
	flag.Parse()
	if *project == "" || *lockName == "" {
		fail(1, "-project and -lock are required")
	}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(1, "kubeconfig: %v", err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		fail(1, "client: %v", err)
	}
	configMapName := "werf-" + *project
	if err := getOrCreateConfigMap(client, *namespace, configMapName); err != nil {
		fail(1, "configmap %s/%s: %v", *namespace, configMapName, err)
	}
	locker := distributed_locker.NewKubernetesLocker(client, configMaps, configMapName, *namespace)
	opts := lockgate.AcquireOptions{
		Shared:      *shared,
		NonBlocking: *nonBlocking,
		OnLostLeaseFunc: func(handle lockgate.LockHandle) error {
			fmt.Println("lost-lease", handle.UUID)
			os.Exit(3)
			return nil
		},
	}

	if *counter != "" {
		for i := 0; i < *iterations; i++ {
			handle := acquire(locker, *lockName, opts)
			critical(*counter)
			release(locker, handle)
		}
		fmt.Println("done")
		return
	}

	handle := acquire(locker, *lockName, opts)
	fmt.Println("acquired", handle.UUID)
	if *hold > 0 {
		time.Sleep(*hold)
	} else {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	}
	release(locker, handle)
	fmt.Println("released")
}

func acquire(locker *distributed_locker.DistributedLocker, name string, opts lockgate.AcquireOptions) lockgate.LockHandle {
	ok, handle, err := locker.Acquire(name, opts)
	if err != nil {
		fail(1, "acquire %s: %v", name, err)
	}
	if !ok {
		fmt.Println("busy")
		os.Exit(2)
	}
	return handle
}

func release(locker *distributed_locker.DistributedLocker, handle lockgate.LockHandle) {
	if err := locker.Release(handle); err != nil {
		fail(1, "release %s: %v", handle.LockName, err)
	}
}

// critical is the section the lock protects: a second holder inside it is a double grant.
func critical(counter string) {
	inside := counter + ".inside"
	marker, err := os.OpenFile(inside, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		fail(4, "double grant: %s exists (%v)", inside, err)
	}
	_ = marker.Close()
	text, err := os.ReadFile(counter)
	if err != nil && !os.IsNotExist(err) {
		fail(1, "read %s: %v", counter, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(text)))
	time.Sleep(100 * time.Millisecond)
	if err := os.WriteFile(counter, []byte(strconv.Itoa(n+1)), 0o644); err != nil {
		fail(1, "write %s: %v", counter, err)
	}
	if err := os.Remove(inside); err != nil {
		fail(4, "double grant: %s vanished while held (%v)", inside, err)
	}
}

// getOrCreateConfigMap does what werf's GetOrCreateConfigMapWithNamespaceIfNotExists does:
// GET the ConfigMap; on 404 create the namespace (labels name=<ns>) if missing, then the
// ConfigMap; AlreadyExists is fine at both steps.
func getOrCreateConfigMap(client dynamic.Interface, namespace, name string) error {
	ctx := context.Background()
	_, err := client.Resource(configMaps).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	if _, err := client.Resource(namespaces).Get(ctx, namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		ns := &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]interface{}{"name": namespace, "labels": map[string]interface{}{"name": namespace}},
		}}
		if _, err := client.Resource(namespaces).Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	} else if err != nil {
		return err
	}
	cm := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": name},
	}}
	if _, err := client.Resource(configMaps).Namespace(namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func fail(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kube-peer: "+format+"\n", args...)
	os.Exit(code)
}
