#!/usr/bin/env bash
# get-envtest-assets.sh - build the control-plane binaries that
# sigs.k8s.io/controller-runtime/pkg/envtest needs (kube-apiserver, etcd and,
# optionally, kubectl) from source fetched through the Go module proxy only.
# Nothing else is downloaded (no setup-envtest, no release tarballs).
#
# Usage:
#   export KUBEBUILDER_ASSETS="$(./get-envtest-assets.sh [OUT_DIR])"
#
# The only thing printed on stdout is the assets directory (progress goes to
# stderr). A second run with the same versions is a no-op (stamp file).
#
# Knobs (environment):
#   K8S_VERSION   Kubernetes release to build kube-apiserver/kubectl from
#                 (k8s.io/kubernetes v$K8S_VERSION, staging modules v0.<minor>.<patch>)
#   ETCD_VERSION  go.etcd.io/etcd/server/v3 version to build etcd from
#   WITH_KUBECTL  1 (default) also builds kubectl of the same version; 0 skips it
#   OUT_DIR       (or first argument) where the binaries end up; default is a
#                 per-version directory under ${XDG_CACHE_HOME:-$HOME/.cache}
#   KEEP_WORK     1 keeps the temporary build modules (for inspection)
#   GOMODCACHE / GOCACHE are honoured (defaults of the go command otherwise).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
WITH_KUBECTL="${WITH_KUBECTL:-1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-${OUT_DIR:-$ROOT/bin/k8s/${K8S_VERSION}-etcd-${ETCD_VERSION}}}"

log() { echo "get-envtest-assets [${SECONDS}s]: $*" >&2; }

STAMP="k8s=${K8S_VERSION} etcd=${ETCD_VERSION} kubectl=${WITH_KUBECTL}"
if [[ -f "$OUT_DIR/.complete" && "$(cat "$OUT_DIR/.complete")" == "$STAMP" ]]; then
  log "already built: $OUT_DIR ($STAMP)"
  echo "$OUT_DIR"
  exit 0
fi

# Build with the caller's toolchain (the Makefile exports go.mod's; the local
# one when run alone), and never pick up a go.work, a vendor directory or
# cross-compilation settings from the caller.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOWORK=off GO111MODULE=on CGO_ENABLED=0
export GOFLAGS=-buildvcs=false
export GOOS="$(go env GOHOSTOS)" GOARCH="$(go env GOHOSTARCH)"

K8S_MINOR="${K8S_VERSION#1.}"; K8S_MINOR="${K8S_MINOR%%.*}"
STAGING_VERSION="v0.${K8S_VERSION#1.}"     # 1.37.1 -> v0.37.1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/envtest-assets-build.XXXXXX")"
if [[ "${KEEP_WORK:-0}" == 1 ]]; then log "keeping build directory $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
SECONDS=0

# ---------------------------------------------------------------- kube-apiserver (+ kubectl)
log "go $(go env GOVERSION): fetching k8s.io/kubernetes v${K8S_VERSION}"
if ! DL_JSON="$(cd "$WORK" && go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}")"; then
  echo "$DL_JSON" >&2
  log "could not download k8s.io/kubernetes v${K8S_VERSION} through the module proxy"
  exit 1
fi
K8S_GOMOD="$(echo "$DL_JSON" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
K8S_INFO="${K8S_GOMOD%.mod}.info"

mkdir -p "$WORK/k8s/bin"
{
  echo "module local/envtest-assets/k8s"
  echo
  # Same language version and GODEBUG defaults as Kubernetes' own build.
  grep -E '^(go|godebug) ' "$K8S_GOMOD"
  echo
  echo "require k8s.io/kubernetes v${K8S_VERSION}"
  echo
  echo "tool k8s.io/kubernetes/cmd/kube-apiserver"
  if [[ "$WITH_KUBECTL" == 1 ]]; then echo "tool k8s.io/kubernetes/cmd/kubectl"; fi
  echo
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
  # with ./staging/src/... which does not exist outside its repository:
  # point each of them at the published v0.<minor>.<patch> instead.
  echo "replace ("
  awk '
    /=> \.\/staging\//                 { staged[$1] = 1 }
    /^require \(/                      { inreq = 1; next }
    inreq && /^\)/                     { inreq = 0 }
    inreq && $2 == "v0.0.0"            { req[$1] = 1 }
    END { for (m in req) if (m in staged) print m }
  ' "$K8S_GOMOD" | sort | while read -r m; do
    echo "	$m => $m ${STAGING_VERSION}"
  done
  echo ")"
} > "$WORK/k8s/go.mod"

BUILD_DATE="$(sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$K8S_INFO" 2>/dev/null || true)"
LDFLAGS="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $p.gitVersion=v${K8S_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${K8S_MINOR}"
  LDFLAGS+=" -X $p.gitTreeState=clean -X $p.buildDate=${BUILD_DATE:-1970-01-01T00:00:00Z}"
done

(
  cd "$WORK/k8s"
  log "resolving kube-apiserver dependencies (go mod tidy)"
  go mod tidy
  log "building kube-apiserver v${K8S_VERSION} (the slow part: ~8 min on 2 cores with a cold build cache)"
  go build -trimpath -ldflags "$LDFLAGS" -o bin/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
  if [[ "$WITH_KUBECTL" == 1 ]]; then
    log "building kubectl v${K8S_VERSION}"
    go build -trimpath -ldflags "$LDFLAGS" -o bin/kubectl k8s.io/kubernetes/cmd/kubectl
  fi
)
log "kubernetes binaries done after ${SECONDS}s"

# ---------------------------------------------------------------- etcd
# etcd's own main package is in go.etcd.io/etcd/v3, whose go.mod has replace
# directives (so `go install` fails); its main() is a one-liner around
# go.etcd.io/etcd/server/v3/etcdmain, which is reproduced here.
mkdir -p "$WORK/etcd/bin"
cat > "$WORK/etcd/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
EOF
(
  cd "$WORK/etcd"
  go mod init local/envtest-assets/etcd >/dev/null 2>&1
  log "building etcd v${ETCD_VERSION}"
  go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}"
  go mod tidy
  go build -trimpath -ldflags "-s -w" -o bin/etcd .
)
log "etcd done after ${SECONDS}s"

# ---------------------------------------------------------------- install
# (no `| head` here: with pipefail, SIGPIPE in etcd would abort the script)
"$WORK/k8s/bin/kube-apiserver" --version >&2
"$WORK/etcd/bin/etcd" --version >&2

mkdir -p "$(dirname "$OUT_DIR")"
STAGE="$(mktemp -d "$(dirname "$OUT_DIR")/.stage.XXXXXX")"
cp "$WORK/k8s/bin/kube-apiserver" "$WORK/etcd/bin/etcd" "$STAGE/"
if [[ "$WITH_KUBECTL" == 1 ]]; then cp "$WORK/k8s/bin/kubectl" "$STAGE/"; fi
echo "$STAMP" > "$STAGE/.complete"
rm -rf "$OUT_DIR"
mv "$STAGE" "$OUT_DIR"
chmod 755 "$OUT_DIR"

log "installed into $OUT_DIR in ${SECONDS}s"
echo "$OUT_DIR"
