package k8s_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// This file evaluates the rendered NetworkPolicies the way the API defines
// them (a connection needs the source's egress and the destination's
// ingress; a pod no policy selects for a direction is open in it; policies
// add up) and checks who can reach what against the intent in README.md.

// peer is a connection end: a pod (namespace, labels), or an address
// outside pod networking (a phone, a host-network pod's node).
type peer struct {
	name      string
	ns        string
	nsLabels  map[string]string
	labels    map[string]string
	ip        netip.Addr // set for address peers
	ports     []corev1.ContainerPort
	dialtone  bool // a pod of this rendering in namespace dialtone
	synthetic bool
}

func (p peer) isAddr() bool { return p.ip.IsValid() }

// lanNodeIP is, per overlay, an address inside the overlay's
// allow-lan-nodes CIDR: where pnp-listener's connections come from.
var lanNodeIP = map[string]string{
	"dev":          "10.1.2.3",
	"prod":         "10.20.30.7",
	"prod-ingress": "10.20.30.7",
}

type netEnv struct {
	t        *testing.T
	policies []*networkingv1.NetworkPolicy
	pods     []peer // pods rendered in the overlay (not host network)
	named    map[string]peer
}

func newNetEnv(t *testing.T, r rendering) *netEnv {
	e := &netEnv{t: t, named: map[string]peer{}}
	for _, o := range r.all("NetworkPolicy") {
		e.policies = append(e.policies, o.Value.(*networkingv1.NetworkPolicy))
	}
	for _, w := range r.workloads() {
		if w.template.Spec.HostNetwork {
			continue
		}
		nsl, ok := r.namespaceLabels(w.obj.Namespace)
		if !ok {
			t.Fatalf("%s: namespace %s not rendered", r.dir, w.obj.Namespace)
		}
		var ports []corev1.ContainerPort
		for _, c := range w.template.Spec.Containers {
			ports = append(ports, c.Ports...)
		}
		p := peer{name: w.obj.Name, ns: w.obj.Namespace, nsLabels: nsl, labels: w.template.Labels, ports: ports, dialtone: w.obj.Namespace == "dialtone"}
		e.pods = append(e.pods, p)
		e.named[p.name] = p
	}
	pod := func(name, ns string, nsLabels, labels map[string]string, ports ...corev1.ContainerPort) {
		l := map[string]string{"kubernetes.io/metadata.name": ns}
		for k, v := range nsLabels {
			l[k] = v
		}
		e.named[name] = peer{name: name, ns: ns, nsLabels: l, labels: labels, ports: ports, synthetic: true}
	}
	pod("pbx", "pbx", map[string]string{"dialtone.io/pbx": "true"}, map[string]string{"app": "pbx"})
	pod("other", "other", nil, map[string]string{"app": "other"})
	pod("monitoring", "monitoring", map[string]string{"dialtone.io/monitoring": "true"}, map[string]string{"app": "prometheus"})
	pod("ingress-controller", "ingress-nginx", map[string]string{"dialtone.io/ingress": "true"}, map[string]string{"app": "ingress"})
	pod("kube-dns", "kube-system", nil, map[string]string{"k8s-app": "kube-dns"},
		corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
		corev1.ContainerPort{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP})
	addr := func(name, ip string) {
		e.named[name] = peer{name: name, ip: netip.MustParseAddr(ip), synthetic: true}
	}
	addr("phone", "203.0.113.10")   // a phone on the internet or behind an office NAT
	addr("vendor", "198.51.100.20") // a vendor's redirect API, or an external NATS/Redis
	addr("private", "10.99.0.5")    // something on the corporate network
	ip, ok := lanNodeIP[filepath.Base(r.dir)]
	if !ok {
		t.Fatalf("%s: add the overlay to lanNodeIP", r.dir)
	}
	addr("lan-node", ip) // pnp-listener, on a LAN-attached node's host network
	return e
}

func (e *netEnv) peer(name string) peer {
	p, ok := e.named[name]
	if !ok {
		e.t.Fatalf("no peer %q", name)
	}
	return p
}

func (e *netEnv) selector(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		e.t.Fatalf("bad selector: %v", err)
	}
	return s.Matches(labels.Set(l))
}

