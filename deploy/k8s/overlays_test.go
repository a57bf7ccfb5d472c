package k8s_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// externalSecret is one row of README.md's table of Secrets that the
// platform team creates before installing.
type externalSecret struct {
	keys    map[string]bool
	anyKeys bool // "*": every key is used (one file per vendor account)
}

// externalSecrets parses the table between the external-secrets markers in
// README.md: | namespace | name | keys | … |.
func externalSecrets(t *testing.T) map[string]externalSecret {
	t.Helper()
	readme := readFile(t, "README.md")
	_, rest, ok := strings.Cut(readme, "<!-- external-secrets:begin -->")
	table, _, ok2 := strings.Cut(rest, "<!-- external-secrets:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no external-secrets table markers")
	}
	out := map[string]externalSecret{}
	for _, line := range strings.Split(table, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.Contains(line, "namespace |") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			t.Fatalf("README.md secrets row %q: want | namespace | name | keys | …", line)
		}
		clean := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		es := externalSecret{keys: map[string]bool{}}
		for _, k := range strings.Split(cells[2], ",") {
			k = clean(k)
			if k == "*" {
				es.anyKeys = true
			} else if k != "" {
				es.keys[k] = true
			}
		}
		out[clean(cells[0])+"/"+clean(cells[1])] = es
	}
	if len(out) == 0 {
		t.Fatal("README.md external-secrets table is empty")
	}
	return out
}

func byName(r rendering, kind, ns, name string) any {
	o, ok := r.find(kind, ns, name)
	if !ok {
		return nil
	}
	return o.Value
}

func isOverlay(r rendering, name string) bool { return filepath.Base(r.dir) == name }

// TestDevOverlay: one replica of everything, no autoscaling, and in-cluster
// NATS JetStream and Redis that persist to PVCs.
func TestDevOverlay(t *testing.T) {
	var r rendering
	for _, x := range overlays(t) {
		if isOverlay(x, "dev") {
			r = x
		}
	}
	if r.dir == "" {
		t.Fatal("no overlays/dev")
	}
	for _, w := range r.workloads() {
		if w.obj.Kind == "DaemonSet" {
			continue
		}
		if w.replicas == nil || *w.replicas != 1 {
			t.Errorf("%s: replicas must be 1 in dev", w.id())
		}
	}
	if n := len(r.all("HorizontalPodAutoscaler")); n != 0 {
		t.Errorf("dev renders %d HPAs, want none", n)
	}

	nats, _ := byName(r, "StatefulSet", "dialtone", "nats").(*appsv1.StatefulSet)
	if nats == nil {
		t.Fatal("dev has no StatefulSet dialtone/nats")
	}
	c := nats.Spec.Template.Spec.Containers[0]
	if !strings.HasPrefix(c.Image, "nats:") {
		t.Errorf("nats image %q is not the official nats image", c.Image)
	}
	for what, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || !strings.HasPrefix(p.HTTPGet.Path, "/healthz") {
			t.Errorf("nats %s probe must GET /healthz… on the monitor port", what)
			continue
		}
		if cp, _ := resolvePort(c, p.HTTPGet.Port); cp.ContainerPort != 8222 {
			t.Errorf("nats %s probe on port %d, want monitor 8222", what, cp.ContainerPort)
		}
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil ||
		!strings.Contains(strings.Join(c.Lifecycle.PreStop.Exec.Command, " "), "-sl=ldm=") {
		t.Error("nats needs the lame-duck preStop (nats-server -sl=ldm=…)")
	}
	checkPVCMount(t, nats, "nats", "/data")
	natsConf := configMapFile(t, r, "dialtone", nats.Spec.Template.Spec.Volumes, "nats.conf")
	for _, want := range []string{"jetstream", "store_dir: /data", "pid_file: /var/run/nats/nats.pid", "http_port: 8222"} {
		if !strings.Contains(natsConf, want) {
			t.Errorf("nats.conf lacks %q", want)
		}
	}

	redis, _ := byName(r, "StatefulSet", "dialtone", "redis").(*appsv1.StatefulSet)
	if redis == nil {
		t.Fatal("dev has no StatefulSet dialtone/redis")
	}
	checkPVCMount(t, redis, "redis", "/data")
	redisConf := configMapFile(t, r, "dialtone", redis.Spec.Template.Spec.Volumes, "redis.conf")
	if !regexp.MustCompile(`(?m)^appendonly yes$`).MatchString(redisConf) {
		t.Error("redis.conf must enable the AOF (appendonly yes)")
	}
	if !regexp.MustCompile(`(?m)^appendfsync (always|everysec)$`).MatchString(redisConf) {
		t.Error("redis.conf must set appendfsync always or everysec")
	}
	if !regexp.MustCompile(`(?m)^dir /data$`).MatchString(redisConf) {
		t.Error("redis.conf must keep its files on the PVC (dir /data)")
	}
	if !regexp.MustCompile(`(?m)^maxmemory-policy noeviction$`).MatchString(redisConf) {
		t.Error("redis is inventory's store: maxmemory-policy must be noeviction")
	}
}

