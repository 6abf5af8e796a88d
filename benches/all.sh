#!/usr/bin/env bash
# Every benchmark in one command, one report. Runs, on this machine, in this
# order (each side by side with the gocryptfs route, alternating rounds):
#   compare.sh --dataset large  (one 1 GiB file)
#   compare.sh --dataset small  (20 000 files of 4 KiB)
#   compare.sh --dataset mixed  (a 1 GiB tree: one large file, 1 MiB files, small files)
#   restore.sh                  (restore of a 1 GiB vault vs rclone copy + mount + cp)
#   cargo bench --bench micro   (criterion: blocks per cipher, names, scrypt unlock, BLAKE3)
# and merges them with benches/report.py into target/bench/report.md (every
# pair, its ratio and its target, peak RSS, CPU, the ceilings) and
# target/bench/report.svg (the ratios as a chart). Each part also keeps its
# own detailed table (target/bench/{large,small,mixed,restore}.md).
#
#   bash benches/all.sh              # the full run: ~15 min, ~25 GiB of free disk
#   bash benches/all.sh --runs 5     # more rounds per pair (default 3)
#   bash benches/all.sh --no-micro   # without the criterion run
#   bash benches/all.sh --smoke      # tiny data, one round, no criterion (CI)
#
# Nothing here asserts a speed: the targets are read off the report.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
smoke=0
micro=1
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1; runs=1; micro=0 ;;
    --runs) runs=$2; shift ;;
    --no-micro) micro=0 ;;
    *) echo "usage: $0 [--smoke] [--runs N] [--no-micro]" >&2; exit 2 ;;
  esac
  shift
done

# Every tool any part needs, checked before the first dataset is built.
. benches/tools.sh
need all.sh gocryptfs fusermount3 rclone openssl python3 /usr/bin/time

dir=target/bench
mkdir -p "$dir"
if [ "$smoke" = 1 ]; then
  size=(--smoke)
  restore_size=(--smoke)
else
  size=(--size-mib 1024 --runs "$runs")
  restore_size=(--size-mib 1024 --runs "$runs")
fi
started=$(date +%s)
for dataset in large small mixed; do
  echo "== compare.sh --dataset $dataset" >&2
  bash benches/compare.sh --dataset "$dataset" "${size[@]}" --out "$dir/$dataset.md" > /dev/null
done
echo "== restore.sh" >&2
bash benches/restore.sh "${restore_size[@]}" --out "$dir/restore.md" > /dev/null
if [ "$micro" = 1 ]; then
  echo "== cargo bench --bench micro" >&2
  cargo bench --quiet --bench micro -- --warm-up-time 1 --measurement-time 3 2>/dev/null \
    | grep -E "time:|thrpt:|^[a-z].*/" | grep -v "%" > "$dir/micro.txt"
fi

python3 benches/report.py "$dir/report.md" "$dir/large.json" "$dir/small.json" "$dir/mixed.json" "$dir/restore.json" > /dev/null
{
  echo
  echo "## Details"
  echo
  for part in large small mixed restore; do
    echo "- \`$dir/$part.md\`"
  done
  if [ "$micro" = 1 ]; then
    echo
    echo "## Micro-benchmarks (criterion, \`cargo bench --bench micro\`)"
    echo
    echo '```'
    cat "$dir/micro.txt"
    echo '```'
  fi
  echo
  echo "All of it in $(( $(date +%s) - started )) s on $(nproc) cores, $(date -u +%Y-%m-%d)."
} >> "$dir/report.md"
cat "$dir/report.md"
echo "chart: $dir/report.svg"
