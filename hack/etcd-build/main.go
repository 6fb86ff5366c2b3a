// Command etcd is etcd's server, built from the Go module proxy: etcd's own
// main module has replace directives and cannot be `go install`ed, so this
// wrapper calls the same entry point the upstream binary does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
