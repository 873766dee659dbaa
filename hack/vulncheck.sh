#!/usr/bin/env bash
# vulncheck.sh GOVULNCHECK VULNDB_VERSION
# Runs govulncheck over every package of the module against a Go
# vulnerability database built from golang.org/x/vulndb at VULNDB_VERSION
# ("latest" for the newest), fetched through the Go module proxy: the only
# place it can come from on a machine that reaches nothing else. The database
# is built once per version into bin/vulndb/. Fails on any reachable finding.
set -euo pipefail
govulncheck="$1" version="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Module queries run outside the module, so they never touch go.mod or go.sum.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
if [[ "$version" == latest ]]; then
  version="$(cd "$scratch" && go list -m -f '{{.Version}}' golang.org/x/vulndb@latest)"
fi
db="$root/bin/vulndb/$version"
if [[ ! -f "$db/index/db.json" ]]; then
  indexdb="$root/bin/tools/indexdb-$version"
  [[ -x "$indexdb" ]] || "$root/hack/go-install-tool.sh" "$indexdb" golang.org/x/vulndb/cmd/indexdb "$version"
  src="$(cd "$scratch" && go mod download -json "golang.org/x/vulndb@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  echo "building the vulnerability database golang.org/x/vulndb@$version" >&2
  rm -rf "$db.tmp" && mkdir -p "$(dirname "$db")"
  "$indexdb" -vulns "$src/data/osv" -out "$db.tmp"
  mv "$db.tmp" "$db"
fi
echo "govulncheck with $(go env GOVERSION) against golang.org/x/vulndb@$version" >&2
cd "$root"
"$govulncheck" -db "file://$db" ./...
