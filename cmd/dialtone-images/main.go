// Command dialtone-images builds every service's OCI image without a
// Docker daemon (cmd/internal/images): `make images`.
//
//	dialtone-images --out bin/images --tag 0.1.0                 # bin/images/<svc>.tar and bin/images/oci
//	dialtone-images --registry registry.example.com/voip --push  # also push
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/dialtone-voip/dialtone/cmd/internal/images"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "dialtone-images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dialtone-images", flag.ContinueOnError)
	out := fs.String("out", "bin/images", "output directory: <service>.tar per image and an OCI layout in oci/")
	registry := fs.String("registry", "ghcr.io/dialtone-voip", "image name prefix (the deploy/k8s manifests use ghcr.io/dialtone-voip)")
	tag := fs.String("tag", "dev", "image tag (also the org.opencontainers.image.version label)")
	arch := fs.String("arch", runtime.GOARCH, "target architecture")
	push := fs.Bool("push", false, "push every image to --registry (credentials from ~/.docker/config.json)")
	root := fs.String("root", ".", "repository root")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, svc := range images.Services {
		f, err := os.Open(filepath.Join(*root, "services", svc, "Dockerfile"))
		if err != nil {
			return err
		}
		spec, err := images.ParseDockerfile(f, *tag)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s Dockerfile: %w", svc, err)
		}
		bin, err := images.BuildBinary(ctx, *root, svc, *arch, filepath.Join(*out, "bin"))
		if err != nil {
			return err
		}
		img, err := images.Image(bin, spec, *arch)
		if err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
		ref, err := name.NewTag(*registry + "/" + svc + ":" + *tag)
		if err != nil {
			return err
		}
		if err := images.Write(*out, svc, ref, img); err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
		d, _ := img.Digest()
		fmt.Printf("%s\t%s\t%s\n", ref, d, filepath.Join(*out, svc+".tar"))
		if *push {
			if err := images.Push(ctx, ref, img); err != nil {
				return fmt.Errorf("push %s: %w", ref, err)
			}
			fmt.Printf("pushed %s\n", ref)
		}
	}
	return nil
}
