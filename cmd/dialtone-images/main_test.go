package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/dialtone-voip/dialtone/cmd/internal/images"
	"github.com/dialtone-voip/dialtone/platform/testenv"
)

// TestPush runs `make images PUSH=1` (dialtone-images --push) against a
// real registry (go-containerregistry's, in process, on loopback) and pulls
// every image back: its manifest, config and layer must be the ones built
// into the OCI layout, digest for digest.
func TestPush(t *testing.T) {
	testenv.SkipShort(t, "builds five static binaries")
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://") // 127.0.0.1:port: go-containerregistry speaks plain HTTP to loopback
	out := t.TempDir()
	prefix := host + "/dialtone"
	if err := run(t.Context(), []string{"--out", out, "--registry", prefix, "--tag", "9.9.9", "--push", "--root", "../.."}); err != nil {
		t.Fatal(err)
	}

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
	built := map[string]v1.Hash{}
	for _, m := range im.Manifests {
		built[m.Annotations["org.opencontainers.image.ref.name"]] = m.Digest
	}
	for _, svc := range images.Services {
		ref, err := name.NewTag(prefix + "/" + svc + ":9.9.9")
		if err != nil {
			t.Fatal(err)
		}
		want, ok := built[ref.String()]
		if !ok {
			t.Fatalf("%s not in the OCI layout (%v)", ref, built)
		}
		local, err := p.Image(want)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(ref, remote.WithContext(t.Context()))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		if desc.Digest != want {
			t.Errorf("%s: registry manifest %s, built %s", svc, desc.Digest, want)
		}
		localManifest, _ := local.RawManifest()
		if !bytes.Equal(desc.Manifest, localManifest) {
			t.Errorf("%s: pulled manifest differs from the built one", svc)
		}
		pulled, err := desc.Image()
		if err != nil {
			t.Fatal(err)
		}
		pc, err := pulled.RawConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		lc, _ := local.RawConfigFile()
		pcn, _ := pulled.ConfigName()
		lcn, _ := local.ConfigName()
		if !bytes.Equal(pc, lc) || pcn != lcn {
			t.Errorf("%s: pulled config %s differs from the built %s", svc, pcn, lcn)
		}
		cf, _ := pulled.ConfigFile()
		if cf.Config.User != "65532:65532" || cf.Config.Labels["org.opencontainers.image.version"] != "9.9.9" {
			t.Errorf("%s: pulled config user %q labels %v", svc, cf.Config.User, cf.Config.Labels)
		}
		// The layer itself: the registry has the blob under the built
		// layer's digest.
		ll, _ := local.Layers()
		pl, err := pulled.Layers()
		if err != nil || len(pl) != len(ll) {
			t.Fatalf("%s: %d pulled layers (%v), %d built", svc, len(pl), err, len(ll))
		}
		for i := range ll {
			ld, _ := ll[i].Digest()
			rl, err := remote.Layer(ref.Context().Digest(ld.String()), remote.WithContext(t.Context()))
			if err != nil {
				t.Fatal(err)
			}
			rc, err := rl.Compressed()
			if err != nil {
				t.Fatalf("%s: layer %s: %v", svc, ld, err)
			}
			h, n, err := v1.SHA256(rc)
			rc.Close()
			if err != nil || h != ld {
				t.Errorf("%s: layer blob %s (%d bytes, %v), want %s", svc, h, n, err, ld)
			}
		}
	}
}
