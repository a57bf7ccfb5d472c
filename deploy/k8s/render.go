// Package k8s holds Dialtone's Kubernetes manifests (a kustomize tree:
// base/, components/, overlays/) and the code that renders them with
// kustomize as a library and decodes every object strictly into the
// k8s.io/api types, so that tests can check the manifests without a cluster.
package k8s

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one rendered Kubernetes object, decoded into its k8s.io/api type
// (a pointer such as *appsv1.Deployment).
type Object struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Value      any
}

// ID names the object for messages: kind/namespace/name.
func (o Object) ID() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// newTyped returns an empty value of the Go type for an apiVersion and kind,
// or nil when the kind is not one Dialtone's manifests may contain. The list
// is closed on purpose: a new kind must be added here, and so reviewed.
func newTyped(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 Service":
		return &corev1.Service{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}
	}
	return nil
}

// Decode strictly decodes one object's YAML into its k8s.io/api type: an
// unknown field, a wrong type or an unknown kind is an error.
func Decode(apiVersion, kind string, doc []byte) (any, error) {
	v := newTyped(apiVersion, kind)
	if v == nil {
		return nil, fmt.Errorf("kind %s %s is not allowed in the manifests", apiVersion, kind)
	}
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kind, err)
	}
	return v, nil
}

// Render builds the kustomization at dir (a base, an overlay) and decodes
// every resulting object.
func Render(fsys filesys.FileSystem, dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []Object
	for _, r := range m.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
		}
		v, err := Decode(r.GetApiVersion(), r.GetKind(), doc)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", r.GetNamespace(), r.GetName(), err)
		}
		out = append(out, Object{
			APIVersion: r.GetApiVersion(),
			Kind:       r.GetKind(),
			Namespace:  r.GetNamespace(),
			Name:       r.GetName(),
			Value:      v,
		})
	}
	return out, nil
}
