#!/usr/bin/env bash
# Fails when the contract (protos/) breaks compatibility with the contract as it
# stood on the previous commit (HEAD~1, or $BREAKING_AGAINST), under buf.yaml's
# FILE rules. The old contract is exported with `git archive`, which works in
# worktrees and needs no .git directory layout from buf.
set -euo pipefail
cd "$(dirname "$0")/.."
buf="${1:-node_modules/.bin/buf}"
against="${BREAKING_AGAINST:-HEAD~1}"
if ! git rev-parse --verify --quiet "$against^{commit}" >/dev/null; then
  if [ -n "${BREAKING_AGAINST:-}" ]; then
    echo "buf breaking: no commit $BREAKING_AGAINST" >&2
    exit 1
  fi
  echo "buf breaking: no previous commit (the first one): nothing to compare with"
  exit 0
fi
if ! git cat-file -e "$against:protos/sessions/v1/sessions.proto" 2>/dev/null; then
  echo "buf breaking: $against has no contract yet: nothing to check"
  exit 0
fi
old="$(mktemp -d)"
trap 'rm -rf "$old"' EXIT
git archive "$against" buf.yaml protos | tar -x -C "$old"
"$buf" breaking --against "$old"
echo "buf breaking: the contract is compatible with $against ($(git rev-parse --short "$against"))"
