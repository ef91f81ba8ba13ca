package main

import (
	"slices"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

func TestNarrowKeepsUpstreamOrder(t *testing.T) {
	got, err := narrow(dnsserver.Directives, plugins)
	if err != nil {
		t.Fatal(err)
	}
	// The order of plugin.cfg: errors and log wrap everything, cache sits before the
	// data plugins, hosts answers before kubernetes, loop last.
	want := []string{"reload", "ready", "health", "errors", "log", "loadbalance", "cache", "hosts", "kubernetes", "loop"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestNarrowRejectsUnknownPlugins(t *testing.T) {
	if _, err := narrow(dnsserver.Directives, []string{"cache", "no-such-plugin"}); err == nil {
		t.Fatal("an unknown plugin was accepted")
	}
}
