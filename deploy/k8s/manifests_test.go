package k8s_test

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/dialtone-voip/dialtone/deploy/k8s"
)

// TestStrictDecodingCatchesTypos proves the decoder is strict: a misspelt
// field and an unexpected kind both fail the render.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	cases := map[string]string{
		"unknown field": `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      hostNetwrok: true
      containers: [{name: x, image: x:1}]
`,
		"wrong type": `apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  ports: [{port: "eighty"}]
`,
		"unknown kind": `apiVersion: batch/v1
kind: CronJob
metadata: {name: x}
`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			fs := filesys.MakeFsInMemory()
			must(t, fs.WriteFile("/k/kustomization.yaml", []byte("resources: [x.yaml]\n")))
			must(t, fs.WriteFile("/k/x.yaml", []byte(doc)))
			if _, err := k8s.Render(fs, "/k"); err == nil {
				t.Fatal("render accepted a bad object")
			} else {
				t.Log(err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestEveryServiceIsDeployed: each service of the suite appears, with its
// container, in base and in every overlay.
func TestEveryServiceIsDeployed(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, s := range services {
			w, ok := r.workload(s.kind, s.namespace, s.name)
			if !ok {
				t.Errorf("%s: no %s %s/%s", r.dir, s.kind, s.namespace, s.name)
				continue
			}
			if len(w.template.Spec.Containers) != 1 || w.template.Spec.Containers[0].Name != s.name {
				t.Errorf("%s: %s must have exactly one container named %s", r.dir, w.id(), s.name)
			}
			if _, ok := r.find("ServiceAccount", s.namespace, w.template.Spec.ServiceAccountName); !ok {
				t.Errorf("%s: %s uses ServiceAccount %q, not rendered", r.dir, w.id(), w.template.Spec.ServiceAccountName)
			}
		}
	}
}

// TestNamespaces: every namespaced object lives in a namespace the
// manifests create; every namespace enforces a Pod Security level, and only
// the namespace of host-network pods is privileged.
func TestNamespaces(t *testing.T) {
	for _, r := range renderAll(t) {
		hostNetNS := map[string]bool{}
		for _, w := range r.workloads() {
			if w.template.Spec.HostNetwork {
				hostNetNS[w.obj.Namespace] = true
			}
		}
		for _, o := range r.objs {
			if o.Kind == "Namespace" {
				if o.Namespace != "" {
					t.Errorf("%s: %s has a namespace", r.dir, o.ID())
				}
				continue
			}
			if o.Namespace == "" || o.Namespace == "default" {
				t.Errorf("%s: %s has no explicit namespace", r.dir, o.ID())
				continue
			}
			if _, ok := r.find("Namespace", "", o.Namespace); !ok {
				t.Errorf("%s: %s is in namespace %q, which the manifests do not create", r.dir, o.ID(), o.Namespace)
			}
		}
		for _, o := range r.all("Namespace") {
			l := o.Value.(*corev1.Namespace).Labels
			want := "restricted"
			if hostNetNS[o.Name] {
				want = "privileged"
			}
			if got := l["pod-security.kubernetes.io/enforce"]; got != want {
				t.Errorf("%s: namespace %s: pod-security.kubernetes.io/enforce=%q, want %q", r.dir, o.Name, got, want)
			}
		}
	}
}

// TestWorkloadPolicy checks probes, resources, the security context and
// host access of every pod template.
func TestWorkloadPolicy(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, w := range r.workloads() {
			t.Run(r.dir+"/"+w.id(), func(t *testing.T) {
				checkPod(t, r, w)
			})
		}
	}
}

