//! The command line, as plain data (clap). Nothing here touches the disk.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};
use vaultdrill::drill::sample::{SampleSize, parse_subset};
use vaultdrill::push::DeleteLimit;

const EXIT_CODES: &str = "\
Exit codes (the same for every command that verifies):
  0  everything asked for was verified
  1  damage found: authentication failure, missing or mismatching data,
     undecryptable names, a corrupt config
  2  usage error
  3  could not unlock: wrong password or master key
  4  could not run: local I/O error, missing tool, unsupported vault feature";

const DRILL_EXIT_CODES: &str = "\
Exit codes:
  0  passed: every step ran and proved what it should
  1  damage found: missing, different or undecryptable objects, a missing config
  2  usage error
  3  the password or the master key was refused
  4  could not run to the end (rclone, the network, no manifest, a local error):
     never reported as passed";

const RESTORE_EXIT_CODES: &str = "\
Exit codes:
  0  restored: every file is in place and matches the manifest (BLAKE3, size)
  1  the backup is damaged: some files could not be restored (missing objects,
     authentication failures, contents that differ from the manifest); all
     the others are restored and verified
  2  usage error, or a destination refused by a guard (inside the source, not
     empty and no earlier restore of this vault: see --force)
  3  the password or the master key was refused
  4  could not finish (rclone, the network, a full disk, something in the way
     in the destination): run the same command again to resume";

const PUSH_EXIT_CODES: &str = "\
Exit codes:
  0  pushed, and the remote holds every object as the vault does
  1  damage: the remote's copy differs after the push (missing objects, other
     sizes or hashes, unexpected objects), or the local vault is damaged
  2  usage error
  3  could not unlock: wrong password or master key
  4  could not run, or refused: a guard tripped (not a vault, an empty or
     unmounted folder, too many deletions), rclone missing or too old, the
     remote unknown or unreachable. Nothing on the remote was deleted";

/// vaultdrill proves that an encrypted gocryptfs backup can really be
/// restored, and restores it, natively: no FUSE, no gocryptfs binary.
#[derive(Debug, Parser)]
#[command(name = "vaultdrill", version, about, after_help = EXIT_CODES)]
#[command(
    long_about = "vaultdrill proves that an encrypted gocryptfs backup can really be restored, \
and restores it, natively: no FUSE and no gocryptfs binary are needed. It reads every gocryptfs 1.x/2.x \
vault flavour (AES-GCM, AES-SIV, XChaCha20-Poly1305; encrypted, deterministic, long or plaintext names; \
the encrypted view of a reverse vault).

Start with:
  vaultdrill demo                           the whole story on bundled files, in a temp folder
  vaultdrill info ~/backup/vault            what kind of vault is this?
  vaultdrill ls ~/backup/vault              what is in it? (asks for the password)
  vaultdrill decrypt ~/backup/vault ~/restored --passfile ~/.vault-pass
  vaultdrill push ~/vault b2:bucket/vault   manifest, guarded sync, remote check
  vaultdrill verify ~/vault                 every block and hash against the manifest
  vaultdrill drill b2:bucket/vault --masterkey-file ~/masterkey.txt
                                            can it be restored? (sample, both unlock paths, report)
  vaultdrill restore b2:bucket/vault ~/restored
                                            the bad day: everything back, verified, resumable"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// The vault registry (default: $VAULTDRILL_CONFIG, else
    /// ~/.config/vaultdrill/config.toml); see `vaultdrill vaults`.
    #[arg(long, global = true, value_name = "FILE")]
    pub registry: Option<PathBuf>,

    /// Print nothing but errors and problems (no progress, no summary).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Worker threads for decryption (default: one per CPU core).
    #[arg(short = 'j', long, global = true, value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a vault's format: what `gocryptfs -info` shows, plus the content
    /// cipher and name mode. Needs no password and prints no secret.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "Show a vault's format from its gocryptfs.conf: what `gocryptfs -info` shows \
(creator, feature flags, scrypt cost), plus the content cipher and the name mode. Needs no \
password and prints no secret.

Examples:
  vaultdrill info ~/vault
  vaultdrill info /media/usb/vault --json"
    )]
    Info(InfoArgs),

    /// List the decrypted paths, types and sizes of a vault. Sizes come from
    /// the ciphertext sizes: no file content is decrypted.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "List the decrypted paths, types and sizes of a vault, with the encrypted \
path of each (what to fetch from another copy when one is damaged). Sizes come from the \
ciphertext sizes: no file content is decrypted, so it is fast on any vault.

Examples:
  vaultdrill ls ~/vault --passfile ~/.vault-pass
  vaultdrill ls ~/vault --path photos/2024 --json --masterkey-file ~/mk.txt"
    )]
    Ls(LsArgs),

    /// Decrypt a vault, or parts of it, into a new folder. Every block is
    /// authenticated before a file appears under its real name.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "Decrypt a vault, or parts of it, into a new or empty folder.

Every file is written under a temporary name and renamed to its real name only after every \
one of its blocks authenticated, so a failed run never leaves a half file that looks complete. \
Directories, symlinks, FIFOs, permission bits and modification times are restored. Damaged \
entries are listed one per line and the rest of the tree is still restored; the exit code \
then is 1.

