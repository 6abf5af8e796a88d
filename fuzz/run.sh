#!/usr/bin/env bash
# Runs every fuzz target (cargo fuzz, libFuzzer) for a fixed time, with a
# corpus seeded from testdata (real gocryptfs configs, names, files, a
# manifest, rclone output). A crash stops the script with libFuzzer's
# report and the input under fuzz/artifacts/<target>/; turn it into a
# regression test next to the code's other tests before fixing it.
#
#   bash fuzz/run.sh                  # 60 s per target
#   bash fuzz/run.sh --seconds 10     # what CI runs
#   bash fuzz/run.sh --seconds 600 content
#
# Needs a nightly Rust toolchain (`.ci/run` installs it) and a C++
# compiler (libFuzzer is built from source). The targets are built with the
# flags `cargo fuzz build --sanitizer none` uses, so `cargo +nightly fuzz
# run TARGET` works the same where cargo-fuzz is installed.
set -euo pipefail
cd "$(dirname "$0")"
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift ;;
    -*) echo "usage: $0 [--seconds N] [TARGET...]" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=(config names content manifest rclone_json)

seeds=$(mktemp -d)
state=$(mktemp -d)
trap 'rm -rf "$seeds" "$state"' EXIT
testdata=../testdata
for t in config names content manifest rclone_json; do mkdir -p "corpus/$t"; done

# config: every fixture's gocryptfs.conf and the hand-made ones.
for f in "$testdata"/vaults/*/gocryptfs.conf "$testdata"/configs/*; do
  [ -f "$f" ] && cp "$f" "corpus/config/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
done
cp "$testdata"/vaults/default/masterkey corpus/config/seed-masterkey
# names and content: entries of the default vault (flag byte, its root
# diriv, a name; a flag byte and a small file).
tar -xf "$testdata"/vaults/default/cipher.tar -C "$seeds"
i=0
for f in "$seeds"/*; do
  name=$(basename "$f")
  { printf '\0'; head -c 16 "$seeds/gocryptfs.diriv"; printf '%s' "$name"; } > "corpus/names/seed-$i"
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 70000 ]; then
    { printf '\0'; cat "$f"; } > "corpus/content/seed-$i"
  fi
  i=$((i + 1))
done
# manifest: one made by vaultdrill for the default vault.
cargo build --release --quiet --manifest-path ../Cargo.toml
VAULTDRILL_STATE_DIR="$state" ../target/release/vaultdrill manifest -q "$seeds" \
  --passfile "$testdata/password"
cp "$state"/vaults/*/manifest.jsonl corpus/manifest/seed-default
# rclone: lsjson lines, JSON log lines, a plain-text failure.
cat > corpus/rclone_json/seed-0 <<'JSON'
[
{"Path":"gocryptfs.conf","Name":"gocryptfs.conf","Size":402,"ModTime":"2026-12-04T10:00:00Z","IsDir":false,"Hashes":{"md5":"0f3a"}},
{"Path":"a/b","Size":-1},
]
{"level":"notice","msg":"stats","stats":{"bytes":1024,"totalBytes":2048,"transfers":1,"totalTransfers":2}}
{"level":"error","msg":"Failed to copy: connection reset by peer"}
2026/12/04 22:18:58 CRITICAL: Failed to create file system for "b2:x": didn't find section in config file
JSON

host=$(rustc -vV | sed -n 's/^host: //p')
flags=(-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0 --cfg fuzzing -Cdebug-assertions)
echo "==> building the fuzz targets (nightly)" >&2
RUSTFLAGS="${flags[*]}" cargo +nightly build --release --quiet --bins --target "$host"
for t in "${targets[@]}"; do
  echo "==> fuzz $t for ${seconds}s" >&2
  mkdir -p "artifacts/$t"
  "target/$host/release/$t" -artifact_prefix="artifacts/$t/" "corpus/$t" \
    -max_total_time="$seconds" -max_len=200000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    2> "target/$t.log" || { cat "target/$t.log" >&2; echo "fuzz $t: a crash, input in fuzz/artifacts/$t/" >&2; exit 1; }
  grep -E '^(Done|stat::number_of_executed_units)' "target/$t.log" >&2 || true
done