func checkPod(t *testing.T, r rendering, w workload) {
	spec := &w.template.Spec
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be false: no component talks to the API server")
	}
	if spec.HostPID || spec.HostIPC {
		t.Error("hostPID/hostIPC must be off")
	}
	if !matchSelector(t, w.selector, w.template.Labels) {
		t.Error("selector does not match the pod template's labels")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s: hostPath is not allowed", v.Name)
		}
		// Secret files are root-owned; a non-root process reads them through
		// the group, which needs fsGroup.
		if v.Secret != nil && v.Secret.DefaultMode != nil && *v.Secret.DefaultMode&0o004 == 0 && psc.FSGroup == nil {
			t.Errorf("volume %s: mode %o is not world-readable and the pod sets no fsGroup", v.Name, *v.Secret.DefaultMode)
		}
	}

	s, isDialtone := serviceByName(w.obj.Name)
	if spec.HostNetwork {
		if w.obj.Name != "pnp-listener" {
			t.Error("hostNetwork is allowed only for pnp-listener")
		}
		if spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("hostNetwork pod needs dnsPolicy ClusterFirstWithHostNet, has %q", spec.DNSPolicy)
		}
		if len(spec.NodeSelector) == 0 {
			t.Error("hostNetwork pod must be pinned to the LAN-attached nodes with a nodeSelector")
		}
		if l, _ := r.namespaceLabels(w.obj.Namespace); l["pod-security.kubernetes.io/enforce"] != "privileged" {
			t.Error("hostNetwork pod must be in a namespace labelled for the privileged level")
		}
		if ds, ok := w.obj.Value.(*appsv1.DaemonSet); ok {
			ru := ds.Spec.UpdateStrategy.RollingUpdate
			if ru == nil || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 0 {
				t.Error("host-network DaemonSet must roll with maxSurge 0 (two listeners on a node answer twice)")
			}
		}
	} else if w.obj.Name == "pnp-listener" {
		t.Error("pnp-listener must run on the host network")
	}

	for _, c := range allContainers(spec) {
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("container %s: needs readiness and liveness probes", c.Name)
		} else {
			checkProbePort(t, c, "readiness", c.ReadinessProbe)
			checkProbePort(t, c, "liveness", c.LivenessProbe)
			if c.StartupProbe != nil {
				checkProbePort(t, c, "startup", c.StartupProbe)
			}
			if isDialtone {
				checkServiceProbes(t, s, c)
			}
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				t.Errorf("container %s: no %s request", c.Name, res)
			}
			if _, ok := c.Resources.Limits[res]; !ok {
				t.Errorf("container %s: no %s limit", c.Name, res)
			}
		}
		csc := c.SecurityContext
		if csc == nil {
			t.Errorf("container %s: no securityContext", c.Name)
			continue
		}
		nonRoot := (csc.RunAsNonRoot != nil && *csc.RunAsNonRoot) || (csc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			t.Errorf("container %s: runAsNonRoot must be true", c.Name)
		}
		uid := psc.RunAsUser
		if csc.RunAsUser != nil {
			uid = csc.RunAsUser
		}
		if uid == nil || *uid == 0 {
			t.Errorf("container %s: needs a numeric non-zero runAsUser", c.Name)
		}
		if isDialtone && (uid == nil || *uid != 65532) {
			t.Errorf("container %s: runAsUser must be 65532, the USER of the distroless nonroot image", c.Name)
		}
		if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation must be false", c.Name)
		}
		if csc.Privileged != nil && *csc.Privileged {
			t.Errorf("container %s: privileged", c.Name)
		}
		if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem must be true", c.Name)
		}
		if csc.Capabilities == nil || !containsCap(csc.Capabilities.Drop, "ALL") {
			t.Errorf("container %s: capabilities must drop ALL", c.Name)
		} else if len(csc.Capabilities.Add) > 0 {
			t.Errorf("container %s: adds capabilities %v; none is needed", c.Name, csc.Capabilities.Add)
		}
		seccomp := psc.SeccompProfile
		if csc.SeccompProfile != nil {
			seccomp = csc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s: seccompProfile must be RuntimeDefault", c.Name)
		}
		if isDialtone && !hasEmptyDirAt(spec, c, "/tmp") {
			t.Errorf("container %s: read-only root needs an emptyDir at /tmp", c.Name)
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 && (!spec.HostNetwork || p.HostPort != p.ContainerPort) {
				t.Errorf("container %s: hostPort %d only on the host network and equal to containerPort", c.Name, p.HostPort)
			}
		}
	}
}

func containsCap(caps []corev1.Capability, c corev1.Capability) bool {
	for _, x := range caps {
		if x == c {
			return true
		}
	}
	return false
}