// peerMatches: does a rule's peer (from/to entry) of a policy in namespace ns
// cover the other end?
func (e *netEnv) peerMatches(p networkingv1.NetworkPolicyPeer, ns string, other peer) bool {
	if p.IPBlock != nil {
		if !other.isAddr() {
			return false // pod IPs are not what the ipBlocks here describe
		}
		in := func(cidr string) bool {
			pfx, err := netip.ParsePrefix(cidr)
			if err != nil {
				e.t.Fatalf("bad CIDR %q: %v", cidr, err)
			}
			return pfx.Contains(other.ip)
		}
		if !in(p.IPBlock.CIDR) {
			return false
		}
		for _, ex := range p.IPBlock.Except {
			if in(ex) {
				return false
			}
		}
		return true
	}
	if other.isAddr() {
		return false
	}
	if p.NamespaceSelector == nil {
		if other.ns != ns {
			return false
		}
	} else if !e.selector(p.NamespaceSelector, other.nsLabels) {
		return false
	}
	return p.PodSelector == nil || e.selector(p.PodSelector, other.labels)
}

func portMatches(ports []networkingv1.NetworkPolicyPort, dst peer, port int32, protocol corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, np := range ports {
		if proto(ptrOr(np.Protocol)) != protocol {
			continue
		}
		if np.Port == nil {
			return true
		}
		if np.Port.Type == intstr.String { // named: the destination pod's port of that name
			for _, cp := range dst.ports {
				if cp.Name == np.Port.StrVal && cp.ContainerPort == port && proto(cp.Protocol) == protocol {
					return true
				}
			}
			continue
		}
		lo, hi := np.Port.IntVal, np.Port.IntVal
		if np.EndPort != nil {
			hi = *np.EndPort
		}
		if port >= lo && port <= hi {
			return true
		}
	}
	return false
}

func ptrOr(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return ""
	}
	return *p
}

func hasType(np *networkingv1.NetworkPolicy, ty networkingv1.PolicyType) bool {
	for _, x := range np.Spec.PolicyTypes {
		if x == ty {
			return true
		}
	}
	return false
}

// allowed reports whether src may open a connection to dst:port/protocol.
func (e *netEnv) allowed(src, dst peer, port int32, protocol corev1.Protocol) bool {
	return e.direction(src, dst, dst, port, protocol, networkingv1.PolicyTypeEgress) &&
		e.direction(dst, src, dst, port, protocol, networkingv1.PolicyTypeIngress)
}

// direction evaluates the policies of subject (the pod whose policies apply)
// toward other; dst is the connection's destination (for named ports).
func (e *netEnv) direction(subject, other, dst peer, port int32, protocol corev1.Protocol, ty networkingv1.PolicyType) bool {
	if subject.isAddr() {
		return true // not a pod: no NetworkPolicy applies
	}
	selected := false
	for _, np := range e.policies {
		if np.Namespace != subject.ns || !hasType(np, ty) || !e.selector(&np.Spec.PodSelector, subject.labels) {
			continue
		}
		selected = true
		if ty == networkingv1.PolicyTypeIngress {
			for _, rule := range np.Spec.Ingress {
				if e.anyPeer(rule.From, np.Namespace, other) && portMatches(rule.Ports, dst, port, protocol) {
					return true
				}
			}
		} else {
			for _, rule := range np.Spec.Egress {
				if e.anyPeer(rule.To, np.Namespace, other) && portMatches(rule.Ports, dst, port, protocol) {
					return true
				}
			}
		}
	}
	return !selected
}

func (e *netEnv) anyPeer(peers []networkingv1.NetworkPolicyPeer, ns string, other peer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if e.peerMatches(p, ns, other) {
			return true
		}
	}
	return false
}

// TestNetworkPolicyShape: both namespaces deny by default, every policy
// names its types, and every policy selects a pod.
func TestNetworkPolicyShape(t *testing.T) {
	for _, r := range overlays(t) {
		for _, ns := range r.all("Namespace") {
			found := false
			for _, o := range r.all("NetworkPolicy") {
				np := o.Value.(*networkingv1.NetworkPolicy)
				if np.Namespace == ns.Name && len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
					hasType(np, networkingv1.PolicyTypeIngress) && hasType(np, networkingv1.PolicyTypeEgress) &&
					len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: namespace %s has no default-deny NetworkPolicy", r.dir, ns.Name)
			}
		}
		for _, o := range r.all("NetworkPolicy") {
			np := o.Value.(*networkingv1.NetworkPolicy)
			if len(np.Spec.PolicyTypes) == 0 {
				t.Errorf("%s: %s must list policyTypes explicitly", r.dir, o.ID())
			}
			selects := false
			for _, w := range r.workloads() {
				if w.obj.Namespace == np.Namespace {
					s, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
					if s.Matches(labels.Set(w.template.Labels)) {
						selects = true
					}
				}
			}
			if !selects {
				t.Errorf("%s: %s selects no pod", r.dir, o.ID())
			}
		}
	}
}

// target is a destination port of a rendered pod.
type target struct {
	pod   peer
	port  int32
	proto corev1.Protocol
}

func (x target) String() string { return fmt.Sprintf("%s:%d/%s", x.pod.name, x.port, x.proto) }

