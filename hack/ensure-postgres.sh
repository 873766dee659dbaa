#!/usr/bin/env bash
# ensure-postgres.sh: make sure PostgreSQL server binaries (initdb, pg_ctl,
# postgres) are on this machine, installing Debian's postgresql package when
# they are not. Prints the directory that holds them.
set -euo pipefail

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/pg_ctl" && -x "$d/initdb" && -x "$d/postgres" ]]; then echo "$d"; return 0; fi
  done
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null && command -v postgres >/dev/null; then
    dirname "$(command -v pg_ctl)"; return 0
  fi
  return 1
}

if dir="$(find_bin)"; then echo "$dir"; exit 0; fi

echo "PostgreSQL server binaries not found; installing Debian's postgresql package" >&2
SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq postgresql >&2
find_bin || { echo "postgresql was installed but initdb/pg_ctl/postgres are still missing" >&2; exit 1; }
