#!/usr/bin/env bash
# Side-by-side benchmark, one run, same machine, alternating A B A B:
#   decrypt:  vaultdrill decrypt VAULT OUT  vs  cp -r out of a read-only gocryptfs mount
#   encrypt:  vaultdrill encrypt PLAIN NEWVAULT  vs  cp -r PLAIN into a gocryptfs mount
#   export:   vaultdrill export PLAIN NEWDIR  vs  cp -r out of a gocryptfs -reverse mount
#             (the gocryptfs side is timed as a user waits for it: mount,
#             which runs the same scrypt unlock vaultdrill's time includes,
#             + cp -r + unmount; the cp alone is reported beside it)
#   manifest: a full build (every file decrypted and hashed) next to decrypt,
#             and the CPU time of refreshing an unchanged 10 000-file vault
#   verify:   vaultdrill verify VAULT  vs  gocryptfs -fsck VAULT
# plus peak memory on a small and on the full vault, what writing the same
# bytes costs here (dd into a new file, through the page cache and
# O_DIRECT), and the ceilings: openssl's AES-256-GCM and ChaCha20-Poly1305,
# one core and all cores, and `cargo bench --bench ceiling` (BLAKE3,
# vaultdrill's own block open, its decrypt pipeline without the write).
#
#   bash benches/compare.sh                 # 512 MiB mixed vault, 5 rounds
#   bash benches/compare.sh --size-mib 2048 --runs 7
#   bash benches/compare.sh --dataset large --size-mib 1024   # one 1 GiB file
#   bash benches/compare.sh --dataset small                   # 20 000 files of 4 KiB
#   bash benches/compare.sh --smoke         # tiny, for CI: checks the harness runs
#
# Writes a Markdown table to target/bench/compare.md (or --out FILE), the
# results as JSON and an SVG chart of the ratios beside it (same name,
# .json and .svg; benches/all.sh merges several), and prints the table.
# Needs gocryptfs, fusermount3, GNU time (/usr/bin/time), openssl.
# Speed targets are judged by reading the ratios, never asserted here.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=512
runs=5
out_file=target/bench/compare.md
smoke=0
dataset=mixed
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1; size_mib=8; runs=1 ;;
    --size-mib) size_mib=$2; shift ;;
    --runs) runs=$2; shift ;;
    --out) out_file=$2; shift ;;
    --dataset) dataset=$2; shift ;;
    *) echo "usage: $0 [--smoke] [--dataset mixed|large|small] [--size-mib N] [--runs N] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done

. benches/tools.sh
need compare.sh gocryptfs fusermount3 openssl python3 /usr/bin/time

cargo build --release --quiet
bin=$PWD/target/release/vaultdrill

work=$(mktemp -d "${TMPDIR:-/var/tmp}/vaultdrill-bench.XXXXXX")
mnt=$work/mnt
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt" "$(dirname "$out_file")"
printf 'benchmark password\n' > "$work/pass"

case "$dataset" in
  mixed|large|small) ;;
  *) echo "compare.sh: --dataset is mixed, large or small" >&2; exit 2 ;;
esac
# small: 20 000 files of 4 KiB (200 for --smoke), whatever --size-mib says.
if [ "$dataset" = small ]; then
  small_files=20000
  [ "$smoke" = 1 ] && small_files=200
  size_mib=$(( (small_files * 4 + 1023) / 1024 ))
fi

# The datasets, seeded: mixed (half in one large file, a quarter in 1 MiB
# files, the rest in small files of 4-60 KiB), large (one file), small
# (4 KiB files, 200 a folder).
make_plain() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, random, sys
root, total, dataset = sys.argv[1], int(sys.argv[2]) << 20, sys.argv[3]
rnd = random.Random(42)
os.makedirs(root)
def put(rel, size):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        while size > 0:
            n = min(size, 1 << 20)
            f.write(rnd.randbytes(n))
            size -= n
if dataset == "large":
    put("large/one.bin", total)
    sys.exit(0)