func hasEmptyDirAt(spec *corev1.PodSpec, c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

// resolvePort turns a probe or Service target port into a container port.
func resolvePort(c corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

func probePort(p *corev1.Probe) (intstr.IntOrString, bool) {
	switch {
	case p.GRPC != nil:
		return intstr.FromInt32(p.GRPC.Port), true
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	}
	return intstr.IntOrString{}, false // exec
}

func checkProbePort(t *testing.T, c corev1.Container, what string, p *corev1.Probe) {
	t.Helper()
	port, ok := probePort(p)
	if !ok {
		if p.Exec == nil {
			t.Errorf("container %s: %s probe has no handler", c.Name, what)
		}
		return
	}
	if _, ok := resolvePort(c, port); !ok {
		t.Errorf("container %s: %s probe targets port %s, which the container does not declare", c.Name, what, port.String())
	}
}

// checkServiceProbes: gRPC services are probed with the gRPC health protocol
// on their gRPC port; the others with HTTP on the admin port.
func checkServiceProbes(t *testing.T, s svc, c corev1.Container) {
	t.Helper()
	rp := c.ReadinessProbe
	if s.grpc != 0 {
		if rp.GRPC == nil || rp.GRPC.Port != s.grpc {
			t.Errorf("container %s: readiness must be a gRPC health probe on %d", c.Name, s.grpc)
		}
	} else if rp.HTTPGet == nil || rp.HTTPGet.Path != "/readyz" {
		t.Errorf("container %s: readiness must be GET /readyz on the admin port", c.Name)
	} else if cp, _ := resolvePort(c, rp.HTTPGet.Port); cp.ContainerPort != s.admin {
		t.Errorf("container %s: readiness probe on port %d, want admin %d", c.Name, cp.ContainerPort, s.admin)
	}
	lp := c.LivenessProbe
	if lp.HTTPGet == nil || lp.HTTPGet.Path != "/healthz" {
		t.Errorf("container %s: liveness must be GET /healthz on the admin port", c.Name)
	} else if cp, _ := resolvePort(c, lp.HTTPGet.Port); cp.ContainerPort != s.admin {
		t.Errorf("container %s: liveness probe on port %d, want admin %d", c.Name, cp.ContainerPort, s.admin)
	}
}

// TestPortsMatchServiceDefaults: container ports, listen addresses in the
// environment and Service ports all agree with the services' defaults.
func TestPortsMatchServiceDefaults(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, s := range services {
			w, ok := r.workload(s.kind, s.namespace, s.name)
			if !ok {
				continue // TestEveryServiceIsDeployed
			}
			c := w.template.Spec.Containers[0]
			want := s.declaredPorts()
			got := map[string]corev1.ContainerPort{}
			for _, p := range c.Ports {
				got[p.Name] = corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, Protocol: p.Protocol}
			}
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("%s: %s ports %v, want %v", r.dir, s.name, got, want)
			}
			env := containerEnv(t, r, s.namespace, c)
			addrs := map[string]int32{"GRPC_ADDR": s.grpc, "ADMIN_ADDR": s.admin, "HTTP_ADDR": s.http, "HTTPS_ADDR": s.https, "SIP_ADDR": s.sipUDP}
			for key, port := range addrs {
				v, set := env[s.envPrefix+key]
				if port == 0 {
					if set {
						t.Errorf("%s: %s sets %s%s but has no such listener", r.dir, s.name, s.envPrefix, key)
					}
					continue
				}
				if !set {
					t.Errorf("%s: %s: %s%s not set (must listen on all interfaces, not the loopback default)", r.dir, s.name, s.envPrefix, key)
					continue
				}
				if _, p, err := net.SplitHostPort(v); err != nil || p != strconv.Itoa(int(port)) {
					t.Errorf("%s: %s: %s%s=%q, want port %d", r.dir, s.name, s.envPrefix, key, v, port)
				}
			}
			if s.grpc != 0 {
				o, ok := r.find("Service", s.namespace, s.name)
				if !ok {
					t.Errorf("%s: no Service %s/%s for the gRPC port", r.dir, s.namespace, s.name)
					continue
				}
				found := false
				for _, p := range o.Value.(*corev1.Service).Spec.Ports {
					if p.Name == "grpc" && p.Port == s.grpc {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: Service %s has no port grpc=%d", r.dir, s.name, s.grpc)
				}
			}
		}
	}
}

