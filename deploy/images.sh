#!/usr/bin/env bash
# Builds the container image of every service that has a Dockerfile
# (services/<name>/Dockerfile), from the repository root as build context.
#
#   TAG=0.1.0 deploy/images.sh            # build
#   TAG=0.1.0 PUSH=1 deploy/images.sh     # build and push
#   REGISTRY=registry.example.com/voip TAG=0.1.0 deploy/images.sh
#
# REGISTRY defaults to ghcr.io/dialtone-voip, the name the manifests in
# deploy/k8s use; TAG defaults to `git describe`. Set the same tag in the
# overlay you deploy (deploy/k8s/README.md, "Upgrade").
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

REGISTRY=${REGISTRY:-ghcr.io/dialtone-voip}
TAG=${TAG:-$(git describe --tags --always --dirty 2>/dev/null || true)}
if [[ -z "$TAG" || "$TAG" == latest ]]; then
	echo "images.sh: set TAG to a version (not empty, not latest)" >&2
	exit 2
fi
DOCKER=${DOCKER:-docker}

shopt -s nullglob
dockerfiles=(services/*/Dockerfile)
if [[ ${#dockerfiles[@]} -eq 0 ]]; then
	echo "images.sh: no services/*/Dockerfile found" >&2
	exit 1
fi

for df in "${dockerfiles[@]}"; do
	name=$(basename "$(dirname "$df")")
	image="${REGISTRY}/${name}:${TAG}"
	echo "==> ${image}"
	DOCKER_BUILDKIT=1 "$DOCKER" build -f "services/${name}/Dockerfile" \
		--build-arg "VERSION=${TAG}" -t "$image" .
	if [[ -n "${PUSH:-}" ]]; then
		"$DOCKER" push "$image"
	fi
done