if dataset == "small":
    for i in range(total // 4096):
        put(f"small/{i // 200:03d}/s{i:05d}.dat", 4096)
    sys.exit(0)
put("large/big.bin", total // 2)
left = total - total // 2
for i in range(max(1, (left // 2) >> 20)):
    put(f"medium/{i // 50}/m{i}.bin", 1 << 20)
left -= max(1, (left // 2) >> 20) << 20
i = 0
while left > 0:
    size = min(left, rnd.randint(1, 15) * 4096)
    put(f"small/{i // 200}/s{i}.dat", size)
    left -= size
    i += 1
PY
}

# Encrypts a plaintext tree into a new vault through a real gocryptfs mount.
make_vault() {
  local plain=$1 cipher=$2
  mkdir -p "$cipher"
  gocryptfs -init -q -nosyslog -passfile "$work/pass" "$cipher"
  gocryptfs -q -nosyslog -passfile "$work/pass" "$cipher" "$mnt"
  cp -r "$plain/." "$mnt/"
  fusermount3 -u "$mnt"
}

echo "building a ${size_mib} MiB $dataset vault with gocryptfs..." >&2
make_plain "$work/plain" "$size_mib" "$dataset"
make_vault "$work/plain" "$work/vault"
make_plain "$work/plain-small" 10 mixed
make_vault "$work/plain-small" "$work/vault-small"
files=$(find "$work/plain" -type f | wc -l)

# Runs a command under GNU time; appends "seconds rss_kib cpu%" to $1.
# Before each timed command: dirty pages flushed, and its input read once,
# so both sides start from a warm page cache (each round writes several
# times the vault's size, which would otherwise push the input out and
# measure the disk instead).
settle() {
  sync
  find "$@" -type f -exec cat {} + > /dev/null
}

# Fails (logging nothing) when the command fails.
timed() {
  local log=$1 status=0; shift
  /usr/bin/time -f "%e %M %P" -o "$work/time.out" "$@" >/dev/null || status=$?
  [ "$status" = 0 ] && cat "$work/time.out" >> "$log"
  return "$status"
}

for log in a b bm bu c d dm du e f fm fu; do
  : > "$work/$log.log"
done
: > "$work/g.log"
: > "$work/h.log"
: > "$work/i.log"
: > "$work/refresh.log"
# Manifests are written into the vault: a copy of it, and state in $work.
export VAULTDRILL_STATE_DIR="$work/state"
cp -a "$work/vault" "$work/vault-m"
# The refresh case: many small files (10 000; 200 for --smoke).
many=10000
[ "$smoke" = 1 ] && many=200
mkdir -p "$work/plain-many" "$work/vault-many"
python3 - "$work/plain-many" "$many" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.txt"), "wb") as f:
        f.write(os.urandom(512 + (i * 37) % 3000))
PY
gocryptfs -init -q -nosyslog -passfile "$work/pass" "$work/vault-many"
"$bin" encrypt -q "$work/plain-many" "$work/vault-many" --passfile "$work/pass"
"$bin" manifest -q "$work/vault-many" --passfile "$work/pass"
gocryptfs -init -reverse -q -nosyslog -passfile "$work/pass" "$work/plain"
# Every run writes a fresh folder and nothing is deleted until the end:
# ext4 makes creating files right after deleting many of them slow
# (`recently_deleted` in inode allocation), which would measure the file
# system's bookkeeping, not the work. Needs 6 x runs x size of free disk.
for round in $(seq 1 "$runs"); do
  echo "round $round/$runs" >&2
  settle "$work/vault"
  timed "$work/a.log" "$bin" decrypt -q "$work/vault" "$work/out-a-$round" --passfile "$work/pass"
  timed "$work/bm.log" gocryptfs -ro -q -nosyslog -passfile "$work/pass" "$work/vault" "$mnt"
  settle "$work/vault"
  timed "$work/b.log" cp -r "$mnt/." "$work/out-b-$round"
  timed "$work/bu.log" fusermount3 -u "$mnt"
  # Encryption into fresh vaults (made untimed, default scrypt cost).
  mkdir "$work/enc-c-$round" "$work/enc-d-$round"
  gocryptfs -init -q -nosyslog -passfile "$work/pass" "$work/enc-c-$round"
  gocryptfs -init -q -nosyslog -passfile "$work/pass" "$work/enc-d-$round"
  settle "$work/plain"
  timed "$work/c.log" "$bin" encrypt -q "$work/plain" "$work/enc-c-$round" --passfile "$work/pass"
  timed "$work/dm.log" gocryptfs -q -nosyslog -passfile "$work/pass" "$work/enc-d-$round" "$mnt"
  settle "$work/plain"
  timed "$work/d.log" cp -r "$work/plain/." "$mnt/"
  timed "$work/du.log" fusermount3 -u "$mnt"
  # The reverse view, written out.
  settle "$work/plain"
  timed "$work/e.log" "$bin" export -q "$work/plain" "$work/out-e-$round" --passfile "$work/pass"
  timed "$work/fm.log" gocryptfs -reverse -ro -q -nosyslog -passfile "$work/pass" "$work/plain" "$mnt"
  settle "$work/plain"
  timed "$work/f.log" cp -r "$mnt/." "$work/out-f-$round"
  timed "$work/fu.log" fusermount3 -u "$mnt"
  # A full manifest build (decrypts and hashes everything, writes nothing
  # but the manifest), and a refresh of the unchanged many-file vault.
  settle "$work/vault-m"
  timed "$work/g.log" "$bin" manifest -q --rehash "$work/vault-m" --passfile "$work/pass"
  /usr/bin/time -f "%e %U %S" -o "$work/time.out" "$bin" manifest -q "$work/vault-many" --passfile "$work/pass"
  cat "$work/time.out" >> "$work/refresh.log"
  # A full scrub: vaultdrill verify (against the manifest) vs gocryptfs
  # -fsck (authenticates every block), on the same vault.
  settle "$work/vault-m"
  timed "$work/h.log" "$bin" verify -q "$work/vault-m" --passfile "$work/pass"
  settle "$work/vault-m"
  timed "$work/i.log" gocryptfs -fsck -q -nosyslog -passfile "$work/pass" "$work/vault-m"
done
timed "$work/small.log" "$bin" decrypt -q "$work/vault-small" "$work/out-small" --passfile "$work/pass"

# What writing the output costs here, whatever writes it: the same number
# of bytes into a new file through the page cache, and straight to the disk.
# (Each removed at once: one file, none of ext4's slowness after deleting
# many.) A file system that refuses O_DIRECT gets "n/a" for that row.
for round in $(seq 1 "$runs"); do
  sync
  timed "$work/dd-cache.log" dd if=/dev/zero of="$work/dd-cache" bs=1M count="$size_mib" status=none
  rm -f "$work/dd-cache"
  sync
  if ! timed "$work/dd-direct.log" dd if=/dev/zero of="$work/dd-direct" bs=4M count=$(( (size_mib + 3) / 4 )) oflag=direct status=none 2>/dev/null; then
    echo "0 0 0%" >> "$work/dd-direct.log"
  fi
  rm -f "$work/dd-direct"
done

# Ceilings: openssl's AEADs on 8 KiB buffers, one core and all cores, and
# vaultdrill's own crates in-process (BLAKE3, block open, the decrypt
# pipeline without its write).
cores=$(nproc)
ossl_secs=3
[ "$smoke" = 1 ] && ossl_secs=1
ossl() {
  local alg=$1; shift
  openssl speed "$@" -seconds "$ossl_secs" -evp "$alg" 2>/dev/null | awk -v a="$alg" 'tolower($1) == a { print $(NF-1) }'
}
gcm_one=$(ossl aes-256-gcm)
gcm_all=$(ossl aes-256-gcm -multi "$cores")
chacha_one=$(ossl chacha20-poly1305)
chacha_all=$(ossl chacha20-poly1305 -multi "$cores")
quick=()
[ "$smoke" = 1 ] && quick=(--quick)
cargo bench --quiet --bench ceiling -- "${quick[@]}" >&2

python3 - "$work" "$size_mib" "$files" "$runs" "$cores" "$out_file" "$many" "$dataset" \
  "$gcm_one" "$gcm_all" "$chacha_one" "$chacha_all" target/bench/ceiling.json <<'PY'
import json, statistics, sys
(work, size_mib, files, runs, cores, out, many, dataset,
 gcm_one, gcm_all, chacha_one, chacha_all, ceiling_json) = sys.argv[1:]
shape = {"mixed": "one large, 1 MiB files, small files", "large": "one file", "small": "4 KiB files"}[dataset]
size_mib = int(size_mib)
def load(name):
    rows = [l.split() for l in open(f"{work}/{name}") if l.strip()]
    return [(float(s), int(r), int(c.rstrip('%') or 0)) for s, r, c in rows]
a, b, c, d, e, f, g, h, i_, small, ddc, ddd = (load(n) for n in (
    "a.log", "b.log", "c.log", "d.log", "e.log", "f.log", "g.log", "h.log", "i.log",
    "small.log", "dd-cache.log", "dd-direct.log"))
refresh = [tuple(float(x) for x in l.split()) for l in open(f"{work}/refresh.log") if l.strip()]
med = lambda rows, i: statistics.median(r[i] for r in rows)
# A mount route as a user waits for it, round by round: mount (its scrypt
# unlock) + cp + unmount.
def whole(mount, cp, unmount):
    return [(m[0] + c[0] + u[0], c[1], c[2]) for m, c, u in zip(mount, cp, unmount)]
b_all, d_all, f_all = (whole(load(f"{x}m.log"), rows, load(f"{x}u.log"))
                       for x, rows in (("b", b), ("d", d), ("f", f)))
ta, tb, tc, td, te, tf, tg, th, ti, tdc, tdd = (med(x, 0) for x in (a, b, c, d, e, f, g, h, i_, ddc, ddd))
tB, tD, tF = (med(x, 0) for x in (b_all, d_all, f_all))
r_wall = statistics.median(r[0] for r in refresh)
r_cpu = statistics.median(r[1] + r[2] for r in refresh)
rate = lambda t: size_mib / t if t > 0 else float("inf")
def mib_s(v):  # openssl prints kB/s of 1000 bytes
    return float(v.rstrip("k")) * 1000 / (1 << 20) if v else 0.0
g1, ga, c1, ca = (mib_s(v) for v in (gcm_one, gcm_all, chacha_one, chacha_all))
inproc = json.load(open(ceiling_json))
lines = [
    f"# vaultdrill vs gocryptfs mount + cp -r",
    "",
    f"{size_mib} MiB {dataset} vault ({files} files: {shape}), default gocryptfs 2.3 vault (AES-256-GCM), "
    f"{runs} alternating rounds, warm page cache for both, {cores} cores. Medians.",
    "",
    "| | seconds | MiB/s | peak RSS | CPU |",
    "|---|---:|---:|---:|---:|",
    f"| vaultdrill decrypt (incl. scrypt unlock) | {ta:.2f} | {rate(ta):.0f} | {med(a,1)/1024:.1f} MiB | {med(a,2):.0f} % |",
    f"| gocryptfs -ro mount + cp -r out of it + unmount | {tB:.2f} | {rate(tB):.0f} | {med(b,1)/1024:.1f} MiB (cp only) | {med(b,2):.0f} % (cp only) |",
    f"| of which cp -r alone | {tb:.2f} | {rate(tb):.0f} | | |",
    f"| **decrypt ratio (mount route / vaultdrill)**; cp alone / vaultdrill | **{tB/ta:.2f}x**; {tb/ta:.2f}x | | | |",
    f"| vaultdrill encrypt into a new vault (incl. scrypt unlock) | {tc:.2f} | {rate(tc):.0f} | {med(c,1)/1024:.1f} MiB | {med(c,2):.0f} % |",
    f"| gocryptfs mount + cp -r into it + unmount | {tD:.2f} | {rate(tD):.0f} | {med(d,1)/1024:.1f} MiB (cp only) | {med(d,2):.0f} % (cp only) |",
    f"| of which cp -r alone | {td:.2f} | {rate(td):.0f} | | |",
    f"| **encrypt ratio (mount route / vaultdrill)**; cp alone / vaultdrill | **{tD/tc:.2f}x**; {td/tc:.2f}x | | | |",
    f"| vaultdrill export (reverse view, incl. scrypt unlock) | {te:.2f} | {rate(te):.0f} | {med(e,1)/1024:.1f} MiB | {med(e,2):.0f} % |",
    f"| gocryptfs -reverse mount + cp -r out of it + unmount | {tF:.2f} | {rate(tF):.0f} | {med(f,1)/1024:.1f} MiB (cp only) | {med(f,2):.0f} % (cp only) |",
    f"| of which cp -r alone | {tf:.2f} | {rate(tf):.0f} | | |",
    f"| **export ratio (mount route / vaultdrill)**; cp alone / vaultdrill | **{tF/te:.2f}x**; {tf/te:.2f}x | | | |",
    f"| vaultdrill manifest --rehash (full build: decrypt + BLAKE3 every file) | {tg:.2f} | {rate(tg):.0f} | {med(g,1)/1024:.1f} MiB | {med(g,2):.0f} % |",
    f"| **full manifest build vs decrypt (decrypt time / build time)** | **{ta/tg:.2f}x** | | | |",
    f"| vaultdrill verify (every block and every hash against the manifest) | {th:.2f} | {rate(th):.0f} | {med(h,1)/1024:.1f} MiB | {med(h,2):.0f} % |",
    f"| gocryptfs -fsck (every block authenticated) | {ti:.2f} | {rate(ti):.0f} | {med(i_,1)/1024:.1f} MiB | {med(i_,2):.0f} % |",
    f"| **verify ratio (fsck / vaultdrill)** | **{ti/th:.2f}x** | | | |",
    f"| dd of {size_mib} MiB into a new file, through the page cache (what any writer pays) | {tdc:.2f} | {rate(tdc):.0f} | | {med(ddc,2):.0f} % |",
    (f"| dd of {size_mib} MiB into a new file, O_DIRECT (the disk) | {tdd:.2f} | {rate(tdd):.0f} | | {med(ddd,2):.0f} % |"
     if tdd > 0 else f"| dd of {size_mib} MiB into a new file, O_DIRECT (the disk) | n/a (refused here) | | | |"),
    "",
    f"Manifest refresh of an unchanged {int(many)}-file vault (nothing re-read): "
    f"{r_cpu:.2f} s of CPU (user + system, incl. scrypt unlock), {r_wall:.2f} s wall (medians of {len(refresh)}).",
    "",
    f"Peak RSS of vaultdrill decrypt: {med(small,1)/1024:.1f} MiB on a 10 MiB vault, {med(a,1)/1024:.1f} MiB on the {size_mib} MiB vault.",
    "",
]
ceiling = [
    f"| ceiling | 1 core MiB/s | {cores} cores MiB/s |",
    "|---|---:|---:|",
    f"| `openssl speed -evp aes-256-gcm` (8 KiB buffers) | {g1:.0f} | {ga:.0f} |",
    f"| `openssl speed -evp chacha20-poly1305` (8 KiB buffers) | {c1:.0f} | {ca:.0f} |",
    f"| vaultdrill's AES-256-GCM (RustCrypto `aes-gcm`), 4 KiB blocks opened | {inproc['aes_gcm_open_mib_s']['one']:.0f} | {inproc['aes_gcm_open_mib_s']['all']:.0f} |",
    f"| vaultdrill's XChaCha20-Poly1305, 4 KiB blocks opened | {inproc['xchacha_open_mib_s']['one']:.0f} | {inproc['xchacha_open_mib_s']['all']:.0f} |",
    f"| BLAKE3 (`blake3` crate) | {inproc['blake3_mib_s']['one']:.0f} | {inproc['blake3_mib_s']['all']:.0f} |",
    f"| vaultdrill's decrypt pipeline of one {inproc['decrypt_pipeline_file_mib']} MiB file without its write (`cargo bench --bench ceiling`) | | {inproc['decrypt_pipeline_mib_s']:.0f} |",
]
lines += ceiling + [
    "",
    f"vaultdrill decrypt end to end: {rate(ta):.0f} MiB/s = {100*rate(ta)/ga if ga else 0:.0f} % of openssl's AES-256-GCM on "
    f"{cores} cores (it also unlocks with scrypt, reads and writes); without the write, its pipeline reaches "
    f"{100*inproc['decrypt_pipeline_mib_s']/ga if ga else 0:.0f} % of openssl's and "
    f"{100*inproc['decrypt_pipeline_mib_s']/inproc['aes_gcm_open_mib_s']['all']:.0f} % of its own crate's ceiling.",
]
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)

def pair(name, ours, theirs, theirs_short, t_ours, t_theirs, rows, target, t_cp=None):
    p = {"name": name, "ours": ours, "theirs": theirs, "theirs_short": theirs_short,
         "ours_s": t_ours, "theirs_s": t_theirs, "ratio": t_theirs / t_ours, "target": target,
         "ours_cpu": med(rows, 2), "ours_rss_mib": med(rows, 1) / 1024}
    if t_cp is not None:  # the cp alone, its mount untimed
        p["cp_alone_s"], p["ratio_cp_alone"] = t_cp, t_cp / t_ours
    return p
pairs = [
    pair("decrypt", "vaultdrill decrypt", "gocryptfs -ro mount + cp -r + unmount", "mount + cp", ta, tB, a,
         3.0 if dataset == "small" else 2.0, tb),
    pair("encrypt", "vaultdrill encrypt", "gocryptfs mount + cp -r into it + unmount", "cp into mount", tc, tD, c, 2.0, td),
    pair("export", "vaultdrill export", "gocryptfs -reverse mount + cp -r + unmount", "reverse mount + cp", te, tF, e, 2.0, tf),
    pair("verify", "vaultdrill verify", "gocryptfs -fsck", "gocryptfs -fsck", th, ti, h, 2.0),
]
result = {
    "title": "compare", "dataset": dataset, "size_mib": size_mib, "files": int(files), "runs": int(runs),
    "pairs": pairs,
    "rss_max_mib": max(max(r[1] for r in rows) for rows in (a, c, e, g, h, small)) / 1024,
    "ceiling": ceiling,
    # Shares of openssl's AES-256-GCM on every core (the issue's target
    # is 60 % on the large file, end to end).
    "ceiling_share": {
        "decrypt_end_to_end": rate(ta) / ga if ga else 0,
        "pipeline_without_write": inproc["decrypt_pipeline_mib_s"] / ga if ga else 0,
        "crate_aes_gcm": inproc["aes_gcm_open_mib_s"]["all"] / ga if ga else 0,
        "disk_write": rate(tdd) / ga if ga and tdd > 0 else 0,
        # What one writer pays for the same bytes through the page cache,
        # against vaultdrill decrypt's and the cp's time.
        "page_cache_write_s": tdc, "decrypt_s": ta, "cp_alone_s": tb,
    },
    "notes": [
        f"Full manifest build {tg:.2f} s ({rate(tg):.0f} MiB/s); refresh of an unchanged {int(many)}-file vault "
        f"{r_cpu:.2f} s of CPU. Writing {size_mib} MiB into a new file: {tdc:.2f} s through the page cache, "
        f"{tdd:.2f} s direct. vaultdrill decrypt {rate(ta):.0f} MiB/s end to end = "
        f"{100*rate(ta)/ga if ga else 0:.0f} % of openssl's AES-256-GCM on {cores} cores; its pipeline without the write "
        f"{inproc['decrypt_pipeline_mib_s']:.0f} MiB/s = {100*inproc['decrypt_pipeline_mib_s']/ga if ga else 0:.0f} %.",
    ],
}
json_out = out[:-3] + ".json" if out.endswith(".md") else out + ".json"
json.dump(result, open(json_out, "w"), indent=1)
PY
chart_md=$(mktemp "$work/chart.XXXXXX.md")
python3 benches/report.py "$chart_md" "${out_file%.md}.json" > /dev/null
cp "${chart_md%.md}.svg" "${out_file%.md}.svg"
echo "chart: ${out_file%.md}.svg; results: ${out_file%.md}.json"
