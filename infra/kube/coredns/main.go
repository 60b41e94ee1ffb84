// CoreDNS, the cluster's DNS (infra/kube/addons/coredns.yaml), built by infra/kube/build.sh.
//
// This is CoreDNS's own main (coredns.go: coremain.Run) with only the plugins the cluster's
// Corefile uses linked in, the way CoreDNS documents for custom builds. The stock binary
// links every plugin, including the cloud DNS back ends (Route 53, Azure, Cloud DNS), whose
// SDKs would double the build time for code this cluster never runs. The plugin order of a
// server block still comes from CoreDNS's own directive list (core/dnsserver).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