Examples:
  vaultdrill decrypt /mnt/usb/vault ~/restored --passfile ~/.vault-pass
  vaultdrill decrypt vault out --path thesis --path photos/2024/beach.raw
  vaultdrill decrypt vault out --masterkey-file ~/masterkey.txt     (password forgotten)"
    )]
    Decrypt(DecryptArgs),

    /// Add or update a plaintext folder in a vault, natively, as a gocryptfs
    /// mount would write it. Unchanged files are left alone; nothing is
    /// deleted.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "Add or update a plaintext folder in a forward vault, natively (no FUSE), \
exactly as copying it into a gocryptfs mount would: random file ids and nonces, a gocryptfs.diriv \
per new directory, long names with .name sidecars, encrypted symlink targets, modes and mtimes. \
The real gocryptfs mounts the result.

A file whose size, mode and mtime match its encrypted copy is not rewritten, so running it again \
after a change writes only what changed (and `rclone sync` sends only that). Files appear or are \
replaced atomically, never half-written. Files deleted from PLAINDIR stay in the vault.

Example:
  vaultdrill init ~/vault --recovery-kit ~/vault-recovery.md
  vaultdrill encrypt ~/Documents ~/vault --passfile ~/.vault-pass"
    )]
    Encrypt(EncryptArgs),

    /// Build or refresh the vault's manifest: for every entry its plaintext
    /// BLAKE3 and its ciphertext hashes, stored encrypted inside the vault.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "Build or refresh the vault's manifest: for every entry, its plaintext path, \
type, size, mode, mtime and BLAKE3, and its ciphertext path, size, mtime and hashes (plus SHA-1 or \
MD5 of the ciphertext with --remote-hashes, for B2 and S3, so drills can audit objects without \
downloading them).

It is stored inside the vault as an ordinary encrypted file, .vaultdrill/manifest.jsonl (a plain \
gocryptfs mount shows it), the previous ones kept as .vaultdrill/manifest-<time>.jsonl (4 of them), \
and a plaintext copy with gocryptfs.conf goes to the local state directory \
($XDG_STATE_HOME/vaultdrill). A refresh reuses the hashes of files whose ciphertext path, size and \
mtime did not change; --rehash reads everything again.

Examples:
  vaultdrill manifest ~/vault --passfile ~/.vault-pass
  vaultdrill manifest ~/vault --remote-hashes sha1      (the remote is B2)"
    )]
    Manifest(ManifestArgs),

    /// Check the local vault against its manifest: every block
    /// authenticated, every hash compared, each damaged path reported.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "Check the local vault against its manifest, like `gocryptfs -fsck` but \
path-aware: every block of every file authenticated and its plaintext BLAKE3 compared with the \
manifest, every gocryptfs.diriv and .name file compared, and what the manifest lists but the vault \
lacks reported. Differences the vault's metadata explains (a newer mtime, a new file) are notes; \
differences it does not explain (same size and mtime, other content) are damage (exit 1).

Examples:
  vaultdrill verify ~/vault --passfile ~/.vault-pass
  vaultdrill verify ~/vault --path thesis --json"
    )]
    Verify(VerifyArgs),

    /// Send a vault to a remote (any rclone remote, or a local folder such
    /// as an external disk) with guards against the classic disasters, then
    /// check what the remote holds.
    #[command(after_help = PUSH_EXIT_CODES)]
    #[command(
        long_about = "Send a vault to a remote, with guards against the classic backup disasters, \
then check what the remote holds.

A push refreshes the vault's manifest (see `vaultdrill manifest`), lists the remote, and refuses \
(exit 4, nothing sent) when the source looks wrong: no gocryptfs.conf, an empty folder, a mount \
point with nothing mounted, or a sync that would delete more than --max-delete of the remote's \
objects (default: 10 %, at most 1000). It refuses too (exit 1) when the manifest refresh finds \
damage in the local vault, so a rotten local copy does not overwrite a good remote one. --force \
overrides both.

Then it runs `rclone sync` (data first, the manifest folder last, so an interrupted push leaves \
the previous manifest on the remote), and lists the remote again: every object must be there \
with its size, with the same hash where the remote keeps one (BLAKE3, SHA-1 on B2, MD5 on S3), \
and nothing unexpected. Each push is recorded in the local state directory.

REMOTE is an rclone remote (`b2-backup:photo-bucket/vault`, configured with `rclone config`; \
credentials stay in rclone's config, never on a command line) or a local folder \
(`/media/usb/vault`), which needs no rclone. gocryptfs.conf is uploaded (its password and scrypt \
protect it, and losing it is worse); --no-config-upload keeps it home, then restores need the \
master key or the local copy.

With --reverse, SOURCE is the plaintext folder of a reverse vault (\"encrypt only for the \
cloud\"): its encrypted view is exported into a staging folder (kept between pushes, so only \
changes are re-encrypted and sent), the manifest is kept in SOURCE/.vaultdrill/, and the view is \
pushed.

Examples:
  vaultdrill push ~/vault b2-backup:photo-bucket/vault --passfile ~/.vault-pass --transfers 20
  vaultdrill push ~/vault /media/usb/vault --passfile ~/.vault-pass
  vaultdrill push --reverse ~/Photos b2-backup:photo-bucket/photos --passfile ~/.photos-pass"
    )]
    Push(PushArgs),

    /// Prove that the backup on a remote can be restored: audit every
    /// object, download a sample, unlock it with the password and with only
    /// the master key, compare with the manifest, and write a report.
    #[command(after_help = DRILL_EXIT_CODES)]
    #[command(
        long_about = "A recovery drill: prove, with evidence, that the backup on REMOTE can be \
restored today, with the password and with only the master key.

