// Package images builds the services' OCI images without a Docker daemon,
// with go-containerregistry: an empty base, one layer holding the static
// binary (CA roots and zone data are compiled in by platform/servicecmd)
// and /etc/passwd + /etc/group naming the non-root user. User, exposed
// ports, labels and entrypoint are read from the service's Dockerfile, so
// the Dockerfile (for users with a Docker engine) and this builder describe
// the same image.
package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Services are the services with an image.
var Services = []string{"inventory", "config-renderer", "provision-http", "rps-client", "pnp-listener"}

// Spec is what a Dockerfile's final stage says about the image.
type Spec struct {
	User       string
	Entrypoint []string
	Ports      []string // "9090/tcp"
	Labels     map[string]string
}

// ParseDockerfile reads the final stage's LABEL, USER, EXPOSE and
// ENTRYPOINT (exec form) of a Dockerfile; version is put for $VERSION.
func ParseDockerfile(r io.Reader, version string) (Spec, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	cur := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	if err := sc.Err(); err != nil {
		return Spec{}, err
	}
	s := Spec{Labels: map[string]string{}}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(strings.ReplaceAll(rest, "$VERSION", version))
		switch strings.ToUpper(instr) {
		case "FROM": // a new stage: only the last one describes the image
			s = Spec{Labels: map[string]string{}}
		case "USER":
			s.User = rest
		case "EXPOSE":
			s.Ports = append(s.Ports, strings.Fields(rest)...)
		case "ENTRYPOINT":
			s.Entrypoint = nil
			for _, p := range strings.Split(strings.Trim(rest, "[]"), ",") {
				s.Entrypoint = append(s.Entrypoint, strings.Trim(strings.TrimSpace(p), `"`))
			}
		case "LABEL":
			for _, kv := range splitLabels(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return Spec{}, fmt.Errorf("LABEL %q: want key=value", kv)
				}
				s.Labels[k] = strings.Trim(v, `"`)
			}
		}
	}
	if s.User == "" || len(s.Entrypoint) == 0 {
		return Spec{}, errors.New("the final stage needs USER and ENTRYPOINT")
	}
	return s, nil
}

// splitLabels splits `a="x y" b=z` at spaces outside quotes.
func splitLabels(s string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case r == ' ' && !quoted:
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// BuildBinary compiles a service statically for linux/arch into dir.
func BuildBinary(ctx context.Context, root, service, arch, dir string) (string, error) {
	out := filepath.Join(dir, arch, service)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./services/"+service+"/cmd/"+service)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", service, err, b)
	}
	return out, nil
}

// epoch is every file's modification time and the image's creation time,
// so the same binary always gives the same digest.
var epoch = time.Unix(0, 0).UTC()

// Image builds the image of binary per spec.
func Image(binary string, spec Spec, arch string) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	uid, gid, _ := strings.Cut(spec.User, ":")
	if gid == "" {
		gid = uid
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch})
		tw.Write(data)
	}
	dir("etc/", 0o755)
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:"+uid+":"+gid+":nonroot:/home/nonroot:/sbin/nologin\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:"+gid+":\n"))
	dir("home/", 0o755)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, ModTime: epoch, Uid: atoi(uid), Gid: atoi(gid)})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch})
	ep := strings.TrimPrefix(spec.Entrypoint[0], "/")
	parts := strings.Split(filepath.Dir(ep), "/")
	for i := range parts {
		dir(strings.Join(parts[:i+1], "/")+"/", 0o755)
	}
	file(ep, 0o755, bin)
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, v1.Time{Time: epoch}
	cf.Config.User = spec.User
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Labels = spec.Labels
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{"HOME=/home/nonroot"}
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range spec.Ports {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	return mutate.ConfigFile(img, cf)
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// Write stores img as out/<service>.tar (docker load / podman load) and
// in the OCI layout out/oci under the annotation ref.
func Write(out, service string, ref name.Reference, img v1.Image) error {
	if err := tarball.WriteToFile(filepath.Join(out, service+".tar"), ref, img); err != nil {
		return err
	}
	ociDir := filepath.Join(out, "oci")
	p, err := layout.FromPath(ociDir)
	if err != nil {
		if p, err = layout.Write(ociDir, empty.Index); err != nil {
			return err
		}
	}
	return p.ReplaceImage(img, func(d v1.Descriptor) bool {
		return d.Annotations["org.opencontainers.image.ref.name"] == ref.String()
	}, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.String()}))
}

// Push sends img to its registry with the credentials of the usual
// keychain (~/.docker/config.json).
func Push(ctx context.Context, ref name.Reference, img v1.Image) error {
	return remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
}