// TestServicesSelectOnePodTemplate: every Service selects exactly one pod
// template and every port targets a port that template declares.
func TestServicesSelectOnePodTemplate(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, o := range r.all("Service") {
			sv := o.Value.(*corev1.Service)
			var matched []workload
			for _, w := range r.workloads() {
				if w.obj.Namespace == o.Namespace && len(sv.Spec.Selector) > 0 && subset(sv.Spec.Selector, w.template.Labels) {
					matched = append(matched, w)
				}
			}
			if len(matched) != 1 {
				t.Errorf("%s: %s selects %d pod templates, want 1", r.dir, o.ID(), len(matched))
				continue
			}
			c := matched[0].template.Spec.Containers
			for _, p := range sv.Spec.Ports {
				target := p.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(p.Port)
				}
				ok := false
				for _, cc := range c {
					if cp, found := resolvePort(cc, target); found && proto(cp.Protocol) == proto(p.Protocol) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s: %s port %s targets %s, not declared by %s", r.dir, o.ID(), p.Name, target.String(), matched[0].id())
				}
			}
		}
	}
}

func proto(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func subset(sel, l map[string]string) bool {
	for k, v := range sel {
		if l[k] != v {
			return false
		}
	}
	return true
}

// TestHPAs: the edge and the renderer autoscale in base and prod; every HPA
// targets a Deployment that exists, has CPU requests and leaves replicas
// to the HPA.
func TestHPAs(t *testing.T) {
	for _, r := range renderAll(t) {
		hpaFor := map[string]*autoscalingv2.HorizontalPodAutoscaler{}
		for _, o := range r.all("HorizontalPodAutoscaler") {
			h := o.Value.(*autoscalingv2.HorizontalPodAutoscaler)
			ref := h.Spec.ScaleTargetRef
			w, ok := r.workload(ref.Kind, o.Namespace, ref.Name)
			if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok {
				t.Errorf("%s: %s targets %s %s/%s, not a rendered Deployment", r.dir, o.ID(), ref.APIVersion, ref.Kind, ref.Name)
				continue
			}
			hpaFor[ref.Name] = h
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
				t.Errorf("%s: %s has bad min/max replicas", r.dir, o.ID())
			}
			if w.replicas != nil {
				t.Errorf("%s: %s sets replicas although %s owns the count", r.dir, w.id(), o.ID())
			}
			for _, c := range w.template.Spec.Containers {
				if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
					t.Errorf("%s: %s is scaled on CPU but container %s has no CPU request", r.dir, o.ID(), c.Name)
				}
			}
		}
		if strings.HasSuffix(r.dir, "dev") {
			continue // one replica each, no autoscaling
		}
		for _, name := range []string{"provision-http", "config-renderer"} {
			if hpaFor[name] == nil {
				t.Errorf("%s: no HorizontalPodAutoscaler for %s", r.dir, name)
			}
		}
	}
}

// TestPDBs: every Deployment has exactly one PodDisruptionBudget, every
// PDB selects exactly one workload, and none blocks a drain outright.
func TestPDBs(t *testing.T) {
	for _, r := range renderAll(t) {
		covered := map[string]int{}
		for _, o := range r.all("PodDisruptionBudget") {
			p := o.Value.(*policyv1.PodDisruptionBudget)
			var matched []workload
			for _, w := range r.workloads() {
				if w.obj.Namespace == o.Namespace && matchSelector(t, p.Spec.Selector, w.template.Labels) {
					matched = append(matched, w)
				}
			}
			if len(matched) != 1 {
				t.Errorf("%s: %s selects %d workloads, want 1", r.dir, o.ID(), len(matched))
				continue
			}
			covered[matched[0].id()]++
			if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
				t.Errorf("%s: %s sets neither maxUnavailable nor minAvailable", r.dir, o.ID())
			}
			if p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.IntValue() < 1 {
				t.Errorf("%s: %s maxUnavailable < 1 blocks every drain", r.dir, o.ID())
			}
			if p.Spec.MinAvailable != nil && matched[0].replicas != nil && p.Spec.MinAvailable.IntValue() >= int(*matched[0].replicas) {
				t.Errorf("%s: %s minAvailable >= replicas blocks every drain", r.dir, o.ID())
			}
		}
		for _, o := range r.all("Deployment") {
			if covered[o.ID()] != 1 {
				t.Errorf("%s: %s is covered by %d PodDisruptionBudgets, want 1", r.dir, o.ID(), covered[o.ID()])
			}
		}
	}
}