Steps, mirrored by the report:
  1. audit every object of the remote by listing it (sizes, and hashes where the remote keeps
     them: MD5 on S3, SHA-1 on B2), against the manifest that `vaultdrill push` stored;
  2. choose a sample (--sample 5%, 50 files, or 2GiB): by default the files verified least
     recently first (a rotation kept in the state directory, so monthly drills cover the whole
     vault), --seed N for a reproducible random choice, --subset K/N for a fixed slice; always
     with a zero-byte and the largest file that fits, and the config, diriv and .name files
     they need;
  3. download it (rclone copy --files-from) into a private scratch folder and check each object's
     ciphertext BLAKE3;
  4. unlock the downloaded gocryptfs.conf with the password;
  5. with only the master key, detect the flags, regenerate a config and unlock with it, as if
     gocryptfs.conf were lost;
  6. decrypt every sampled file and compare its BLAKE3, size and path with the manifest (catches
     swapped files, cuts at a block boundary, zeroed blocks);
  7. measure download and decryption speed and estimate a full restore.
The scratch folder holds ciphertext only and is removed at the end (also on Ctrl-C) unless --keep.

The report (Markdown, verdict on the first line) goes to the state directory unless --report \
FILE; --json prints the outcome, --junit FILE writes a JUnit file for CI. Both unlock paths run \
unless skipped explicitly (--no-password, --no-masterkey); the report then says what was not \
proven.

Examples:
  vaultdrill drill b2-backup:photos/vault --passfile ~/.vault-pass --masterkey-file ~/mk.txt
  vaultdrill drill photos --sample 2GiB            (a registered vault; see `vaultdrill vaults`)
  vaultdrill drill /media/usb/vault --sample 100% --no-masterkey --junit drill.xml"
    )]
    Drill(DrillArgs),

    /// Emergency restore: everything, or chosen paths, from a remote or a
    /// local copy into a new folder, verified file by file against the
    /// manifest; resumable after anything.
    #[command(after_help = RESTORE_EXIT_CODES)]
    #[command(
        long_about = "Emergency restore: SOURCE (an rclone remote such as b2:bucket/vault, a local \
folder such as an external disk, or a registered vault's name) into DEST, a new or empty folder.

No gocryptfs, no FUSE, no mount. The vault's manifest (stored encrypted on the remote by \
`vaultdrill push`) says what to restore: the objects are fetched in batches (rclone, parallel \
transfers) while the batch before is decrypted; a local folder is read in place. Each file is \
written under no name and linked under its real name only when every block authenticated and its \
BLAKE3 and size are the manifest's, so a failed or interrupted run never leaves a half file that \
looks complete. Folders, symlinks, FIFOs, modes and modification times are restored \
(setuid/setgid bits are not).

Resumable: until it is complete, DEST holds a .vaultdrill-restore folder. After Ctrl-C, kill -9, a \
network cut or a full disk, run the same command again: files already in place are hashed again \
(not trusted) and the rest is restored. Nothing in DEST is ever overwritten or deleted.

Unlock with the password (gocryptfs.conf on the remote), or with --masterkey-file alone: the \
flags are then detected from the ciphertext, so a lost gocryptfs.conf does not matter.

Examples:
  vaultdrill restore b2-backup:photo-bucket/vault ~/restored --passfile ~/.vault-pass
  vaultdrill restore /media/usb/vault ~/restored --masterkey-file ~/masterkey.txt
  vaultdrill restore photos ~/restored --path thesis --path photos/2024    (a registered vault)
  vaultdrill restore b2-backup:photos/vault ~/restored --manifest 20261101  (an older manifest)"
    )]
    Restore(RestoreArgs),

    /// The whole story on bundled files, in a new folder: make a vault,
    /// push it, drill it, let an object rot, find it, repair it.
    #[command(
        long_about = "A demonstration that needs nothing but this binary (no rclone, gocryptfs, \
FUSE or network): in a new folder (a temporary one unless --dir), it writes bundled files \
(a thesis, notes, photos, an empty file, a long name, a symlink), then runs the real commands, \
printing each: init (with a recovery sheet), encrypt, push to a local folder standing in for a \
bucket, a drill that passes with the password and with only the master key, one flipped bit in \
one object of the \"bucket\", a drill that finds and names it (exit code 1), a push --checksum \
that repairs it, a drill that passes again, and the history. The reports stay in DIR/reports.

Exit code 0 when every step ended as it should; 2 when --dir is not empty; 4 otherwise.

Example:
  vaultdrill demo
  vaultdrill demo --dir /tmp/vaultdrill-demo"
    )]
    Demo(DemoArgs),

    /// Drill a registered vault regularly: print or install a systemd user
    /// timer, or print a crontab line.
    #[command(
        long_about = "Drills that run by themselves. For a vault registered in the registry \
(`vaultdrill vaults --help`), whose entry names its remote, a password source (passfile or \
extpass: a timer has no terminal) and its masterkey-file, prints a systemd user service and \
timer that run `vaultdrill drill NAME` (monthly by default, or the entry's drill.every, or \
--every), with --install writes them to ~/.config/systemd/user and enables the timer, or with \
--cron prints the crontab line instead. A drill that fails marks the unit failed (exit codes as \
for drill); its report is in the state directory.

