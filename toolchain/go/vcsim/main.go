// Command vcsim starts VMware's vCenter simulator (govmomi's simulator packages) on a
// chosen address.
//
// Why our own launcher: govmomi's `vcsim` command is a separate Go module
// (github.com/vmware/govmomi/vcsim) that the Go module proxy reachable here does not
// serve (404), while the simulator itself lives in the main govmomi module, which it does.
// This launcher keeps the upstream flag names for the subset we use, and adds
// -vgpu-profiles so tests can model hosts that advertise NVIDIA vGPU profiles.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"

	// Optional endpoints: vAPI sessions (/rest, /api), content libraries, namespaces and
	// VM classes, storage policies (PBM), SSO look-up.
	_ "github.com/vmware/govmomi/lookup/simulator"
	_ "github.com/vmware/govmomi/pbm/simulator"
	_ "github.com/vmware/govmomi/sts/simulator"
	_ "github.com/vmware/govmomi/vapi/cluster/simulator"
	_ "github.com/vmware/govmomi/vapi/namespace/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
)

func main() {
	model := simulator.VPX()
	flag.IntVar(&model.Cluster, "cluster", model.Cluster, "Number of clusters")
	flag.IntVar(&model.ClusterHost, "host", model.ClusterHost, "Number of hosts per cluster")
	listen := flag.String("l", "127.0.0.1:8989", "Listen address")
	useTLS := flag.Bool("tls", true, "Serve HTTPS with a self-signed certificate")
	user := flag.String("username", "", "Login username (any non-empty one when unset)")
	// The password comes from the environment, never the command line (visible in ps) or
	// the log: VCSIM_PASSWORD.
	pass := os.Getenv("VCSIM_PASSWORD")
	vgpu := flag.String("vgpu-profiles", "", "Comma-separated vGPU profiles every host advertises")
	flag.Parse()

	if *vgpu != "" {
		esx.HostConfigInfo.SharedPassthruGpuTypes = strings.Split(*vgpu, ",")
	}
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	u := &url.URL{Host: *listen}
	if *user != "" {
		u.User = url.UserPassword(*user, pass)
	}
	model.Service.RegisterEndpoints = true
	model.Service.Listen = u
	if *useTLS {
		model.Service.TLS = new(tls.Config)
	}
	server := model.Service.NewServer()
	// GOVC_URL with the user but without the password (set GOVC_PASSWORD yourself).
	shown := *server.URL
	if shown.User != nil {
		shown.User = url.User(shown.User.Username())
	}
	fmt.Printf("export GOVC_URL=%s GOVC_SIM_PID=%d\n", shown.String(), os.Getpid())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	server.Close()
	model.Remove()
}