// TestNoSecretData: Secrets are created by the platform team (README.md),
// never rendered from the repository with data in them.
func TestNoSecretData(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, o := range r.all("Secret") {
			s := o.Value.(*corev1.Secret)
			if len(s.Data) > 0 || len(s.StringData) > 0 {
				t.Errorf("%s: %s carries data; Secrets must be created outside the repository", r.dir, o.ID())
			}
		}
	}
}

// TestReferencesResolve: every ConfigMap a pod uses is rendered (with the
// keys it asks for), every Secret is in README.md's list of Secrets the
// platform team creates (with the keys it asks for), and every file path in
// the environment lies under a mount of the right volume.
func TestReferencesResolve(t *testing.T) {
	ext := externalSecrets(t)
	used := map[string]bool{}
	checkSecret := func(r rendering, who, ns, name string, keys ...string) {
		id := ns + "/" + name
		used[id] = true
		es, ok := ext[id]
		if !ok {
			t.Errorf("%s: %s uses Secret %s, which README.md does not list", r.dir, who, id)
			return
		}
		for _, k := range keys {
			if !es.anyKeys && !es.keys[k] {
				t.Errorf("%s: %s uses key %q of Secret %s; README.md lists %v", r.dir, who, k, id, sortedKeys(es.keys))
			}
		}
	}
	checkConfigMap := func(r rendering, who, ns, name string, keys ...string) {
		o, ok := r.find("ConfigMap", ns, name)
		if !ok {
			t.Errorf("%s: %s uses ConfigMap %s/%s, not rendered", r.dir, who, ns, name)
			return
		}
		cm := o.Value.(*corev1.ConfigMap)
		for _, k := range keys {
			if _, ok := cm.Data[k]; !ok {
				t.Errorf("%s: %s uses key %q of ConfigMap %s/%s, absent", r.dir, who, k, ns, name)
			}
		}
	}
	for _, r := range renderAll(t) {
		for _, w := range r.workloads() {
			ns, spec := w.obj.Namespace, &w.template.Spec
			for _, v := range spec.Volumes {
				who := w.id() + " volume " + v.Name
				switch {
				case v.Secret != nil:
					checkSecret(r, who, ns, v.Secret.SecretName, itemKeys(v.Secret.Items)...)
				case v.ConfigMap != nil:
					checkConfigMap(r, who, ns, v.ConfigMap.Name, itemKeys(v.ConfigMap.Items)...)
				case v.Projected != nil:
					for _, src := range v.Projected.Sources {
						if src.Secret != nil {
							checkSecret(r, who, ns, src.Secret.Name, itemKeys(src.Secret.Items)...)
						}
						if src.ConfigMap != nil {
							checkConfigMap(r, who, ns, src.ConfigMap.Name, itemKeys(src.ConfigMap.Items)...)
						}
					}
				}
			}
			for _, sec := range spec.ImagePullSecrets {
				checkSecret(r, w.id()+" imagePullSecrets", ns, sec.Name)
			}
			for _, c := range allContainers(spec) {
				who := w.id() + " container " + c.Name
				for _, ef := range c.EnvFrom {
					if ef.ConfigMapRef != nil {
						checkConfigMap(r, who, ns, ef.ConfigMapRef.Name)
					}
					if ef.SecretRef != nil {
						checkSecret(r, who, ns, ef.SecretRef.Name)
					}
				}
				for _, e := range c.Env {
					if e.ValueFrom == nil {
						continue
					}
					if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
						checkConfigMap(r, who, ns, ref.Name, ref.Key)
					}
					if ref := e.ValueFrom.SecretKeyRef; ref != nil {
						checkSecret(r, who, ns, ref.Name, ref.Key)
					}
				}
				checkFilePaths(t, r, w, c)
			}
		}
		for _, o := range r.all("Ingress") {
			for _, tls := range o.Value.(*networkingv1.Ingress).Spec.TLS {
				checkSecret(r, o.ID(), o.Namespace, tls.SecretName, "tls.crt", "tls.key")
			}
		}
	}
	for id := range ext {
		if !used[id] {
			t.Errorf("README.md lists Secret %s, which no manifest uses", id)
		}
	}
}