Examples:
  vaultdrill schedule photos
  vaultdrill schedule photos --install
  vaultdrill schedule photos --every weekly --cron"
    )]
    Schedule(ScheduleArgs),

    /// Past drills: verdicts, coverage over 12 months, throughput trend;
    /// --html FILE writes a page with a chart.
    #[command(
        long_about = "Past drills, oldest first: when, the verdict, how many files were sampled, \
the share of the vault's files verified in the 12 months before, and the download and decryption \
speed, with the throughput trend. Drills are remembered in the state directory \
($VAULTDRILL_STATE_DIR, else ~/.local/state/vaultdrill) unless run with --no-state.

VAULT narrows to one vault: a registered name, a remote as given to `drill`, or the first 8+ \
hex digits of a vault id.

Examples:
  vaultdrill history
  vaultdrill history photos --html drills.html
  vaultdrill history b2-backup:photo-bucket/vault --json"
    )]
    History(HistoryArgs),

    /// List the vaults of the registry, with their last push and drill.
    #[command(
        long_about = "List the vaults named in the registry (~/.config/vaultdrill/config.toml, \
or $VAULTDRILL_CONFIG, or --registry FILE), with their last push from the local \
state. A registered vault is used by name: `vaultdrill push photos`.

The registry, in TOML (paths may be relative to the file; secrets never go in it, only where \
to get them):

  [vaults.photos]
  folder = \"/home/ana/vault\"            # the encrypted folder
  remote = \"b2-backup:photo-bucket/vault\"
  passfile = \"/home/ana/.vault-pass\"    # or: extpass = \"pass show vault\"
  transfers = 20                         # optional: rclone-config, config, masterkey-file

  [vaults.documents]
  mode = \"reverse\"                      # folder is the plaintext folder
  folder = \"/home/ana/Documents\"
  remote = \"/media/usb/documents\"
  extpass = \"secret-tool lookup vault documents\"

  [vaults.documents.drill]
  every = \"monthly\"                     # for the timer that runs drills
  sample = \"5%\""
    )]
    Vaults(VaultsArgs),

    /// Write the encrypted view of a reverse vault into a folder, byte for
    /// byte what a `gocryptfs -reverse` mount shows, updated incrementally.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "Write the encrypted view of a reverse vault (a plaintext folder with \
.gocryptfs.reverse.conf, see `vaultdrill init --reverse`) into DEST: byte for byte what a \
`gocryptfs -reverse` mount of PLAINDIR shows (names, contents, gocryptfs.conf, gocryptfs.diriv \
and .name files, modes, mtimes), without FUSE.

Run it again after changes: files whose plaintext did not change are not rewritten, and what \
was removed from PLAINDIR is removed from DEST, so `rclone sync DEST remote:` sends only the \
difference. DEST must be new, empty, or an earlier export of the same folder.

Examples:
  vaultdrill export ~/Documents ~/documents.enc --passfile ~/.vault-pass
  vaultdrill export ~/Documents ~/documents.enc --exclude .cache --exclude-wildcard '*.tmp'
  rclone sync ~/documents.enc b2-backup:bucket/documents"
    )]
    Export(ExportArgs),

    /// Create a new gocryptfs vault natively (gocryptfs 2.x defaults), or
    /// make a plaintext folder a reverse vault with --reverse.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "Create a new gocryptfs vault natively, as `gocryptfs -init` does: \
gocryptfs.conf and the root gocryptfs.diriv, with gocryptfs 2.x's defaults (AES-256-GCM, HKDF, \
per-directory IVs, long names, unpadded base64, scrypt N=2^16). The real gocryptfs mounts it.

The master key is shown once: store it offline. It is the only way in if the password is \
forgotten or gocryptfs.conf is lost. --recovery-kit FILE writes a printable sheet with the key, \
the config and the commands to restore in every situation.

Examples:
  vaultdrill init ~/vault --recovery-kit ~/vault-recovery.md
  vaultdrill init --reverse ~/Documents          (encrypt only for the cloud)
  vaultdrill init ~/vault --aessiv --scryptn 18"
    )]
    Init(InitArgs),

    /// Change a vault's password (with the old password, or with the master
    /// key when it is forgotten). The previous config is kept as .bak.
    #[command(after_help = EXIT_CODES)]
    #[command(
        long_about = "Change a vault's password, as `gocryptfs -passwd` does: unlock with the old \
password (or, when it is forgotten, with --masterkey-file), then write gocryptfs.conf again, \
atomically, with the master key wrapped under the new password (asked twice, or \
--new-passfile / --new-extpass). The master key does not change: nothing else in the vault is \
rewritten, and copies already pushed stay readable with the master key.

The previous config is kept as gocryptfs.conf.bak. If a .bak is already there, passwd refuses \
(it may be the only copy that opens with an older password): check that the current password \
works, delete the old .bak, and run passwd again.

Examples:
  vaultdrill passwd ~/vault
  vaultdrill passwd ~/vault --masterkey-file ~/mk.txt --new-passfile ~/.new-pass"
    )]
    Passwd(PasswdArgs),

    /// Rebuild a lost gocryptfs.conf from the master key: detect every
    /// feature flag from the ciphertext, then write a config under a new
    /// password that gocryptfs mounts.
    #[command(after_help = EXIT_CODES)]
    #[command(long_about = "Rebuild a lost gocryptfs.conf from the master key.

Every feature flag is detected from the ciphertext alone: the content cipher and HKDF by trial \
authentication of real file blocks, the name scheme by decrypting real names (gocryptfs.diriv or \
deterministic, padded or unpadded base64, LongNameMax from the long names), or plaintext names. \
The key is proven on the way: if it authenticates nothing, nothing is written (exit 3). What the \
vault cannot tell (a vault without files, say) is named, to be given as options.

