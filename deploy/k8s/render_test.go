package k8s_test

import (
	"testing"

	"github.com/dialtone-voip/dialtone/deploy/k8s"
)

// FuzzDecode: decoding arbitrary bytes as any allowed kind returns a value
// or an error, never panics.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}]}\n"))
	f.Add(uint8(5), []byte("spec:\n  template:\n    spec:\n      hostNetwork: true\n"))
	f.Add(uint8(9), []byte("spec: {podSelector: {}, policyTypes: [Ingress]}"))
	f.Add(uint8(3), []byte("data: {a: !!binary AAAA}"))
	f.Add(uint8(1), []byte("{{{"))
	kinds := [][2]string{
		{"v1", "Service"}, {"v1", "ConfigMap"}, {"v1", "Secret"}, {"v1", "Namespace"},
		{"apps/v1", "Deployment"}, {"apps/v1", "DaemonSet"}, {"apps/v1", "StatefulSet"},
		{"policy/v1", "PodDisruptionBudget"}, {"autoscaling/v2", "HorizontalPodAutoscaler"},
		{"networking.k8s.io/v1", "NetworkPolicy"}, {"networking.k8s.io/v1", "Ingress"},
		{"batch/v1", "Job"},
	}
	f.Fuzz(func(t *testing.T, k uint8, doc []byte) {
		kind := kinds[int(k)%len(kinds)]
		v, err := k8s.Decode(kind[0], kind[1], doc)
		if (v == nil) == (err == nil) {
			t.Fatalf("Decode returned value %v and error %v", v, err)
		}
	})
}