func itemKeys(items []corev1.KeyToPath) []string {
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

// checkFilePaths: a DIALTONE_* variable naming a file or directory must
// point into a volume mounted in that container, at a file the volume holds.
func checkFilePaths(t *testing.T, r rendering, w workload, c corev1.Container) {
	t.Helper()
	env := containerEnv(t, r, w.obj.Namespace, c)
	for k, v := range env {
		if !strings.HasPrefix(k, "DIALTONE_") || !isPathVar(k) {
			continue
		}
		m, rel, ok := mountFor(c, v)
		if !ok {
			t.Errorf("%s: %s %s=%q is not under any volume mount", r.dir, w.id(), k, v)
			continue
		}
		if strings.HasSuffix(k, "_DIR") {
			if rel != "" {
				t.Errorf("%s: %s %s=%q should be the mount point %s", r.dir, w.id(), k, v, m.MountPath)
			}
			continue
		}
		for _, vol := range w.template.Spec.Volumes {
			if vol.Name != m.Name {
				continue
			}
			var items []corev1.KeyToPath
			switch {
			case vol.Secret != nil:
				items = vol.Secret.Items
			case vol.ConfigMap != nil:
				items = vol.ConfigMap.Items
			default:
				t.Errorf("%s: %s %s points into volume %s, which holds no files", r.dir, w.id(), k, vol.Name)
				continue
			}
			if len(items) == 0 {
				continue // every key is a file; keys are checked against README.md
			}
			found := false
			for _, it := range items {
				if it.Path == rel {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: %s %s=%q: volume %s projects no file %q", r.dir, w.id(), k, v, vol.Name, rel)
			}
		}
	}
}

func isPathVar(k string) bool {
	for _, suf := range []string{"_FILE", "_DIR", "_TLS_CERT", "_TLS_KEY"} {
		if strings.HasSuffix(k, suf) {
			return true
		}
	}
	return false
}

func mountFor(c corev1.Container, path string) (corev1.VolumeMount, string, bool) {
	for _, m := range c.VolumeMounts {
		if path == m.MountPath {
			return m, "", true
		}
		if rel, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/"); ok {
			return m, rel, true
		}
	}
	return corev1.VolumeMount{}, "", false
}

// TestEnvContract: each service reads only variables with its own prefix,
// every variable is documented in README.md, and each overlay sets what the
// service needs to reach its backends.
func TestEnvContract(t *testing.T) {
	readme := readFile(t, "README.md")
	required := map[string][]string{
		"inventory":       {"LOG_FORMAT", "LOG_LEVEL", "TOKENS_FILE", "NATS_URL", "EDGE_HTTP_BASE", "EDGE_HTTPS_BASE"},
		"config-renderer": {"LOG_FORMAT", "LOG_LEVEL", "TOKENS_FILE", "TEMPLATES_DIR"},
		"rps-client":      {"LOG_FORMAT", "LOG_LEVEL", "TOKENS_FILE", "NATS_URL", "CREDENTIALS_DIR", "INVENTORY_ADDR", "INVENTORY_TOKEN_FILE"},
		"provision-http":  {"LOG_FORMAT", "LOG_LEVEL", "NATS_URL", "TLS_CERT", "TLS_KEY", "INVENTORY_ADDR", "INVENTORY_TOKEN_FILE", "RENDERER_ADDR"},
		"pnp-listener":    {"LOG_FORMAT", "LOG_LEVEL", "NATS_URL", "INVENTORY_ADDR", "INVENTORY_TOKEN_FILE", "LISTENER"},
	}
	needsRedis := map[string]bool{"inventory": true, "rps-client": true}
	for _, r := range renderAll(t) {
		for _, s := range services {
			w, ok := r.workload(s.kind, s.namespace, s.name)
			if !ok {
				continue
			}
			env := containerEnv(t, r, s.namespace, w.template.Spec.Containers[0])
			for k := range env {
				if !strings.HasPrefix(k, "DIALTONE_") {
					continue
				}
				if !strings.HasPrefix(k, s.envPrefix) {
					t.Errorf("%s: %s gets %s, not its prefix %s", r.dir, s.name, k, s.envPrefix)
				}
				if !strings.Contains(readme, k) {
					t.Errorf("%s: %s is not documented in README.md", r.dir, k)
				}
			}
			if !r.overlay {
				continue // base leaves backends to the overlays
			}
			for _, k := range required[s.name] {
				if env[s.envPrefix+k] == "" {
					t.Errorf("%s: %s: %s%s is not set", r.dir, s.name, s.envPrefix, k)
				}
			}
			if needsRedis[s.name] {
				url := env[s.envPrefix+"REDIS_URL"] != ""
				sentinel := env[s.envPrefix+"REDIS_SENTINEL_ADDRS"] != "" && env[s.envPrefix+"REDIS_MASTER_NAME"] != ""
				if url == sentinel {
					t.Errorf("%s: %s needs exactly one of REDIS_URL or REDIS_SENTINEL_ADDRS+REDIS_MASTER_NAME", r.dir, s.name)
				}
			}
		}
	}
}

// TestInClusterAddressesResolve: any address in the configuration that names
// a cluster Service (name.namespace.svc[.cluster.local]:port, with or
// without a URL scheme) names a rendered Service with that port.
func TestInClusterAddressesResolve(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, o := range r.all("ConfigMap") {
			for k, v := range o.Value.(*corev1.ConfigMap).Data {
				if !strings.HasPrefix(k, "DIALTONE_") {
					continue
				}
				for _, addr := range strings.Split(v, ",") {
					host, port, ok := clusterAddr(addr)
					if !ok {
						continue
					}
					name, ns, _ := strings.Cut(host, ".")
					ns, _, _ = strings.Cut(ns, ".")
					so, found := r.find("Service", ns, name)
					if !found {
						t.Errorf("%s: %s=%s: no Service %s/%s", r.dir, k, v, ns, name)
						continue
					}
					has := false
					for _, p := range so.Value.(*corev1.Service).Spec.Ports {
						if strconv.Itoa(int(p.Port)) == port {
							has = true
						}
					}
					if !has {
						t.Errorf("%s: %s=%s: Service %s/%s has no port %s", r.dir, k, v, ns, name, port)
					}
				}
			}
		}
	}
}

