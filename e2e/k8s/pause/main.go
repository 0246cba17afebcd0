// pause is the pod sandbox's process for make test-k8s: nothing can be
// pulled here, so the harness packs this into nfsgw.local/pause with
// deploy/image/mkimage. It sleeps until told to stop and reaps nothing
// (the pods' containers are not in its PID namespace).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
