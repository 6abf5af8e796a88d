#!/usr/bin/env bash
# The demo, end to end on the bundled vault (password "demo"): push it to a
# local "remote" (a folder standing in for an external disk or a bucket),
# check the remote object by object, scrub the vault against its manifest,
# and restore from the remote copy. Nothing outside a new temporary folder
# is touched.
#
#   bash demo/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/vaultdrill
work=$(mktemp -d)
export VAULTDRILL_STATE_DIR="$work/state"
cp -a demo/vault "$work/vault"
mkdir -p "$work/remote/vault"

step() { printf '\n==> %s\n' "$*"; }
step "vaultdrill push: manifest, sync to the remote folder, remote check"
"$bin" push "$work/vault" "$work/remote/vault" --passfile demo/password
step "vaultdrill verify: every block and every hash against the manifest"
"$bin" verify "$work/vault" --passfile demo/password
step "vaultdrill decrypt: restore from the remote copy"
"$bin" decrypt "$work/remote/vault" "$work/restored" --passfile demo/password
(cd "$work/restored" && find . -type f -o -type l | sort)
step "done; everything is under $work"
