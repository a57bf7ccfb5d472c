package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// servicesDir holds services/<name>/Dockerfile, relative to deploy/k8s.
const servicesDir = "../../services"

// thirdParty are the only images not built from this repository (dev
// overlay backends); they must carry an explicit version tag.
var thirdParty = map[string]bool{"nats": true, "redis": true}

var versionTag = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)*([-.][0-9A-Za-z.-]+)?$`)

// splitImage splits "repo[:tag][@digest]" (a registry port is not a tag).
func splitImage(img string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(img, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// dockerfiles returns the services that have services/<name>/Dockerfile.
func dockerfiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(servicesDir, "*", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range paths {
		out[filepath.Base(filepath.Dir(p))] = p
	}
	return out
}

// TestImages: overlays pin every image to a version (never latest), each
// Dialtone image has a Dockerfile, and every Dockerfile's image is deployed.
// base names the images without a tag so that overlays' images: apply.
func TestImages(t *testing.T) {
	dfs := dockerfiles(t)
	if len(dfs) != len(services) {
		t.Errorf("found Dockerfiles for %v, want one per service (%d)", sortedKeys(dfs), len(services))
	}
	for _, r := range renderAll(t) {
		deployed := map[string]bool{}
		for _, w := range r.workloads() {
			for _, c := range allContainers(&w.template.Spec) {
				repo, tag, digest := splitImage(c.Image)
				who := fmt.Sprintf("%s: %s container %s image %q", r.dir, w.id(), c.Name, c.Image)
				if name, ok := strings.CutPrefix(repo, registry+"/"); ok {
					if _, ok := dfs[name]; !ok {
						t.Errorf("%s: no services/%s/Dockerfile builds it", who, name)
					}
					if name != w.obj.Name {
						t.Errorf("%s: runs another service's image", who)
					}
					deployed[name] = true
					if !r.overlay {
						if tag != "" || digest != "" {
							t.Errorf("%s: base must not pin a tag; overlays set it", who)
						}
						continue
					}
				} else if !thirdParty[repo] {
					t.Errorf("%s: neither %s/<service> nor an allowed third-party image", who, registry)
				}
				if !r.overlay {
					continue
				}
				switch {
				case tag == "latest":
					t.Errorf("%s: :latest is not allowed", who)
				case tag == "" && digest == "":
					t.Errorf("%s: no tag; set it in the overlay's images:", who)
				case tag != "" && !versionTag.MatchString(tag):
					t.Errorf("%s: tag %q is not a version", who, tag)
				}
				if c.ImagePullPolicy == corev1.PullAlways {
					t.Errorf("%s: imagePullPolicy Always hides unpinned tags", who)
				}
			}
		}
		for name := range dfs {
			if !deployed[name] {
				t.Errorf("%s: services/%s/Dockerfile builds an image no workload runs", r.dir, name)
			}
		}
	}
}

// TestDockerfiles: each Dockerfile builds its own main statically from the
// repository root, ends on a non-root distroless (or scratch) image, and
// exposes exactly the ports its manifests declare.
func TestDockerfiles(t *testing.T) {
	r := renderAll(t)[0]
	for name, path := range dockerfiles(t) {
		t.Run(name, func(t *testing.T) {
			df := readFile(t, path)
			stages := fromLines(df)
			if len(stages) < 2 {
				t.Fatalf("want a multi-stage build, got %d FROM lines", len(stages))
			}
			if !strings.Contains(stages[0], "golang:1.26") {
				t.Errorf("builder stage %q, want golang:1.26", stages[0])
			}
			final := stages[len(stages)-1]
			if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
				t.Errorf("final stage %q, want distroless static or scratch", final)
			}
			for _, want := range []string{
				"CGO_ENABLED=0",
				"-trimpath",
				"go build",
				"./services/" + name + "/cmd/" + name,
			} {
				if !strings.Contains(df, want) {
					t.Errorf("Dockerfile lacks %q", want)
				}
			}
			finalPart := df[strings.LastIndex(df, "\nFROM "):]
			if !regexp.MustCompile(`(?m)^USER 65532(:65532)?\s*$`).MatchString(finalPart) {
				t.Error("final stage must run as USER 65532 (numeric, so runAsNonRoot can verify it)")
			}
			if _, err := os.Stat(filepath.Join(servicesDir, name, "Dockerfile.dockerignore")); err != nil {
				t.Errorf("no Dockerfile.dockerignore next to the Dockerfile: %v", err)
			}

			s, ok := serviceByName(name)
			if !ok {
				t.Fatalf("no port table entry for %s", name)
			}
			w, ok := r.workload(s.kind, s.namespace, name)
			if !ok {
				t.Fatalf("base has no %s %s", s.kind, name)
			}
			var declared []string
			for _, p := range w.template.Spec.Containers[0].Ports {
				declared = append(declared, fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(string(proto(p.Protocol)))))
			}
			sort.Strings(declared)
			exposed := exposeLines(finalPart)
			if strings.Join(exposed, " ") != strings.Join(declared, " ") {
				t.Errorf("EXPOSE %v, manifests declare %v", exposed, declared)
			}
		})
	}
}

func fromLines(df string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`).FindAllStringSubmatch(df, -1) {
		out = append(out, m[1])
	}
	return out
}

func exposeLines(df string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^EXPOSE\s+(.+)$`).FindAllStringSubmatch(df, -1) {
		for _, p := range strings.Fields(m[1]) {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// TestImagesScript: deploy/images.sh builds with the same registry the
// manifests use, every Dockerfile, from the repository root.
func TestImagesScript(t *testing.T) {
	sh := readFile(t, "../images.sh")
	for _, want := range []string{
		"REGISTRY:-" + registry,
		"services/*/Dockerfile",
		`-f "services/${name}/Dockerfile"`,
		`"${REGISTRY}/${name}:${TAG}"`,
	} {
		if !strings.Contains(sh, want) {
			t.Errorf("deploy/images.sh lacks %q", want)
		}
	}
}