Then a new config is written under a new password; the real gocryptfs mounts it. \
(`vaultdrill decrypt --masterkey-file` does the same detection by itself when no config exists.)

Examples:
  vaultdrill regen-config ~/vault --masterkey-file key.txt --dry-run
  vaultdrill regen-config ~/vault --masterkey-file key.txt --new-passfile new-password.txt
  vaultdrill regen-config ~/uploaded-copy --masterkey-file key.txt --reverse-plaindir ~/Documents")]
    RegenConfig(RegenArgs),
}

#[derive(Debug, Args)]
pub struct RegenArgs {
    /// The encrypted folder whose config is lost (for a reverse vault: an
    /// exported copy of its encrypted view).
    pub cipherdir: PathBuf,

    /// Read the master key from FILE (as gocryptfs printed it).
    #[arg(long, value_name = "FILE", required_unless_present = "masterkey_stdin")]
    pub masterkey_file: Option<PathBuf>,

    /// Read the master key from standard input.
    #[arg(long, conflicts_with = "masterkey_file")]
    pub masterkey_stdin: bool,

    /// Only show the detected flags and the evidence; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Write the config even where the vault cannot tell a flag and
    /// gocryptfs's default is assumed (it affects only names written later).
    #[arg(long)]
    pub assume_defaults: bool,

    /// Print the detection as JSON.
    #[arg(long)]
    pub json: bool,

    /// A reverse vault: write .gocryptfs.reverse.conf into this plaintext
    /// folder (CIPHERDIR being an exported copy of its encrypted view).
    #[arg(long, value_name = "PLAINDIR")]
    pub reverse_plaindir: Option<PathBuf>,

    /// Read the new password from the first line of FILE (otherwise asked
    /// twice on the terminal).
    #[arg(long, value_name = "FILE", conflicts_with = "new_extpass")]
    pub new_passfile: Option<PathBuf>,

    /// Run CMD and use the first line it prints as the new password.
    #[arg(long, value_name = "CMD")]
    pub new_extpass: Vec<String>,

    /// scrypt cost of the new config as log2(N) (default 16).
    #[arg(long, value_name = "LOG2N", default_value_t = 16, value_parser = clap::value_parser!(u8).range(10..=28))]
    pub scryptn: u8,

    /// Hint: AES-256-GCM content (only needed when the vault cannot tell).
    #[arg(long, help_heading = "Hints for what the vault cannot tell", conflicts_with_all = ["aessiv", "xchacha"])]
    pub gcm: bool,

    /// Hint: AES-SIV content.
    #[arg(
        long,
        help_heading = "Hints for what the vault cannot tell",
        conflicts_with = "xchacha"
    )]
    pub aessiv: bool,

    /// Hint: XChaCha20-Poly1305 content.
    #[arg(long, help_heading = "Hints for what the vault cannot tell")]
    pub xchacha: bool,

    /// Hint: HKDF on or off.
    #[arg(
        long,
        value_name = "BOOL",
        help_heading = "Hints for what the vault cannot tell"
    )]
    pub hkdf: Option<bool>,

    /// Hint: unpadded (true) or padded (false) base64 names.
    #[arg(
        long,
        value_name = "BOOL",
        help_heading = "Hints for what the vault cannot tell"
    )]
    pub raw64: Option<bool>,

    /// Hint: names are not encrypted.
    #[arg(long, help_heading = "Hints for what the vault cannot tell")]
    pub plaintextnames: bool,

    /// Hint: deterministic names (no gocryptfs.diriv).
    #[arg(long, help_heading = "Hints for what the vault cannot tell")]
    pub deterministic_names: bool,

    /// Hint: the LongNameMax the vault was made with.
    #[arg(long, value_name = "N", help_heading = "Hints for what the vault cannot tell", value_parser = clap::value_parser!(u8).range(62..=255))]
    pub longnamemax: Option<u8>,
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The plaintext folder to encrypt.
    pub plaindir: PathBuf,

    /// The vault (an encrypted folder made by `vaultdrill init` or
    /// `gocryptfs -init`).
    pub cipherdir: PathBuf,

    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub unlock: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The plaintext folder of the reverse vault.
    pub plaindir: PathBuf,

    /// Where to write the encrypted view.
    pub dest: PathBuf,

    /// Leave out this path (relative to PLAINDIR), as gocryptfs -exclude;
    /// repeatable.
    #[arg(long, value_name = "PATH")]
    pub exclude: Vec<String>,

    /// Leave out paths matching this gitignore-style pattern, as gocryptfs
    /// -exclude-wildcard; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub exclude_wildcard: Vec<String>,

    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub unlock: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The encrypted folder.
    pub cipherdir: PathBuf,

    /// Hash every file again instead of reusing unchanged entries.
    #[arg(long)]
    pub rehash: bool,

    /// Also compute these ciphertext hashes, as the remote keeps them:
    /// sha1 (B2), md5 (S3); comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = ["sha1", "md5"])]
    pub remote_hashes: Vec<String>,

    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub unlock: UnlockArgs,
}

#[derive(Clone, Debug, Args)]
pub struct RestoreArgs {
    /// Where the vault is: an rclone remote (`b2:bucket/vault`), a local
    /// folder (an external disk), or the name of a registered vault.
    pub source: String,

    /// A new or empty folder (or an earlier, unfinished restore of the
    /// same vault, which is resumed).
    pub dest: PathBuf,

