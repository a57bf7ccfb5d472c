package images

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

// TestImages builds every service's image as `make images` does, loads it
// back from the tarball and the OCI layout, checks its configuration
// against the Dockerfile, and runs the binary extracted from the image's
// filesystem with --help.
func TestImages(t *testing.T) {
	testenv.SkipShort(t, "builds five static binaries")
	root := "../../.."
	out := t.TempDir()
	for _, svc := range Services {
		t.Run(svc, func(t *testing.T) {
			f, err := os.Open(filepath.Join(root, "services", svc, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			spec, err := ParseDockerfile(f, "9.9.9")
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			bin, err := BuildBinary(t.Context(), root, svc, runtime.GOARCH, filepath.Join(out, "bin"))
			if err != nil {
				t.Fatal(err)
			}
			img, err := Image(bin, spec, runtime.GOARCH)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.NewTag("registry.example.com/dialtone/" + svc + ":9.9.9")
			if err != nil {
				t.Fatal(err)
			}
			if err := Write(out, svc, ref, img); err != nil {
				t.Fatal(err)
			}

			loaded, err := tarball.ImageFromPath(filepath.Join(out, svc+".tar"), nil)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := loaded.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config
			if c.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532 (non-root, numeric)", c.User)
			}
			if want := []string{"/usr/local/bin/" + svc}; !slices.Equal(c.Entrypoint, want) {
				t.Errorf("entrypoint %q, want %q", c.Entrypoint, want)
			}
			if len(c.ExposedPorts) == 0 || len(c.ExposedPorts) != len(spec.Ports) {
				t.Errorf("exposed ports %v, want the Dockerfile's %v", c.ExposedPorts, spec.Ports)
			}
			for _, p := range spec.Ports {
				if _, ok := c.ExposedPorts[p]; !ok {
					t.Errorf("port %s missing", p)
				}
			}
			if c.Labels["org.opencontainers.image.title"] != "dialtone-"+svc || c.Labels["org.opencontainers.image.version"] != "9.9.9" {
				t.Errorf("labels %v", c.Labels)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
			}
			layers, err := loaded.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("%d layers (%v), want 1 on an empty base", len(layers), err)
			}

			// The same image is in the OCI layout under its ref name.
			p, err := layout.FromPath(filepath.Join(out, "oci"))
			if err != nil {
				t.Fatal(err)
			}
			idx, err := p.ImageIndex()
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			d, _ := img.Digest()
			found := false
			for _, m := range im.Manifests {
				found = found || (m.Digest == d && m.Annotations["org.opencontainers.image.ref.name"] == ref.String())
			}
			if !found {
				t.Errorf("OCI layout has no manifest %s named %s", d, ref)
			}

			// Extract the filesystem and run the binary from it.
			fsDir := t.TempDir()
			rc := mutate.Extract(loaded)
			defer rc.Close()
			tr := tar.NewReader(rc)
			var names []string
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, h.Name)
				dst := filepath.Join(fsDir, h.Name)
				switch h.Typeflag {
				case tar.TypeDir:
					os.MkdirAll(dst, 0o755)
				case tar.TypeReg:
					os.MkdirAll(filepath.Dir(dst), 0o755)
					w, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode))
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(w, tr)
					w.Close()
				}
			}
			if !slices.Contains(names, "etc/passwd") || !slices.Contains(names, "usr/local/bin/"+svc) {
				t.Errorf("layer files %v", names)
			}
			passwd, _ := os.ReadFile(filepath.Join(fsDir, "etc/passwd"))
			if !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
				t.Errorf("/etc/passwd:\n%s", passwd)
			}
			cmd := exec.Command(filepath.Join(fsDir, "usr/local/bin", svc), "--help")
			cmd.Env = []string{} // as in the image: no environment, no system CA bundle needed for --help
			outb, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(outb), "Usage") {
				t.Errorf("%s --help: %v\n%s", svc, err, outb)
			}
			// The binary is static: no interpreter (dynamic loader) section.
			file, _ := os.ReadFile(filepath.Join(fsDir, "usr/local/bin", svc))
			if strings.Contains(string(file[:min(len(file), 4096)]), "/lib64/ld-linux") {
				t.Errorf("%s is dynamically linked", svc)
			}
		})
	}
}

func TestParseDockerfile(t *testing.T) {
	const df = `FROM golang AS build
USER root
EXPOSE 1/tcp
FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="dialtone-x" \
      org.opencontainers.image.version="$VERSION"
# comment
USER 65532:65532
EXPOSE 9090/tcp 5060/udp
ENTRYPOINT ["/usr/local/bin/x"]
`
	s, err := ParseDockerfile(strings.NewReader(df), "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if s.User != "65532:65532" || !slices.Equal(s.Ports, []string{"9090/tcp", "5060/udp"}) ||
		!slices.Equal(s.Entrypoint, []string{"/usr/local/bin/x"}) ||
		s.Labels["org.opencontainers.image.title"] != "dialtone-x" || s.Labels["org.opencontainers.image.version"] != "1.2.3" {
		t.Errorf("%+v", s)
	}
	if _, err := ParseDockerfile(strings.NewReader("FROM scratch\nEXPOSE 1/tcp\n"), ""); err == nil {
		t.Error("no USER/ENTRYPOINT accepted")
	}
}

// FuzzParseDockerfile: any input gives a Spec or an error, never a panic,
// and a parsed Spec always has a user and an entrypoint.
func FuzzParseDockerfile(f *testing.F) {
	f.Add("FROM scratch\nUSER 1:1\nENTRYPOINT [\"/x\"]\n")
	f.Add("LABEL a=\"b c\" \\\n d=e\nEXPOSE 1/udp\nUSER 0\nENTRYPOINT []\n")
	f.Add("LABEL novalue\n")
	f.Fuzz(func(t *testing.T, df string) {
		s, err := ParseDockerfile(strings.NewReader(df), "v")
		if err == nil && (s.User == "" || len(s.Entrypoint) == 0) {
			t.Errorf("accepted %q without user or entrypoint: %+v", df, s)
		}
	})
}
