// Package cluster runs the suite on one machine the way a Kubernetes
// deployment does, as separate processes: a 3-node NATS JetStream cluster
// (streams with 3 replicas), Redis primary + replica watched by 3
// Sentinels, and the services built from their own mains — 2 × inventory,
// 2 × config-renderer, 2 × provision-http, 2 × rps-client and one
// pnp-listener in a network namespace on a phone LAN. A TCP front per
// replicated service plays the part of a Kubernetes Service (connections
// go to a live replica). Ports, tokens, data and logs live under one
// folder.
//
// cmd/dialtone-cluster drives it (up, down, status); the chaos test under
// cmd/e2e uses it directly to kill and restart members during a boot storm.
package cluster

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
)

// Names of the LAN the pnp-listener and the phones share: the bridge in the
// host namespace holds HostLANAddr, which every service listens on, so
// that the namespaces reach NATS and the fronts.
const (
	Bridge      = "dtc-br0"
	PBXNetns    = "dtc-pbx"
	PhoneNetns  = "dtc-phones"
	HostLANAddr = "198.18.77.1"
	PBXAddr     = "198.18.77.2"
	PhoneAddr   = "198.18.77.3"
	lanBits     = "24"
	// SentinelMaster is the name the Sentinels monitor the primary under.
	SentinelMaster = "dialtone"
)

// Layout is where everything of one cluster lives: Dir and the ports from
// BasePort up (BasePort … BasePort+199).
type Layout struct {
	Dir      string
	BasePort int
	// Host is the address every member listens on: HostLANAddr with the
	// phone LAN, else 127.0.0.1.
	Host string
	// LAN: put pnp-listener in PBXNetns on the phone LAN (needs root).
	LAN bool
}

func (l Layout) port(off int) int    { return l.BasePort + off }
func (l Layout) addr(off int) string { return net.JoinHostPort(l.Host, strconv.Itoa(l.port(off))) }
func (l Layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.Dir}, elem...)...)
}

// Port offsets.
const (
	offInventoryFront = 1
	offRendererFront  = 2
	offEdgeFront      = 3
	offRPSFront       = 4
	offNATS           = 10 // +i client, +10+i route, +20+i monitor
	offRedis          = 40 // primary; +1 replica
	offSentinel       = 50 // +i
	offInventory      = 100
	offRenderer       = 120
	offEdge           = 140
	offRPS            = 160
	offPNPAdmin       = 180
	offFakes          = 190
	adminOff          = 10 // a replica's admin port is its port + 10
)

// InventoryAddr is the inventory front (gRPC).
func (l Layout) InventoryAddr() string { return l.addr(offInventoryFront) }

// RendererAddr is the config-renderer front (gRPC).
func (l Layout) RendererAddr() string { return l.addr(offRendererFront) }

// RPSAddr is the rps-client front (gRPC).
func (l Layout) RPSAddr() string { return l.addr(offRPSFront) }

// EdgeURL is the provisioning edge's front, as phones reach it.
func (l Layout) EdgeURL() string { return "http://" + l.addr(offEdgeFront) }

// NATSURLs are the cluster's client URLs, comma-separated.
func (l Layout) NATSURLs() string {
	s := ""
	for i := range 3 {
		if i > 0 {
			s += ","
		}
		s += "nats://" + l.addr(offNATS+i)
	}
	return s
}

// NATSMonitor is node i's monitoring address.
func (l Layout) NATSMonitor(i int) string { return l.addr(offNATS + 20 + i) }

// SentinelAddrs are the Sentinels, comma-separated.
func (l Layout) SentinelAddrs() string {
	s := ""
	for i := range 3 {
		if i > 0 {
			s += ","
		}
		s += l.addr(offSentinel + i)
	}
	return s
}

// RedisAddrs are the two data nodes, redis-a (first primary) and redis-b.
func (l Layout) RedisAddrs() []string { return []string{l.addr(offRedis), l.addr(offRedis + 1)} }

// SIPAddr is where the pnp-listener receives SUBSCRIBEs.
func (l Layout) SIPAddr() string {
	if l.LAN {
		return PBXAddr + ":5060"
	}
	return l.addr(offPNPAdmin + 1)
}

// Admin is the admin address (/metrics, /readyz) of replica i (from 0)
// of a replicated service: inventory, config-renderer, provision-http or
// rps-client ("" for another).
func (l Layout) Admin(service string, i int) string {
	off, ok := map[string]int{"inventory": offInventory, "config-renderer": offRenderer, "provision-http": offEdge, "rps-client": offRPS}[service]
	if !ok {
		return ""
	}
	return l.addr(off + adminOff + i)
}

// PNPAdminAddr is the pnp-listener's admin address (/metrics): in the PBX
// namespace with the LAN.
func (l Layout) PNPAdminAddr() string {
	if l.LAN {
		return net.JoinHostPort(PBXAddr, strconv.Itoa(l.port(offPNPAdmin)))
	}
	return l.addr(offPNPAdmin)
}

// AdminTokenFile holds the admin's bearer token (dialtonectl --token-file).
func (l Layout) AdminTokenFile() string { return l.path("tokens", "admin.token") }

// FakesAddr is the vendor fakes' HTTP address.
func (l Layout) FakesAddr() string { return l.addr(offFakes) }

func (l Layout) String() string {
	return fmt.Sprintf("%s (ports %d-%d on %s)", l.Dir, l.BasePort, l.BasePort+199, l.Host)
}
