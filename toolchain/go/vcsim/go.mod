// Our vcsim launcher over govmomi's simulator packages (see main.go for why).
module paif.dev/vcsim

go 1.24.13

require github.com/vmware/govmomi v0.53.0

require (
	github.com/google/uuid v1.6.0 // indirect
	golang.org/x/text v0.34.0 // indirect
)
