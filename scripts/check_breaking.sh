#!/usr/bin/env bash
# Fails when the contract (protos/) breaks compatibility, under buf.yaml's FILE
# rules, with any version of it in the history: every commit that changed
# protos/ or buf.yaml (or only $BREAKING_AGAINST). Against every version, not
# just the previous commit, so that a break made earlier in a series of commits
# cannot land behind a later one. Old contracts are exported with `git archive`,
# which works in worktrees and needs no .git directory layout from buf.
set -euo pipefail
cd "$(dirname "$0")/.."
buf="${1:-node_modules/.bin/buf}"
if [ -n "${BREAKING_AGAINST:-}" ]; then
  if ! git rev-parse --verify --quiet "$BREAKING_AGAINST^{commit}" >/dev/null; then
    echo "buf breaking: no commit $BREAKING_AGAINST" >&2
    exit 1
  fi
  revisions=("$BREAKING_AGAINST")
else
  mapfile -t revisions < <(git log --format=%h -- protos buf.yaml)
fi
old="$(mktemp -d)"
trap 'rm -rf "$old"' EXIT
checked=()
for revision in "${revisions[@]}"; do
  if ! git cat-file -e "$revision:protos/sessions/v1/sessions.proto" 2>/dev/null; then
    continue  # before the contract existed
  fi
  rm -rf "${old:?}"/*
  git archive "$revision" buf.yaml protos | tar -x -C "$old"
  "$buf" breaking --against "$old"
  checked+=("$revision")
done
if [ ${#checked[@]} -eq 0 ]; then
  echo "buf breaking: no earlier contract in the history: nothing to compare with"
else
  echo "buf breaking: the contract is compatible with ${checked[*]}"
fi