    /// Restore only this plaintext path (a file or a folder, relative to
    /// the vault's top); repeat for more. Only what they need is fetched.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Which manifest to follow: by default the remote's current one; a
    /// kept older one by its time (`20261101`, a prefix of
    /// `manifest-<time>.jsonl`); or a plaintext manifest FILE.
    #[arg(long, value_name = "TIME|FILE")]
    pub manifest: Option<String>,

    /// Restore into a folder that is not empty: files already there with
    /// the manifest's contents count as restored, anything else is left
    /// alone and reported. Nothing is ever overwritten or deleted.
    #[arg(long)]
    pub force: bool,

    /// Read the password from FILE (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "extpass")]
    pub passfile: Option<PathBuf>,

    /// Run CMD (split on spaces, no shell) and read the password from its
    /// output.
    #[arg(long, value_name = "CMD")]
    pub extpass: Vec<String>,

    /// Unlock with the master key in FILE instead of a password (works
    /// without gocryptfs.conf).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["passfile", "extpass"])]
    pub masterkey_file: Option<PathBuf>,

    /// Write the Markdown report to FILE (default: the state directory's
    /// reports folder).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Print the outcome as JSON on standard output (no progress bar).
    #[arg(long)]
    pub json: bool,

    /// Fetch in batches of about SIZE (default: a sixteenth of the
    /// vault, 64 MiB to 512 MiB); up to three are on disk at once.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub batch: Option<u64>,

    /// Parallel rclone transfers (default 8).
    #[arg(long, value_name = "N")]
    pub transfers: Option<usize>,

    /// The rclone binary (default: `rclone` on PATH).
    #[arg(long, value_name = "PATH")]
    pub rclone: Option<PathBuf>,

    /// rclone's config file (default: rclone's own).
    #[arg(long, value_name = "FILE")]
    pub rclone_config: Option<PathBuf>,

    /// Refuse a config whose scrypt needs more memory than this.
    #[arg(long, value_name = "MiB", default_value_t = 4096)]
    pub scrypt_max_memory: u64,
}

#[derive(Clone, Debug, Args)]
pub struct DrillArgs {
    /// The remote the vault was pushed to (`b2:bucket/vault`, a local
    /// folder), or the name of a registered vault.
    pub remote: String,

    /// How much to download and decrypt: a share of the vault's bytes
    /// (5%), a number of files (50) or a byte budget (2GiB) [default: 5%].
    #[arg(long, value_name = "SIZE")]
    pub sample: Option<SampleSize>,

    /// A reproducible random sample: the same seed picks the same files.
    /// Without it, drills rotate: the files verified least recently (or
    /// never, e.g. changed since) come first, so successive drills cover
    /// the whole vault.
    #[arg(long, value_name = "N", conflicts_with = "subset")]
    pub seed: Option<u64>,

    /// A fixed slice instead of a sample: K of N (1-based), whole, as
    /// restic's --read-data-subset; drills 1/12 .. 12/12 cover every file.
    #[arg(long, value_name = "K/N", value_parser = parse_subset, conflicts_with = "sample")]
    pub subset: Option<(u64, u64)>,

    /// Download and check the sample in batches of about SIZE (e.g.
    /// 256MiB): each batch is hashed, decrypted and compared while the
    /// next one downloads (default: an eighth of the sample, at least
    /// 64 MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub batch: Option<u64>,

    /// Also mount the downloaded sample read-only with the real gocryptfs
    /// (needs gocryptfs and FUSE) and read every sampled file through it:
    /// two independent implementations must agree.
    #[arg(long)]
    pub cross_check_gocryptfs: bool,

    /// Leave no trace in the state directory: no rotation, no history; the
    /// report goes to standard output unless --report FILE (or --json).
    #[arg(long)]
    pub no_state: bool,

    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["extpass", "no_password"])]
    pub passfile: Option<PathBuf>,

    /// Run CMD and use the first line it prints as the password.
    #[arg(long, value_name = "CMD", conflicts_with = "no_password")]
    pub extpass: Vec<String>,

    /// The master key as gocryptfs printed it (8 groups of 8 hex digits),
    /// for the unlock path that does without gocryptfs.conf.
    #[arg(long, value_name = "FILE", conflicts_with = "no_masterkey")]
    pub masterkey_file: Option<PathBuf>,

    /// Only audit: list the remote and compare every object with the
    /// manifest (sizes, hashes the remote keeps); no sample is downloaded.
    #[arg(long)]
    pub audit_only: bool,

    /// Skip the password path (the report says it was not proven).
    #[arg(long)]
    pub no_password: bool,

    /// Skip the master-key path (the report says it was not proven).
    #[arg(long)]
    pub no_masterkey: bool,

    /// Compare with this plaintext manifest instead of the remote's own.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Write the Markdown report here (default: in the state directory;
    /// with --no-state, standard output).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Also write a JUnit XML file (one test case per step).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Print the outcome as JSON instead of the headline.
    #[arg(long)]
    pub json: bool,

    /// Where to make the scratch folder (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,

    /// Keep the scratch folder (downloaded ciphertext) and say where.
    #[arg(long)]
    pub keep: bool,

    /// rclone's parallel transfers (default 4).
    #[arg(long, value_name = "N")]
    pub transfers: Option<usize>,

    /// The rclone binary (default: `rclone` on PATH).
    #[arg(long, value_name = "PATH")]
    pub rclone: Option<PathBuf>,

    /// rclone's config file (default: rclone's own default).
    #[arg(long, value_name = "FILE")]
    pub rclone_config: Option<PathBuf>,

    /// Refuse configs whose scrypt cost needs more memory than this (MiB).
    #[arg(long, value_name = "MiB", default_value_t = 4096)]
    pub scrypt_max_memory: u64,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The registered vault to drill.
    pub name: String,

    /// daily, weekly or monthly (default: the entry's drill.every, else
    /// monthly).
    #[arg(long, value_name = "WHEN", value_parser = parse_every)]
    pub every: Option<vaultdrill::schedule::Every>,

    /// Print a crontab line instead of systemd units.
    #[arg(long, conflicts_with = "install")]
    pub cron: bool,

    /// Write the units to ~/.config/systemd/user and enable the timer.
    #[arg(long)]
    pub install: bool,

    /// Schedule drills that skip the master-key proof (when the entry has
    /// no masterkey-file; the reports say what was not proven).
    #[arg(long)]
    pub no_masterkey: bool,
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    match text.parse::<SampleSize>()? {
        SampleSize::Bytes(b) => Ok(b),
        _ => Err(format!("{text:?}: give a size such as 256MiB")),
    }
}

