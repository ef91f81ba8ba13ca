// CoreDNS with only the plugins the local cluster's DNS needs (toolchain/setup-node.sh builds
// it; localenv/node.py runs it as the cluster DNS pod). Upstream's main imports
// core/plugin (every plugin, generated from plugin.cfg into core/plugin/zplugin.go); here
// the same registration happens through the blank imports below, and the directive list
// that orders the plugin chain (core/dnsserver/zdirectives.go, generated from the same
// plugin.cfg) is narrowed to these plugins in upstream's order, so a Corefile line naming
// any other plugin is rejected at load instead of failing on a plugin that is not built in.
package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// The plugins imported above. No `forward`: the local cluster DNS never asks upstream.
var plugins = []string{
	"cache", "errors", "health", "hosts", "kubernetes", "loadbalance", "log", "loop", "ready", "reload",
}

// narrow keeps the directives of `wanted` in upstream's execution order.
func narrow(upstream, wanted []string) ([]string, error) {
	var kept []string
	for _, name := range upstream {
		if slices.Contains(wanted, name) {
			kept = append(kept, name)
		}
	}
	if len(kept) != len(wanted) {
		return nil, fmt.Errorf("directives %v: some of %v are not CoreDNS plugins", kept, wanted)
	}
	return kept, nil
}

func main() {
	directives, err := narrow(dnsserver.Directives, plugins)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dnsserver.Directives = directives
	coremain.Run()
}
