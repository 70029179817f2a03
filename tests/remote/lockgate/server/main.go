// Command server is werf's synchronization server as the tests run it: werf's routing
// (`/health`, `/new-client-id`, `/<clientID>/locker/…`, written from the spec, §2) around
// lockgate v0.1.1's own HTTP handler, backend and in-memory store, one per client ID, as
// `werf synchronization --local` does. Only the routing is ours; the lock logic is lockgate's.
//
// It listens on -addr (default 127.0.0.1:0, an ephemeral port) and prints one line,
// "LISTENING http://HOST:PORT", once it accepts connections.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/werf/lockgate/pkg/distributed_locker"
	"github.com/werf/lockgate/pkg/distributed_locker/optimistic_locking_store"
)

type server struct {
	mux     sync.Mutex
	lockers map[string]http.Handler
}

// locker is the client's lock namespace, created the first time the ID is seen (werf's
// factory: a fresh in-memory store per client ID).
func (s *server) locker(clientID string) http.Handler {
	s.mux.Lock()
	defer s.mux.Unlock()
	if h, ok := s.lockers[clientID]; ok {
		return h
	}
	store := optimistic_locking_store.NewInMemoryStore()
	backend := distributed_locker.NewOptimisticLockingStorageBasedBackend(store)
	h := http.StripPrefix("/"+clientID+"/locker", distributed_locker.NewHttpBackendHandler(backend))
	s.lockers[clientID] = h
	return h
}

func reply(w http.ResponseWriter, v interface{}) {
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health":
		var req struct {
			Echo string `json:"echo"`
		}
		if r.Method == http.MethodPost {
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, fmt.Sprintf("unable to unmarshal request json: %s", err), http.StatusBadRequest)
				return
			}
		}
		reply(w, map[string]string{"err": "", "echo": req.Echo, "status": "OK"})
	case r.URL.Path == "/new-client-id":
		reply(w, map[string]string{"err": "", "clientID": uuid.New().String()})
	default:
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
		if len(parts) == 3 && parts[0] != "" && parts[1] == "locker" {
			s.locker(parts[0]).ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LISTENING http://%s\n", ln.Addr())
	os.Stdout.Sync()
	log.Fatal(http.Serve(ln, &server{lockers: map[string]http.Handler{}}))
}
