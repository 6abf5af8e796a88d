#!/usr/bin/env bash
# Regenerates the fixtures under testdata/ with the real gocryptfs (Debian's
# gocryptfs 2.3 through fuse3). Needs root (or fuse permissions), gocryptfs,
# gocryptfs-xray, fusermount3, python3 and tar.
#
#   bash testdata/make-fixtures.sh
#
# For every vault flavour it creates a vault with `gocryptfs -init`, mounts
# it, writes the same plaintext tree through the mount (see gen_tree), records
# what the mount shows in expected.json, unmounts, and stores the ciphertext
# as <flavour>.tar (tar keeps the modes and mtimes that git would lose).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out="$here/vaults"
work=$(mktemp -d)
mnt="$work/mnt"
mkdir -p "$mnt"
password_file="$here/password"
printf 'correct horse battery staple\n' > "$password_file"

cleanup() {
  mountpoint -q "$mnt" && fusermount3 -u "$mnt" || true
  rm -rf "$work"
}
trap cleanup EXIT

for tool in gocryptfs gocryptfs-xray fusermount3 python3 tar; do
  command -v "$tool" >/dev/null || { echo "make-fixtures: $tool is missing (apt-get install gocryptfs fuse3 python3 tar)" >&2; exit 1; }
done

# Writes the test tree into $1 and records what it looks like in $2.
gen_tree() {
  python3 - "$1" "$2" <<'PY'
import hashlib, json, os, stat, sys
root, expected_path = sys.argv[1], sys.argv[2]
T0 = 1622548800  # 2021-06-01T12:00:00Z
n = 0
def stamp(path, dir=False):
    global n
    n += 1
    os.utime(path, ns=((T0 + n) * 10**9 + 123456789, (T0 + n) * 10**9 + 123456789), follow_symlinks=False)
def content(seed, size):
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])
def write(rel, size, mode=0o644):
    p = os.path.join(root, rel)
    with open(p, "wb") as f:
        f.write(content(rel, size))
    os.chmod(p, mode)
def mkdir(rel, mode=0o755):
    os.mkdir(os.path.join(root, rel))
    os.chmod(os.path.join(root, rel), mode)
def link(rel, target):
    os.symlink(target, os.path.join(root, rel))

for size in [0, 1, 4095, 4096, 4097, 20000]:
    write(f"size-{size}", size)
# Sparse: data, four whole blocks of hole, data; and a file that ends in a hole.
p = os.path.join(root, "sparse")
with open(p, "wb") as f:
    f.write(content("sparse-a", 100))
    f.seek(5 * 4096)
    f.write(content("sparse-b", 100))
p = os.path.join(root, "sparse-tail")
with open(p, "wb") as f:
    f.write(content("sparse-tail", 10))
    f.truncate(3 * 4096)
for length in [1, 15, 16, 17, 175, 176, 255]:
    name = ("n" * length) if length < 5 else (f"len{length}-" + "x" * length)[:length]
    write(name, length)
write("Ünïcødé — 日本語.txt", 300)
write("emoji-🦀.md", 42)
write("tab\there", 5)
write("new\nline", 6)
write(".hidden", 7)
write("readonly.txt", 33, 0o444)
write("script.sh", 44, 0o755)
write("private", 55, 0o600)
mkdir("deep")
mkdir("deep/a"); mkdir("deep/a/b"); mkdir("deep/a/b/c"); mkdir("deep/a/b/c/d"); mkdir("deep/a/b/c/d/e")
write("deep/a/b/c/d/e/leaf.txt", 1234)
longdir = "D" * 176
mkdir(longdir)
write(longdir + "/" + "f" * 200, 77)
write(longdir + "/short", 78)
mkdir("emptydir")
link("link-rel", "deep/a/b/c/d/e/leaf.txt")
link("link-abs", "/etc/hostname")
link("link-dangling", "does/not/exist")
link("link-long-target", "t/" * 150)
link("deep/a/link-up", "../../size-1")
mkdir("locked", 0o755)
write("locked/inside", 9)
os.chmod(os.path.join(root, "locked"), 0o500)

