#!/usr/bin/env bash
# go-install-tool.sh TARGET PACKAGE VERSION
# Builds PACKAGE@VERSION from the Go module proxy and installs it as TARGET
# (a versioned file name, so changing a pinned version rebuilds the tool),
# with the toolchain of the caller's GOTOOLCHAIN (the Makefile exports go.mod's).
set -euo pipefail
target="$1" pkg="$2" version="$3"
dir="$(dirname "$target")"
mkdir -p "$dir"
tmp="$(mktemp -d "$dir/.install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "building $pkg@$version" >&2
GOBIN="$tmp" CGO_ENABLED=0 go install "$pkg@$version"
mv "$tmp/$(basename "$pkg")" "$target"
