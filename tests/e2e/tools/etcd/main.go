// Wrapper that builds the upstream etcd server from go.etcd.io/etcd/server/v3.
// Mirrors server/main.go at the pinned tag (see ../versions.env).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
