// pause is the pod sandbox process of both local nodes (cluster/ and hack/kind): it keeps
// the pod's namespaces alive, reaps any orphan it inherits, and exits at SIGINT or SIGTERM.
// A static binary in a FROM-scratch image, so the first pod on a new node does not wait to
// unpack a Linux distribution.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
