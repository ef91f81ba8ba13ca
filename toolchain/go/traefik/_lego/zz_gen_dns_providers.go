// Our replacement, in the Traefik build only, for lego's generated registry of ACME DNS-01
// providers (github.com/go-acme/lego/v4/providers/dns/zz_gen_dns_providers.go).
// toolchain/setup-ingress.sh builds Traefik against a copy of the pinned lego module (made at
// setup, under ~/.cache/paif) with this one file swapped in; every other file of lego and
// Traefik is built as released. (`go build -overlay` would be simpler, but the go command
// refuses overlays of files in the module cache.)
//
// Why: that one file imports all of lego's DNS providers and their cloud SDKs, 847 packages
// and 41% of the Go files in Traefik's build, for a feature the local cluster never uses:
// its certificates come from our own CA, no ACME server is ever asked. With this file every
// provider name is unknown, the answer lego gives for a name it does not know. The directory
// starts with "_" so that the go command (./..., go mod tidy) never treats it as a package of
// the wrapper module.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v4/challenge"
)

// NewDNSChallengeProviderByName reports every name as unknown: this build has no DNS-01
// providers.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("unrecognized DNS provider: %s (this Traefik build has no ACME DNS-01 providers)", name)
}