// TestNetworkPolicyReachability checks every (source, rendered pod port)
// pair against the intended matrix, and egress to addresses outside the
// cluster.
func TestNetworkPolicyReachability(t *testing.T) {
	for _, r := range overlays(t) {
		t.Run(filepath.Base(r.dir), func(t *testing.T) {
			e := newNetEnv(t, r)
			ingressVariant := len(r.all("Ingress")) > 0
			sources := append([]peer{}, e.pods...)
			for _, n := range []string{"pbx", "other", "monitoring", "ingress-controller", "phone", "lan-node"} {
				sources = append(sources, e.peer(n))
			}
			var targets []target
			for _, p := range e.pods {
				for _, cp := range p.ports {
					targets = append(targets, target{p, cp.ContainerPort, proto(cp.Protocol)})
				}
			}
			dns := e.peer("kube-dns")
			targets = append(targets, target{dns, 53, corev1.ProtocolUDP}, target{dns, 53, corev1.ProtocolTCP})

			for _, src := range sources {
				for _, dst := range targets {
					if src.name == dst.pod.name {
						continue
					}
					want := intendedIn(src, dst, ingressVariant)
					if got := e.allowed(src, dst.pod, dst.port, dst.proto); got != want {
						t.Errorf("%s -> %s: allowed=%v, intended %v", src.name, dst, got, want)
					}
				}
				if src.isAddr() || src.synthetic {
					continue
				}
				for _, ext := range []string{"phone", "vendor", "private"} {
					for _, port := range []int32{80, 443, 4222, 6379, 26379, 5060} {
						dst := e.peer(ext)
						want := intendedOut(src.name, dst.name, port)
						if got := e.allowed(src, dst, port, corev1.ProtocolTCP); got != want {
							t.Errorf("%s -> %s(%s):%d: allowed=%v, intended %v", src.name, ext, dst.ip, port, got, want)
						}
					}
				}
			}
		})
	}
}

// intendedIn is README.md's "Network policies" section as a function:
// may src reach a rendered pod's port (or the cluster DNS)?
func intendedIn(src peer, dst target, ingressVariant bool) bool {
	if dst.pod.name == "kube-dns" {
		return true // every pod may resolve names; others are not governed here
	}
	// Pods in namespace dialtone only open what they are meant to call.
	callerOK := func(allowed ...string) bool {
		for _, a := range allowed {
			if src.name == a {
				return true
			}
		}
		return false
	}
	switch fmt.Sprintf("%s:%d", dst.pod.name, dst.port) {
	case "inventory:9090":
		return callerOK("pbx", "provision-http", "rps-client", "console", "lan-node")
	case "config-renderer:9091":
		return callerOK("provision-http", "inventory", "console") // inventory: ResolveModel; console: catalog, template set
	case "rps-client:9092":
		return callerOK("pbx", "console")
	case "console:8088":
		return !src.dialtone // administrators' browsers, from wherever the LoadBalancer or Ingress admits them
	case "provision-http:8080":
		if ingressVariant {
			return callerOK("ingress-controller")
		}
		return !src.dialtone // phones and anyone outside; dialtone's own pods have no reason to
	case "provision-http:8443":
		if ingressVariant {
			return false
		}
		return !src.dialtone
	case "nats:4222":
		return callerOK("inventory", "provision-http", "rps-client", "lan-node")
	case "redis:6379":
		return callerOK("inventory", "rps-client")
	case "inventory:9190", "config-renderer:9191", "rps-client:9192", "provision-http:9193", "console:9195", "nats:8222":
		return callerOK("monitoring")
	}
	return false
}

// intendedOut: egress from a dialtone pod to an address outside the
// cluster. NATS and Redis are matched by port because prod runs them
// outside the cluster at addresses the manifests do not know.
func intendedOut(src, dst string, port int32) bool {
	switch src {
	case "inventory":
		return port == 4222 || port == 6379 || port == 26379
	case "provision-http":
		return port == 4222
	case "rps-client":
		return port == 4222 || port == 6379 || port == 26379 || (port == 443 && dst != "private")
	}
	return false
}

func TestPeerEvaluatorSanity(t *testing.T) {
	// A guard on the evaluator itself: an ipBlock with an exception.
	e := &netEnv{t: t}
	p := networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}}}
	if !e.peerMatches(p, "x", peer{ip: netip.MustParseAddr("203.0.113.1")}) {
		t.Error("public address should match 0.0.0.0/0")
	}
	if e.peerMatches(p, "x", peer{ip: netip.MustParseAddr("10.1.1.1")}) {
		t.Error("10.1.1.1 is excepted")
	}
	if e.peerMatches(p, "x", peer{ns: "x", labels: map[string]string{}}) {
		t.Error("a pod must not match an ipBlock")
	}
}