fn parse_every(text: &str) -> Result<vaultdrill::schedule::Every, String> {
    vaultdrill::schedule::Every::parse(text)
        .ok_or_else(|| format!("{text:?}: give daily, weekly or monthly"))
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to run the demo (new or empty; default: a new temporary
    /// folder, kept, whose path is printed).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A registered vault, a remote, or a vault id prefix (default: all).
    pub vault: Option<String>,

    /// Also write one self-contained HTML page with a chart of coverage
    /// and results over time.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,

    /// Print the drills as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Debug, Args)]
pub struct VaultsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Debug, Args)]
pub struct PushArgs {
    /// The encrypted vault folder (the one with gocryptfs.conf); with
    /// --reverse, the plaintext folder of a reverse vault. Or the name of a
    /// vault in the registry (see `vaultdrill vaults`).
    pub source: PathBuf,

    /// Where to: an rclone remote (`b2-backup:bucket/vault`) or a local
    /// folder (`/media/usb/vault`). Optional for a registered vault.
    pub remote: Option<String>,

    /// SOURCE is the plaintext folder of a reverse vault: export its
    /// encrypted view (see `vaultdrill export`) into the staging folder,
    /// then push that. The manifest lives in SOURCE/.vaultdrill/.
    #[arg(long)]
    pub reverse: bool,

    /// With --reverse: where the encrypted view is kept between pushes
    /// (default: $XDG_CACHE_HOME/vaultdrill/<vault id>/export). Kept, so
    /// the next push exports and sends only what changed.
    #[arg(long, value_name = "DIR", requires = "reverse")]
    pub staging: Option<PathBuf>,

    /// With --reverse: leave out this path (relative to SOURCE), as
    /// gocryptfs -exclude; repeatable.
    #[arg(long, value_name = "PATH", requires = "reverse")]
    pub exclude: Vec<String>,

    /// With --reverse: leave out paths matching this gitignore-style
    /// pattern, as gocryptfs -exclude-wildcard; repeatable.
    #[arg(long, value_name = "PATTERN", requires = "reverse")]
    pub exclude_wildcard: Vec<String>,

    /// rclone's parallel transfers (default 4, as rclone; B2 users often
    /// use 20).
    #[arg(long, value_name = "N")]
    pub transfers: Option<usize>,

    /// Compare files by checksum instead of size and mtime (rclone
    /// --checksum; reads every local file).
    #[arg(long)]
    pub checksum: bool,

    /// Refuse a sync that would delete more than this many remote objects:
    /// a count (500) or a share (25%). Default: 10 %, at most 1000.
    #[arg(long, value_name = "N|N%")]
    pub max_delete: Option<DeleteLimit>,

    /// Push even when a guard trips (too many deletions, local damage).
    #[arg(long)]
    pub force: bool,

    /// Do not upload gocryptfs.conf (restores then need the master key or
    /// the local copy).
    #[arg(long)]
    pub no_config_upload: bool,

    /// The rclone binary (default: `rclone` on PATH).
    #[arg(long, value_name = "PATH")]
    pub rclone: Option<PathBuf>,

    /// rclone's config file (default: rclone's own default).
    #[arg(long, value_name = "FILE")]
    pub rclone_config: Option<PathBuf>,

    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub unlock: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The encrypted folder.
    pub cipherdir: PathBuf,

    /// Check only this plaintext path (file or directory); repeatable.
    #[arg(long = "path", value_name = "P")]
    pub paths: Vec<PathBuf>,

    /// Check against this plaintext manifest file instead of the vault's own
    /// (for example the copy in the local state directory).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub unlock: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder for the encrypted files (created if missing; must be
    /// empty), or with --reverse the existing plaintext folder.
    pub dir: PathBuf,

    /// Reverse mode: the folder stays plaintext and gets a
    /// .gocryptfs.reverse.conf; an encrypted view of it is what you upload
    /// (implies --aessiv).
    #[arg(long)]
    pub reverse: bool,

    /// Store names unencrypted (content stays encrypted).
    #[arg(long, conflicts_with_all = ["deterministic_names", "longnamemax"])]
    pub plaintextnames: bool,

    /// AES-SIV-512 content encryption (nonce-misuse resistant).
    #[arg(long)]
    pub aessiv: bool,

    /// XChaCha20-Poly1305 content encryption (fast without AES hardware).
    #[arg(long, conflicts_with_all = ["aessiv", "reverse"])]
    pub xchacha: bool,

