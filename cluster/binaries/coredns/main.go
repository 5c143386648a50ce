// CoreDNS with only the plugins kubeadm's Corefile uses (plus log and hosts, for
// debugging and local overrides): a much smaller, faster build than CoreDNS's full plugin
// set. Directive order stays CoreDNS's own (core/dnsserver). The local cluster's node runs
// it at the version go.mod pins, which is the one kubeadm names for this release;
// hack/kind/build.sh builds it at whatever version `kubeadm config images list` names.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
