#!/usr/bin/env bash
# Emergency restore, side by side, one run, same machine, alternating:
#   A: vaultdrill restore DIR OUT           (a local-path remote: read in place)
#   R: vaultdrill restore :local:DIR OUT    (the same folder through rclone's
#      local backend: batches downloaded while the last one is decrypted)
#   M: the manual route on the same data: rclone copy DIR COPY, gocryptfs -ro
#      COPY MNT, cp -a MNT/. OUT, fusermount3 -u (all of it timed)
# The issue's target: A at least 2x faster than M on a 1 GiB vault, peak
# memory bounded whatever the vault's size.
#
#   bash benches/restore.sh                  # 1 GiB mixed vault, 3 rounds
#   bash benches/restore.sh --size-mib 256 --runs 5
#   bash benches/restore.sh --smoke          # tiny, for CI: checks the harness runs
#
# Writes Markdown to target/bench/restore.md (or --out FILE) and the results
# as JSON beside it (same name, .json), and prints the Markdown.
# Needs gocryptfs, fusermount3, rclone, GNU time. No speed assertion.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=1024
runs=3
out_file=target/bench/restore.md
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) size_mib=8; runs=1 ;;
    --size-mib) size_mib=$2; shift ;;
    --runs) runs=$2; shift ;;
    --out) out_file=$2; shift ;;
    *) echo "usage: $0 [--smoke] [--size-mib N] [--runs N] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
. benches/tools.sh
need restore.sh gocryptfs fusermount3 rclone python3 /usr/bin/time

cargo build --release --quiet
bin=$PWD/target/release/vaultdrill
work=$(mktemp -d "${TMPDIR:-/var/tmp}/vaultdrill-restore-bench.XXXXXX")
mnt=$work/mnt
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt" "$(dirname "$out_file")"
export VAULTDRILL_STATE_DIR=$work/state RCLONE_CONFIG=/dev/null
printf 'benchmark password\n' > "$work/pass"

# A mixed tree (seeded): half in one large file, a quarter in 1 MiB files,
# the rest in small files of 4-60 KiB; a symlink and an empty folder.
python3 - "$work/plain" "$size_mib" <<'PY'
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2]) << 20
rnd = random.Random(42)
def put(rel, size):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        while size > 0:
            n = min(size, 1 << 20)
            f.write(rnd.randbytes(n))
            size -= n
