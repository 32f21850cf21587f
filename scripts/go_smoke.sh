#!/usr/bin/env bash
# Builds the Go client's smoke program in GOPATH mode (Debian's Go packages, no
# module downloads) and runs it against a live server on a fresh database.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted="$(gofmt -l clients/go)"
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting: $unformatted" >&2
  exit 1
fi
gopath="$(mktemp -d)"
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src"
ln -s "$PWD/clients/go" "$gopath/src/sessionsclient"
(
  cd "$gopath/src/sessionsclient"
  export GO111MODULE=off GOPATH="$gopath:/usr/share/gocode"
  go vet ./...
  go build -o "$gopath/smoke" ./cmd/smoke
)
.venv/bin/python -m tests.support.live_server -- "$gopath/smoke"
