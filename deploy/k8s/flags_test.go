package k8s_test

import (
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/dialtone-voip/dialtone/platform/config"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
	"github.com/dialtone-voip/dialtone/services/console"
	"github.com/dialtone-voip/dialtone/services/inventory"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	rpsclient "github.com/dialtone-voip/dialtone/services/rps-client"
)

// serviceFlagSet is the flag set a service's own main parses: the root
// package's Config.RegisterFlags on the defaults that main starts from, plus
// the few flags the main registers itself. validate runs the Config's
// Validate on whatever the flag set was given (a closure, not a method
// value: Validate has a value receiver, and a method value would copy the
// Config before the flags are set).
type serviceFlagSet struct {
	fs       *flag.FlagSet
	validate func() error
}

// newServiceFlags builds a fresh flag set for the named service, as
// services/<name>/cmd/<name>/main.go does.
func newServiceFlags(name string) (serviceFlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	switch name {
	case "inventory":
		c := new(inventory.Config)
		c.RegisterFlags(fs)
		return serviceFlagSet{fs, func() error { return c.Validate() }}, nil
	case "config-renderer":
		c := new(renderer.Config)
		c.RegisterFlags(fs)
		return serviceFlagSet{fs, func() error { return c.Validate() }}, nil
	case "provision-http":
		c := new(provisionhttp.Config)
		c.RegisterFlags(fs)
		return serviceFlagSet{fs, func() error { return c.Validate() }}, nil
	case "rps-client":
		c := rpsclient.Defaults() // RegisterFlags takes its defaults from c
		c.RegisterFlags(fs)
		return serviceFlagSet{fs, func() error { return c.Validate() }}, nil
	case "console":
		c := new(console.ServiceConfig)
		c.RegisterFlags(fs)
		return serviceFlagSet{fs, func() error { return c.Validate() }}, nil
	case "pnp-listener":
		c := pnplistener.DefaultConfig() // likewise
		c.RegisterFlags(fs)
		// cmd/pnp-listener/main.go registers the log flags inside run(),
		// and a main package cannot be imported: they are repeated here.
		// Keep them in step with that main (a flag the package registers
		// itself wins).
		for _, f := range []struct{ name, def string }{{"log-format", "json"}, {"log-level", "info"}} {
			if fs.Lookup(f.name) == nil {
				fs.String(f.name, f.def, "registered by cmd/pnp-listener")
			}
		}
		return serviceFlagSet{fs, func() error { return c.Validate() }}, nil
	}
	return serviceFlagSet{}, fmt.Errorf("no flag set for service %q", name)
}

func mustServiceFlags(t *testing.T, name string) serviceFlagSet {
	t.Helper()
	sf, err := newServiceFlags(name)
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// configPrefix is the platform/config prefix of a service ("DIALTONE_INVENTORY").
func (s svc) configPrefix() string { return strings.TrimSuffix(s.envPrefix, "_") }

// withFlagPorts fills each service's ports from the defaults of its listen
// address flags, so the manifests are checked against the code rather than
// against a second hand-written table. It runs at package initialisation;
// a service without a flag set, or a default that is not host:port, stops
// the test binary there.
func withFlagPorts(list []svc) []svc {
	for i := range list {
		sf, err := newServiceFlags(list[i].name)
		if err != nil {
			panic(err)
		}
		port := func(flagName string) int32 {
			f := sf.fs.Lookup(flagName)
			if f == nil || f.DefValue == "" {
				return 0 // no such listener, or off by default
			}
			_, p, err := net.SplitHostPort(f.DefValue)
			n, err2 := strconv.ParseUint(p, 10, 16)
			if err != nil || err2 != nil {
				panic(fmt.Sprintf("%s: --%s default %q is not host:port", list[i].name, flagName, f.DefValue))
			}
			return int32(n)
		}
		list[i].grpc = port("grpc-addr")
		list[i].admin = port("admin-addr")
		list[i].http = port("http-addr")
		list[i].https = port("https-addr")
		list[i].sipUDP = port("sip-addr")
	}
	return list
}

// TestFlagPortsAreConventional: the ports derived from the flag defaults are
// those of docs/CONVENTIONS.md ("Ports"), so a changed default is noticed
// here, not first in a cluster.
func TestFlagPortsAreConventional(t *testing.T) {
	want := map[string][5]int32{ // grpc, admin, http, https, sip
		"inventory":       {9090, 9190, 0, 0, 0},
		"config-renderer": {9091, 9191, 0, 0, 0},
		"rps-client":      {9092, 9192, 0, 0, 0},
		"provision-http":  {0, 9193, 8080, 8443, 0},
		"pnp-listener":    {0, 9194, 0, 0, 5060},
		"console":         {0, 9195, 0, 8088, 0},
	}
	for _, s := range services {
		got := [5]int32{s.grpc, s.admin, s.http, s.https, s.sipUDP}
		if got != want[s.name] {
			t.Errorf("%s: flag default ports (grpc, admin, http, https, sip) %v, CONVENTIONS.md says %v", s.name, got, want[s.name])
		}
	}
}

// TestEnvVarsAreServiceFlags: every DIALTONE_* variable a container of a
// Dialtone workload gets (env entries and envFrom ConfigMaps), in base and
// every overlay, is PREFIX_FLAG of a flag that service's main really
// registers (platform/config.EnvName). Variables a main reads directly
// (the *_INVENTORY_TOKEN fallbacks) are not flags and are not accepted:
// tokens reach the pods as files.
func TestEnvVarsAreServiceFlags(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, s := range services {
			w, ok := r.workload(s.kind, s.namespace, s.name)
			if !ok {
				continue // TestEveryServiceIsDeployed
			}
			sf := mustServiceFlags(t, s.name)
			known := map[string]bool{}
			sf.fs.VisitAll(func(f *flag.Flag) { known[config.EnvName(s.configPrefix(), f.Name)] = true })
			for _, c := range allContainers(&w.template.Spec) {
				env := containerEnv(t, r, s.namespace, c)
				for _, k := range sortedKeys(env) {
					if strings.HasPrefix(k, "DIALTONE_") && !known[k] {
						t.Errorf("%s: %s container %s: %s is not a flag of %s (flags: %s)",
							r.dir, w.id(), c.Name, k, s.name, strings.Join(sortedKeys(known), ", "))
					}
				}
			}
		}
	}
}