# Timestamps: every entry gets its own, deepest first so that directories
# keep theirs.
entries = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        entries.append(os.path.join(dirpath, name))
for p in sorted(entries, key=lambda p: (-p.count("/"), p)):
    stamp(p)

records = []
for p in sorted(entries):
    rel = os.path.relpath(p, root)
    st = os.lstat(p)
    rec = {"path": rel, "mode": stat.S_IMODE(st.st_mode), "mtime_ns": st.st_mtime_ns}
    if stat.S_ISDIR(st.st_mode):
        rec["type"] = "dir"
    elif stat.S_ISLNK(st.st_mode):
        rec["type"] = "symlink"
        rec["target"] = os.readlink(p)
    else:
        rec["type"] = "file"
        rec["size"] = st.st_size
        with open(p, "rb") as f:
            rec["sha256"] = hashlib.sha256(f.read()).hexdigest()
    records.append(rec)
with open(expected_path, "w") as f:
    json.dump(records, f, indent=1, ensure_ascii=False)
    f.write("\n")
PY
}

# Writes the printed form of a config's master key to $2 ($3: password file).
dump_masterkey() {
  local hex
  hex=$(gocryptfs-xray -dumpmasterkey "$1" < "${3:-$password_file}")
  python3 -c 'import sys; h=sys.argv[1]; print("-".join(h[i:i+8] for i in range(0,64,8)))' "$hex" > "$2"
}

# make_vault NAME [gocryptfs -init options...]
make_vault() {
  local name=$1; shift
  local cipher="$work/$name"
  mkdir -p "$cipher" "$out/$name"
  gocryptfs -init -q -nosyslog -scryptn 10 -passfile "$password_file" "$@" "$cipher"
  finish_vault "$name"
}

finish_vault() {
  local name=$1
  local cipher="$work/$name"
  dump_masterkey "$cipher/gocryptfs.conf" "$out/$name/masterkey"
  gocryptfs -q -nosyslog -passfile "$password_file" "$cipher" "$mnt"
  gen_tree "$mnt" "$out/$name/expected.json"
  fusermount3 -u "$mnt"
  cp "$cipher/gocryptfs.conf" "$out/$name/gocryptfs.conf"
  tar --format=posix --pax-option=delete=atime,delete=ctime --numeric-owner --owner=0 --group=0 --sort=name -C "$cipher" -cf "$out/$name/cipher.tar" .
}

rm -rf "$out"
mkdir -p "$out"

make_vault default
make_vault plaintextnames -plaintextnames
make_vault aessiv -aessiv
make_vault xchacha -xchacha
make_vault deterministic -deterministic-names
make_vault longnamemax62 -longnamemax 62

# gocryptfs 2.3 ignores -hkdf=false and -raw64=false at -init, but a vault
# made by gocryptfs 1.0-1.2 has neither flag. Make one the way such a vault
# looks: drop the flags from a fresh config and let gocryptfs itself re-wrap
# the master key for the flag set (12-byte nonce, no HKDF).
legacy="$work/legacy"
mkdir -p "$legacy" "$out/legacy"
gocryptfs -init -q -nosyslog -scryptn 10 -passfile "$password_file" "$legacy"
mk=$(gocryptfs-xray -dumpmasterkey "$legacy/gocryptfs.conf" < "$password_file")
python3 - "$legacy/gocryptfs.conf" <<'PY'
import json, os, sys
p = sys.argv[1]
c = json.load(open(p))
c["FeatureFlags"] = [f for f in c["FeatureFlags"] if f not in ("HKDF", "Raw64")]
os.chmod(p, 0o600)
open(p, "w").write(json.dumps(c, indent="\t") + "\n")
PY
pw=$(head -n1 "$password_file")
printf '%s\n%s\n' "$mk" "$pw" | gocryptfs -passwd -q -nosyslog -masterkey=stdin "$legacy" >/dev/null
rm -f "$legacy/gocryptfs.conf.bak"
finish_vault legacy

