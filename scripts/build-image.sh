#!/usr/bin/env bash
# Builds the ollama-gateway container image (deploy/container/Containerfile) with docker or
# podman, whichever works here (OG_ENGINE=podman or docker chooses), and tags it
# ollama-gateway:VERSION, the tag deploy/kubernetes/deployment.yaml runs. The build compiles the
# release binaries inside the image's build stage, so it needs no build tree here: a few minutes
# on two cores. Extra arguments go to the engine's build command (e.g. --build-arg
# RUNTIME_BASE=...). docs/operations.md#containers has the rest.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^inline constexpr const char\* kVersion = "\(.*\)";$/\1/p' gateway/process/serve.h)
if [ -z "$version" ]; then
  echo "build-image: cannot read kVersion from gateway/process/serve.h" >&2
  exit 1
fi
tag="ollama-gateway:$version"

engine="${OG_ENGINE:-}"
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
  elif command -v podman >/dev/null 2>&1; then
    engine=podman
  else
    echo "build-image: neither a running docker nor podman found (apt-get install podman)" >&2
    exit 1
  fi
fi

echo "build-image: building $tag with $engine" >&2
"$engine" build -f deploy/container/Containerfile -t "$tag" "$@" .
size=$("$engine" image inspect --format '{{.Size}}' "$tag")
echo "build-image: built $tag ($((size / 1000000)) MB)" >&2
cat >&2 <<MSG
To run it where the cluster can pull it, tag and push it to your registry:
  $engine tag $tag REGISTRY/ollama-gateway:$version
  $engine push REGISTRY/ollama-gateway:$version
and set that name in deploy/kubernetes/kustomization.yaml (images: newName), or load it into a
local cluster directly (kind load docker-image $tag; minikube image load $tag).
MSG