// downwardSamples stands in for the downward API values the kubelet fills
// in, so that the configuration can be parsed and validated as the pod
// would see it.
var downwardSamples = map[string]string{
	"status.hostIP": "198.18.0.10",
	"spec.nodeName": "lan-node-1",
}

// TestServiceConfigsValidate: each service's rendered environment, in base
// and every overlay, parses into its flags (platform/config.ApplyEnv, as the
// main does) and passes the service's Config.Validate. Directories
// (*_DIR) are replaced by an empty temporary directory: config-renderer
// checks that its templates directory exists, and TestReferencesResolve
// already checks that they are mounted.
func TestServiceConfigsValidate(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, s := range services {
			w, ok := r.workload(s.kind, s.namespace, s.name)
			if !ok {
				continue
			}
			t.Run(r.dir+"/"+s.name, func(t *testing.T) {
				c := w.template.Spec.Containers[0]
				env := podEnv(t, r, s.namespace, c)
				dir := t.TempDir()
				for k := range env {
					if strings.HasPrefix(k, "DIALTONE_") && strings.HasSuffix(k, "_DIR") {
						env[k] = dir
					}
				}
				sf := mustServiceFlags(t, s.name)
				if err := sf.fs.Parse(nil); err != nil {
					t.Fatal(err)
				}
				if err := config.ApplyEnv(sf.fs, s.configPrefix(), func(k string) string { return env[k] }); err != nil {
					t.Fatalf("environment does not parse: %v", err)
				}
				if err := sf.validate(); err != nil {
					t.Errorf("configuration does not validate: %v", err)
				}
			})
		}
	}
}

// podEnv is containerEnv with the downward API references (fieldRef)
// replaced by sample values, also where other variables refer to them.
func podEnv(t *testing.T, r rendering, ns string, c corev1.Container) map[string]string {
	t.Helper()
	env := containerEnv(t, r, ns, c)
	var repl []string
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil {
			continue
		}
		v, ok := downwardSamples[e.ValueFrom.FieldRef.FieldPath]
		if !ok {
			t.Fatalf("container %s: %s uses fieldRef %s; add a sample value to downwardSamples",
				c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
		}
		repl = append(repl, "$("+e.Name+")", v)
	}
	rp := strings.NewReplacer(repl...)
	for k, v := range env {
		env[k] = rp.Replace(v)
	}
	return env
}

// TestServiceFlagSetsBuild guards the test's own table: every deployed
// service has a flag set, and it carries the flags the manifests rely on.
func TestServiceFlagSetsBuild(t *testing.T) {
	for _, s := range services {
		sf := mustServiceFlags(t, s.name)
		for _, f := range []string{"admin-addr", "log-format", "log-level"} {
			if sf.fs.Lookup(f) == nil {
				t.Errorf("%s: no --%s", s.name, f)
			}
		}
		if s.grpc != 0 && sf.fs.Lookup("tokens-file") == nil {
			t.Errorf("%s: serves gRPC but has no --tokens-file", s.name)
		}
	}
}