# Reverse mode: the encrypted view of a plaintext folder, as uploaded to a
# remote, copied out of a `gocryptfs -reverse` mount.
plain="$work/reverse-plain"
mkdir -p "$plain" "$out/reverse"
gen_tree "$plain" "$out/reverse/expected.json"
gocryptfs -init -reverse -q -nosyslog -scryptn 10 -passfile "$password_file" "$plain"
dump_masterkey "$plain/.gocryptfs.reverse.conf" "$out/reverse/masterkey"
cp "$plain/.gocryptfs.reverse.conf" "$out/reverse/gocryptfs.conf"
gocryptfs -reverse -ro -q -nosyslog -passfile "$password_file" "$plain" "$mnt"
mkdir -p "$work/reverse"
# Not `cp -a`: it asks the mount for holes (SEEK_HOLE), gets the plaintext's,
# and writes zeros where the view has encrypted zero blocks. tar reads all.
tar --format=posix -C "$mnt" -cf - . | tar -C "$work/reverse" -xf -
fusermount3 -u "$mnt"
tar --format=posix --pax-option=delete=atime,delete=ctime --numeric-owner --owner=0 --group=0 --sort=name -C "$work/reverse" -cf "$out/reverse/cipher.tar" .

# Configs with one thing wrong each, for the error-path tests.
configs="$here/configs"
rm -rf "$configs"
mkdir -p "$configs"
python3 - "$out/default/gocryptfs.conf" "$configs" <<'PY'
import json, sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
base = json.loads(text)
def save(name, obj):
    with open(f"{dst}/{name}", "w") as f:
        f.write(json.dumps(obj, indent="\t") + "\n")
c = json.loads(text); c["FeatureFlags"].append("QuantumNames"); save("unknown-flag.conf", c)
c = json.loads(text); c["FeatureFlags"] += ["AESSIV", "XChaCha20Poly1305"]; save("aessiv-and-xchacha.conf", c)
c = json.loads(text); c["FeatureFlags"].append("FIDO2")
c["FIDO2"] = {"CredentialID": "AAECAwQFBgcICQ==", "HMACSalt": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "AssertOptions": None}
save("fido2-handmade.conf", c)
c = json.loads(text); c["ScryptObject"]["N"] = 1 << 30; save("scrypt-n-2pow30.conf", c)
c = json.loads(text); c["Version"] = 3; save("version-3.conf", c)
with open(f"{dst}/truncated.conf", "w") as f:
    f.write(text[: len(text) // 2])
PY

# A small demo vault (password `demo`), a plain directory in git, read by
# tests/fixtures.rs (`vaultdrill demo` makes its own vault with `init`).
demo="$here/../demo"
rm -rf "$demo/vault"
mkdir -p "$demo/vault"
printf 'demo\n' > "$demo/password"
gocryptfs -init -q -nosyslog -passfile "$demo/password" "$demo/vault"
gocryptfs -q -nosyslog -passfile "$demo/password" "$demo/vault" "$mnt"
mkdir -p "$mnt/thesis" "$mnt/photos/2024"
printf '# My thesis\n\nChapter 1. Why backups are only as good as their last restore.\n' > "$mnt/thesis/thesis.md"
python3 -c 'import os,sys; open(sys.argv[1],"wb").write(bytes(range(256))*1024)' "$mnt/photos/2024/beach.raw"
printf 'remember the master key\n' > "$mnt/notes.txt"
ln -s thesis/thesis.md "$mnt/latest-draft"
fusermount3 -u "$mnt"
dump_masterkey "$demo/vault/gocryptfs.conf" "$demo/masterkey" "$demo/password"

echo "fixtures written to $out, $configs and $demo"
