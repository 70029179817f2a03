module github.com/werf/werf-sync/benches/go-peers

go 1.26.0

require (
	github.com/gofrs/flock v0.13.2
	github.com/werf/lockgate v0.2.0
)

require (
	github.com/google/uuid v1.3.0 // indirect
	github.com/spaolacci/murmur3 v1.1.0 // indirect
	golang.org/x/crypto v0.7.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