// clusterAddr extracts host and port from "host:port", "scheme://host:port/…"
// or "dns:///host:port" when host is a cluster Service name.
func clusterAddr(s string) (host, port string, ok bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", false
		}
		s = u.Host
		if s == "" { // dns:///host:port
			s = strings.TrimPrefix(u.Path, "/")
		}
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", false
	}
	if !strings.HasSuffix(h, ".svc") && !strings.HasSuffix(h, ".svc.cluster.local") {
		return "", "", false
	}
	return h, p, true
}

// TestGoRuntimeEnv: every service container takes GOMEMLIMIT from its own
// memory limit, so the garbage collector tightens before the OOM killer
// acts; a GOGC above the default (fewer collections, more memory) is set
// only beside that limit and stays within [100, 400].
func TestGoRuntimeEnv(t *testing.T) {
	for _, r := range renderAll(t) {
		for _, s := range services {
			w, ok := r.workload(s.kind, s.namespace, s.name)
			if !ok {
				continue
			}
			c := w.template.Spec.Containers[0]
			var memlimit bool
			for _, e := range c.Env {
				switch e.Name {
				case "GOMEMLIMIT":
					f := e.ValueFrom
					memlimit = f != nil && f.ResourceFieldRef != nil && f.ResourceFieldRef.Resource == "limits.memory" &&
						(f.ResourceFieldRef.ContainerName == "" || f.ResourceFieldRef.ContainerName == c.Name)
				case "GOGC":
					n, err := strconv.Atoi(e.Value)
					if err != nil || n < 100 || n > 400 {
						t.Errorf("%s: %s: GOGC=%q, want an integer in [100, 400]", r.dir, s.name, e.Value)
					}
				}
			}
			if !memlimit {
				t.Errorf("%s: %s: GOMEMLIMIT must come from the container's limits.memory", r.dir, s.name)
			}
			if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
				t.Errorf("%s: %s: no memory limit for GOMEMLIMIT to follow", r.dir, s.name)
			}
		}
	}
}
