module github.com/werf-sync/werf-sync/bindings/go

go 1.25

require (
	github.com/gofrs/flock v0.13.0
	github.com/google/uuid v1.3.0
	github.com/werf/lockgate v0.2.0
)

require (
	github.com/spaolacci/murmur3 v1.1.0 // indirect
	golang.org/x/crypto v0.7.0 // indirect
	golang.org/x/sys v0.37.0 // indirect
)