func checkPVCMount(t *testing.T, s *appsv1.StatefulSet, container, path string) {
	t.Helper()
	for _, c := range s.Spec.Template.Spec.Containers {
		if c.Name != container {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.MountPath != path {
				continue
			}
			for _, pvc := range s.Spec.VolumeClaimTemplates {
				if pvc.Name == m.Name {
					if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
						t.Errorf("%s: PVC %s has no storage request", s.Name, pvc.Name)
					}
					return
				}
			}
		}
	}
	t.Errorf("%s: %s is not on a PVC from volumeClaimTemplates", s.Name, path)
}

func configMapFile(t *testing.T, r rendering, ns string, vols []corev1.Volume, key string) string {
	t.Helper()
	for _, v := range vols {
		if v.ConfigMap == nil {
			continue
		}
		if cm, ok := byName(r, "ConfigMap", ns, v.ConfigMap.Name).(*corev1.ConfigMap); ok {
			if s, ok := cm.Data[key]; ok {
				return s
			}
		}
	}
	t.Fatalf("no mounted ConfigMap holds %s", key)
	return ""
}

// TestProdOverlays: external NATS and Redis Sentinel, at least two of every
// Deployment, spread over nodes, and the edge exposed one way or the other.
func TestProdOverlays(t *testing.T) {
	seen := 0
	for _, r := range overlays(t) {
		if !strings.HasPrefix(filepath.Base(r.dir), "prod") {
			continue
		}
		seen++
		if n := len(r.all("StatefulSet")); n != 0 {
			t.Errorf("%s: renders %d StatefulSets; prod uses existing NATS and Redis", r.dir, n)
		}
		hpaMin := map[string]int32{}
		for _, o := range r.all("HorizontalPodAutoscaler") {
			h := o.Value.(*autoscalingv2.HorizontalPodAutoscaler)
			hpaMin[h.Spec.ScaleTargetRef.Name] = *h.Spec.MinReplicas
		}
		for _, o := range r.all("Deployment") {
			d := o.Value.(*appsv1.Deployment)
			if d.Name == "console" {
				// Sessions live in the console's memory: one replica by
				// design (README.md, "console"); it serves no phone.
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
					t.Errorf("%s: %s must run exactly 1 replica (in-memory sessions)", r.dir, o.ID())
				}
				continue
			}
			n := hpaMin[d.Name]
			if d.Spec.Replicas != nil {
				n = *d.Spec.Replicas
			}
			if n < 2 {
				t.Errorf("%s: %s runs %d replicas, want at least 2", r.dir, o.ID(), n)
			}
			if !spreadsOverNodes(t, d) {
				t.Errorf("%s: %s has no pod anti-affinity on kubernetes.io/hostname selecting its own pods", r.dir, o.ID())
			}
		}
		_, lb := r.find("Service", "dialtone", "provision-http-public")
		ingresses := r.all("Ingress")
		if lb == (len(ingresses) > 0) {
			t.Errorf("%s: want exactly one of the LoadBalancer Service and the Ingress (LB %v, Ingress %d)", r.dir, lb, len(ingresses))
		}
		if lb {
			s := byName(r, "Service", "dialtone", "provision-http-public").(*corev1.Service)
			if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
				t.Errorf("%s: provision-http-public is %s, want LoadBalancer", r.dir, s.Spec.Type)
			}
		}
		for _, o := range ingresses {
			checkIngress(t, r, o.Value.(*networkingv1.Ingress))
		}
	}
	if seen < 2 {
		t.Errorf("want overlays prod and prod-ingress, saw %d prod overlays", seen)
	}
}

func spreadsOverNodes(t *testing.T, d *appsv1.Deployment) bool {
	a := d.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
	for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		terms = append(terms, w.PodAffinityTerm)
	}
	for _, term := range terms {
		if term.TopologyKey == "kubernetes.io/hostname" && matchSelector(t, term.LabelSelector, d.Spec.Template.Labels) {
			return true
		}
	}
	return false
}

func checkIngress(t *testing.T, r rendering, ing *networkingv1.Ingress) {
	t.Helper()
	if len(ing.Spec.TLS) == 0 {
		t.Errorf("%s: Ingress %s has no TLS section", r.dir, ing.Name)
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			b := p.Backend.Service
			if b == nil {
				t.Errorf("%s: Ingress %s path %s has no Service backend", r.dir, ing.Name, p.Path)
				continue
			}
			s, ok := byName(r, "Service", ing.Namespace, b.Name).(*corev1.Service)
			if !ok {
				t.Errorf("%s: Ingress %s routes to missing Service %s", r.dir, ing.Name, b.Name)
				continue
			}
			found := false
			for _, sp := range s.Spec.Ports {
				if (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Number != 0 && sp.Port == b.Port.Number) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: Ingress %s routes to a port Service %s lacks", r.dir, ing.Name, b.Name)
			}
		}
	}
}
