module github.com/werf-sync/werf-sync/bindings/go

go 1.24

require (
	github.com/gofrs/flock v0.8.1
	github.com/google/uuid v1.3.0
	github.com/werf/lockgate v0.1.1
)

require (
	github.com/spaolacci/murmur3 v1.1.0 // indirect
	golang.org/x/crypto v0.7.0 // indirect
	golang.org/x/sys v0.6.0 // indirect
	gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c // indirect
)
