package k8s_test

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/dialtone-voip/dialtone/deploy/k8s"
)

// registry is where every Dialtone image lives; deploy/images.sh pushes there.
const registry = "ghcr.io/dialtone-voip"

// svc is what the manifests must agree on with each service. The ports are
// not written here: withFlagPorts (flags_test.go) takes them from the
// defaults of the services' listen-address flags.
type svc struct {
	name      string
	kind      string // Deployment or DaemonSet
	namespace string
	envPrefix string
	grpc      int32 // 0: no gRPC server
	admin     int32
	http      int32
	https     int32
	sipUDP    int32
}

var services = withFlagPorts([]svc{
	{name: "inventory", kind: "Deployment", namespace: "dialtone", envPrefix: "DIALTONE_INVENTORY_"},
	{name: "config-renderer", kind: "Deployment", namespace: "dialtone", envPrefix: "DIALTONE_CONFIG_RENDERER_"},
	{name: "rps-client", kind: "Deployment", namespace: "dialtone", envPrefix: "DIALTONE_RPS_CLIENT_"},
	{name: "provision-http", kind: "Deployment", namespace: "dialtone", envPrefix: "DIALTONE_PROVISION_HTTP_"},
	{name: "pnp-listener", kind: "DaemonSet", namespace: "dialtone-pnp", envPrefix: "DIALTONE_PNP_LISTENER_"},
	{name: "console", kind: "Deployment", namespace: "dialtone", envPrefix: "DIALTONE_CONSOLE_"},
})

// declaredPorts is the set of container ports (name -> port/protocol) a
// service's container must declare, derived from the table above.
func (s svc) declaredPorts() map[string]corev1.ContainerPort {
	m := map[string]corev1.ContainerPort{}
	add := func(name string, p int32, proto corev1.Protocol) {
		if p != 0 {
			m[name] = corev1.ContainerPort{Name: name, ContainerPort: p, Protocol: proto}
		}
	}
	add("grpc", s.grpc, corev1.ProtocolTCP)
	add("admin", s.admin, corev1.ProtocolTCP)
	add("http", s.http, corev1.ProtocolTCP)
	add("https", s.https, corev1.ProtocolTCP)
	add("sip", s.sipUDP, corev1.ProtocolUDP)
	return m
}

func serviceByName(name string) (svc, bool) {
	for _, s := range services {
		if s.name == name {
			return s, true
		}
	}
	return svc{}, false
}

// rendering is one kustomization built and decoded.
type rendering struct {
	dir     string // relative to deploy/k8s
	overlay bool   // a deployable overlay (base is not)
	objs    []k8s.Object
}

var (
	renderOnce sync.Once
	renderings []rendering
	renderErr  error
)

// renderAll builds base and every overlay under overlays/ once per test
// binary. The ingress component is covered by the overlays that use it.
func renderAll(t *testing.T) []rendering {
	t.Helper()
	renderOnce.Do(func() {
		dirs := []string{"base"}
		entries, err := os.ReadDir("overlays")
		if err != nil {
			renderErr = err
			return
		}
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join("overlays", e.Name()))
			}
		}
		for _, d := range dirs {
			objs, err := k8s.Render(filesys.MakeFsOnDisk(), d)
			if err != nil {
				renderErr = err
				return
			}
			renderings = append(renderings, rendering{dir: d, overlay: d != "base", objs: objs})
		}
	})
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	return renderings
}

// overlays returns only the deployable renderings.
func overlays(t *testing.T) []rendering {
	var out []rendering
	for _, r := range renderAll(t) {
		if r.overlay {
			out = append(out, r)
		}
	}
	if len(out) < 3 {
		t.Fatalf("expected at least dev, prod and prod-ingress overlays, got %d", len(out))
	}
	return out
}

func (r rendering) find(kind, ns, name string) (k8s.Object, bool) {
	for _, o := range r.objs {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			return o, true
		}
	}
	return k8s.Object{}, false
}

func (r rendering) all(kind string) []k8s.Object {
	var out []k8s.Object
	for _, o := range r.objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// namespaceLabels returns the labels of a Namespace in the rendering, with
// the kubernetes.io/metadata.name label the API server adds.
func (r rendering) namespaceLabels(ns string) (map[string]string, bool) {
	o, ok := r.find("Namespace", "", ns)
	if !ok {
		return nil, false
	}
	m := map[string]string{"kubernetes.io/metadata.name": ns}
	for k, v := range o.Value.(*corev1.Namespace).Labels {
		m[k] = v
	}
	return m, true
}

// workload is anything with a pod template.
type workload struct {
	obj      k8s.Object
	selector *metav1.LabelSelector
	template *corev1.PodTemplateSpec
	replicas *int32 // nil for DaemonSets and HPA-owned Deployments
}

func (w workload) id() string { return w.obj.ID() }

func (r rendering) workloads() []workload {
	var out []workload
	for _, o := range r.objs {
		switch v := o.Value.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{o, v.Spec.Selector, &v.Spec.Template, v.Spec.Replicas})
		case *appsv1.StatefulSet:
			out = append(out, workload{o, v.Spec.Selector, &v.Spec.Template, v.Spec.Replicas})
		case *appsv1.DaemonSet:
			out = append(out, workload{o, v.Spec.Selector, &v.Spec.Template, nil})
		}
	}
	return out
}

func (r rendering) workload(kind, ns, name string) (workload, bool) {
	for _, w := range r.workloads() {
		if w.obj.Kind == kind && w.obj.Namespace == ns && w.obj.Name == name {
			return w, true
		}
	}
	return workload{}, false
}

// matchSelector reports whether a label selector selects the labels; a nil
// or empty selector selects nothing here (we never want "select all" on a
// Service or PDB).
func matchSelector(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("bad selector %v: %v", sel, err)
	}
	return s.Matches(labels.Set(l))
}

// allContainers returns init and regular containers.
func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return slices.Concat(spec.InitContainers, spec.Containers)
}

// containerEnv resolves a container's environment the way the kubelet does:
// envFrom ConfigMaps first, then env entries (which win), with $(VAR)
// references expanded when they refer to earlier variables (fieldRef values
// stay as "$(NAME)" placeholders).
func containerEnv(t *testing.T, r rendering, ns string, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		o, ok := r.find("ConfigMap", ns, ef.ConfigMapRef.Name)
		if !ok {
			continue // reported by TestReferencesResolve
		}
		for k, v := range o.Value.(*corev1.ConfigMap).Data {
			env[ef.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			env[e.Name] = "$(" + e.Name + ")"
			continue
		}
		v := e.Value
		for k, val := range env {
			v = strings.ReplaceAll(v, "$("+k+")", val)
		}
		env[e.Name] = v
	}
	return env
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