put("large/big.bin", total // 2)
left = total - total // 2
mediums = max(1, (left // 2) >> 20)
for i in range(mediums):
    put(f"medium/{i // 50}/m{i}.bin", 1 << 20)
left -= mediums << 20
i = 0
while left > 0:
    size = min(left, rnd.randint(1, 15) * 4096)
    put(f"small/{i // 200}/s{i}.dat", size)
    left -= size
    i += 1
os.symlink("large/big.bin", os.path.join(root, "latest"))
os.makedirs(os.path.join(root, "empty-folder"))
PY
files=$(find "$work/plain" -type f | wc -l)

echo "building a ${size_mib} MiB vault with gocryptfs, pushing it to a local folder..." >&2
mkdir -p "$work/vault"
gocryptfs -init -q -nosyslog -passfile "$work/pass" "$work/vault"
gocryptfs -q -nosyslog -passfile "$work/pass" "$work/vault" "$mnt"
cp -a "$work/plain/." "$mnt/"
fusermount3 -u "$mnt"
"$bin" push -q "$work/vault" "$work/remote" --passfile "$work/pass"

timed() {
  local log=$1; shift
  /usr/bin/time -f "%e %M %P" -o "$work/time.out" "$@" >/dev/null
  cat "$work/time.out" >> "$log"
}
manual() {
  local round=$1
  rclone copy "$work/remote" "$work/copy-$round" --transfers 8 --links
  gocryptfs -ro -q -nosyslog -passfile "$work/pass" "$work/copy-$round" "$mnt"
  cp -a "$mnt/." "$work/out-m-$round"
  fusermount3 -u "$mnt"
}
export -f manual
export work mnt
: > "$work/a.log"; : > "$work/r.log"; : > "$work/m.log"
for round in $(seq 1 "$runs"); do
  echo "round $round/$runs" >&2
  sync
  timed "$work/a.log" "$bin" restore -q "$work/remote" "$work/out-a-$round" --passfile "$work/pass" --report "$work/a.md"
  sync
  timed "$work/m.log" bash -c "manual $round"
  sync
  timed "$work/r.log" "$bin" restore -q ":local:$work/remote" "$work/out-r-$round" --passfile "$work/pass" --report "$work/r.md"
  # The same tree every way (content, names, links, modes; .vaultdrill is
  # the manual route's: it copies the manifest folder out too).
  diff -r --no-dereference "$work/out-a-$round" "$work/plain"
  diff -r --no-dereference "$work/out-r-$round" "$work/plain"
  diff -r --no-dereference -x .vaultdrill "$work/out-m-$round" "$work/plain"
  rm -rf "$work/out-a-$round" "$work/out-r-$round" "$work/out-m-$round" "$work/copy-$round"
done
# Peak memory on a tenth of the data: bounded if it barely moves.
python3 - "$work/plain-small" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(1)
os.makedirs(root)
for i in range(64):
    with open(os.path.join(root, f"f{i}.bin"), "wb") as f:
        f.write(rnd.randbytes(64 << 10))
PY
mkdir -p "$work/vault-small"
gocryptfs -init -q -nosyslog -passfile "$work/pass" "$work/vault-small"
"$bin" encrypt -q "$work/plain-small" "$work/vault-small" --passfile "$work/pass"
"$bin" push -q "$work/vault-small" "$work/remote-small" --passfile "$work/pass"
timed "$work/small.log" "$bin" restore -q "$work/remote-small" "$work/out-small" --passfile "$work/pass" --report "$work/s.md"

python3 - "$work" "$size_mib" "$files" "$runs" "$(nproc)" "$out_file" <<'PY'
import json, statistics, sys
work, size_mib, files, runs, cores, out = sys.argv[1:]
size_mib = int(size_mib)
def load(name):
    rows = [l.split() for l in open(f"{work}/{name}") if l.strip()]
    return [(float(s), int(r), int(c.rstrip('%') or 0)) for s, r, c in rows]
a, r, m, small = (load(n) for n in ("a.log", "r.log", "m.log", "small.log"))
med = lambda rows, i: statistics.median(x[i] for x in rows)
ta, tr, tm = med(a, 0), med(r, 0), med(m, 0)
rate = lambda t: size_mib / t if t > 0 else float("inf")
lines = [
    "# Emergency restore: vaultdrill restore vs the manual route",
    "",
    f"{size_mib} MiB vault ({files} files: one large, 1 MiB files, small files; a symlink, an empty folder), "
    f"made by gocryptfs 2.3 (AES-256-GCM) and pushed with `vaultdrill push` to a local folder; "
    f"{runs} alternating rounds, {cores} cores, warm page cache. Medians; every output diffed against the original.",
    "",
    "| | seconds | MiB/s | peak RSS | CPU |",
    "|---|---:|---:|---:|---:|",
    f"| A: vaultdrill restore DIR OUT (read in place, verified against the manifest) | {ta:.2f} | {rate(ta):.0f} | {med(a,1)/1024:.1f} MiB | {med(a,2):.0f} % |",
    f"| R: vaultdrill restore :local:DIR OUT (through rclone, pipelined) | {tr:.2f} | {rate(tr):.0f} | {med(r,1)/1024:.1f} MiB | {med(r,2):.0f} % |",
    f"| M: rclone copy + gocryptfs -ro mount + cp -a + unmount | {tm:.2f} | {rate(tm):.0f} | {med(m,1)/1024:.1f} MiB (largest process) | {med(m,2):.0f} % |",
    f"| **ratio M / A (target >= 2x)** | **{tm/ta:.2f}x** | | | |",
    f"| **ratio M / R** | **{tm/tr:.2f}x** | | | |",
    "",
    f"Peak RSS of vaultdrill restore: {med(small,1)/1024:.1f} MiB on a 4 MiB vault, {med(a,1)/1024:.1f} MiB (A) and "
    f"{med(r,1)/1024:.1f} MiB (R) on the {size_mib} MiB vault.",
]
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
def pair(name, ours, rows, t_ours, target):
    return {"name": name, "ours": ours, "theirs": "rclone copy + gocryptfs -ro mount + cp -a + unmount",
            "theirs_short": "manual route", "ours_s": t_ours, "theirs_s": tm, "ratio": tm / t_ours,
            "target": target, "ours_cpu": med(rows, 2), "ours_rss_mib": med(rows, 1) / 1024}
result = {
    "title": "restore", "dataset": "mixed", "size_mib": size_mib, "files": int(files), "runs": int(runs),
    # The target is the read-in-place restore's; through rclone has none.
    "pairs": [pair("restore", "vaultdrill restore DIR", a, ta, 2.0),
              pair("restore via rclone", "vaultdrill restore :local:DIR", r, tr, None)],
    "rss_max_mib": max(max(x[1] for x in rows) for rows in (a, r, small)) / 1024,
}
json_out = out[:-3] + ".json" if out.endswith(".md") else out + ".json"
json.dump(result, open(json_out, "w"), indent=1)
PY