    /// No gocryptfs.diriv files: the same name encrypts the same way in
    /// every directory.
    #[arg(long)]
    pub deterministic_names: bool,

    /// Hash encrypted names longer than N characters into
    /// gocryptfs.longname.* files (62..255; default 255).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(62..=255))]
    pub longnamemax: Option<u8>,

    /// scrypt cost as log2(N), 10..28 (default 16 = 64 MiB, as gocryptfs).
    #[arg(long, value_name = "LOG2N", default_value_t = 16, value_parser = clap::value_parser!(u8).range(10..=28))]
    pub scryptn: u8,

    /// Read the new password from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "extpass")]
    pub passfile: Option<PathBuf>,

    /// Run CMD and use the first line it prints as the new password.
    #[arg(long, value_name = "CMD")]
    pub extpass: Vec<String>,

    /// Write a printable Markdown recovery sheet to FILE (mode 0600; must
    /// not exist): master key, config, flags, and the restore commands.
    #[arg(long, value_name = "FILE")]
    pub recovery_kit: Option<PathBuf>,

    /// Print the master key even when standard output is not a terminal
    /// (it could end up in a log file).
    #[arg(long)]
    pub print_masterkey: bool,
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// The encrypted folder (or the plaintext folder of a reverse vault).
    pub dir: PathBuf,

    /// Read the new password from the first line of FILE (otherwise it is
    /// asked twice on the terminal).
    #[arg(long, value_name = "FILE", conflicts_with = "new_extpass")]
    pub new_passfile: Option<PathBuf>,

    /// Run CMD and use the first line it prints as the new password.
    #[arg(long, value_name = "CMD")]
    pub new_extpass: Vec<String>,

    /// New scrypt cost as log2(N) (default: keep the current one).
    #[arg(long, value_name = "LOG2N", value_parser = clap::value_parser!(u8).range(10..=28))]
    pub scryptn: Option<u8>,

    /// Accept a master key that the vault cannot confirm (it holds too
    /// little data to check it against).
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub unlock: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The encrypted folder (or the plaintext folder of a reverse vault).
    pub dir: PathBuf,

    /// Read the config from FILE instead of DIR/gocryptfs.conf.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// The encrypted folder.
    pub cipherdir: PathBuf,

    /// List only this plaintext path (file or directory); repeatable.
    #[arg(long = "path", value_name = "P")]
    pub paths: Vec<PathBuf>,

    /// Print one JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub unlock: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The encrypted folder.
    pub cipherdir: PathBuf,

    /// Where to write the plaintext: a new or empty folder outside CIPHERDIR.
    pub dest: PathBuf,

    /// Decrypt only this plaintext path (file or directory); repeatable.
    #[arg(long = "path", value_name = "P")]
    pub paths: Vec<PathBuf>,

    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,

    /// Restore setuid and setgid bits. Off by default: modes are not
    /// authenticated by gocryptfs, so anyone who can write to the backup
    /// could set them on a restored program.
    #[arg(long)]
    pub keep_setuid: bool,

    /// Recreate character and block device nodes (needs root). Off by
    /// default for the same reason.
    #[arg(long)]
    pub devices: bool,

    #[command(flatten)]
    pub unlock: UnlockArgs,
}

/// How to unlock a vault. Without any of these, vaultdrill asks for the
/// password on the terminal (or reads one line from standard input when it
/// is not a terminal, as gocryptfs does).
#[derive(Clone, Debug, Args)]
#[command(group(ArgGroup::new("secret").multiple(false).args(["passfile", "extpass", "masterkey_file", "masterkey_stdin"])))]
pub struct UnlockArgs {
    /// Read the password from the first line of FILE (as gocryptfs -passfile).
    #[arg(long, value_name = "FILE", help_heading = "Unlocking")]
    pub passfile: Option<PathBuf>,

    /// Run CMD and use the first line it prints as the password (as gocryptfs
    /// -extpass: split on spaces; repeat the option to pass arguments that
    /// contain spaces).
    #[arg(long, value_name = "CMD", help_heading = "Unlocking")]
    pub extpass: Vec<String>,

    /// Unlock with the master key stored in FILE, in the form gocryptfs
    /// printed it (8 groups of 8 hex digits; spaces and line breaks are fine).
    /// For when the password is lost.
    #[arg(long, value_name = "FILE", help_heading = "Unlocking")]
    pub masterkey_file: Option<PathBuf>,

    /// Read the master key from standard input.
    #[arg(long, help_heading = "Unlocking")]
    pub masterkey_stdin: bool,

    /// Use this config file instead of CIPHERDIR/gocryptfs.conf.
    #[arg(long, value_name = "FILE", help_heading = "Unlocking")]
    pub config: Option<PathBuf>,

    /// Refuse configs whose scrypt cost needs more memory than this (MiB).
    /// Protects against hostile configs; gocryptfs's default needs 64 MiB.
    #[arg(
        long,
        value_name = "MiB",
        default_value_t = 4096,
        help_heading = "Unlocking"
    )]
    pub scrypt_max_memory: u64,

    /// Not accepted: a key on the command line shows in `ps` and shell
    /// history. `--masterkey stdin` means --masterkey-stdin.
    #[arg(long, hide = true, value_name = "KEY")]
    pub masterkey: Option<String>,

    /// Not accepted: a password on the command line shows in `ps`.
    #[arg(long, hide = true, value_name = "PASSWORD")]
    pub password: Option<String>,
}
