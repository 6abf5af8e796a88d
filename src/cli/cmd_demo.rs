//! `vaultdrill demo`: the whole story on bundled files, in a new folder,
//! with the real commands printed as they run: make a vault, push it to a
//! local folder standing in for a bucket, drill it, let an object rot,
//! watch the drill find it, repair with a push, drill again.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vaultdrill::ExitStatus;
use vaultdrill::demo;
use vaultdrill::encrypt::VaultDir;
use vaultdrill::format::keys::{MasterKey, Password};
use vaultdrill::format::unlock::ScryptLimits;
use vaultdrill::vault::{LockedVault, Secret, UnlockedVault};

use super::UsageError;
use super::args::{Cli, DemoArgs};

const PASSWORD: &str = "correct horse battery staple";

/// One step: its title, the command's arguments, the exit code it must
/// end with.
struct Step<'a> {
    title: &'a str,
    args: Vec<&'a str>,
    expect: i32,
}

fn private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

pub fn run(args: &DemoArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let dir: PathBuf = match &args.dir {
        Some(d) => {
            if d.exists() && fs::read_dir(d)?.next().is_some() {
                return Err(UsageError::new(
                    format!("{}: the demo folder is not empty", d.display()),
                    "give a new or empty folder with --dir, or none for a new temporary one",
                )
                .into());
            }
            fs::create_dir_all(d)?;
            d.clone()
        }
        None => tempfile::Builder::new()
            .prefix("vaultdrill-demo-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?
            .keep(),
    };
    let exe = std::env::current_exe()?;
    let say = |text: &str| {
        if !cli.quiet {
            println!("{text}");
        }
    };
    say(&format!(
        "vaultdrill demo, in {} (nothing outside it is touched; the state directory is \
         {}/state).",
        dir.display(),
        dir.display()
    ));

    // The files, the password file, and a vault with its recovery sheet.
    demo::write_files(&dir.join("files"))?;
    private_file(&dir.join("password"), format!("{PASSWORD}\n").as_bytes())?;
    fs::create_dir(dir.join("reports"))?;
    let run_step = |n: usize, step: &Step<'_>| -> anyhow::Result<()> {
        say(&format!(
            "\n==> {n}. {}\n$ vaultdrill {}",
            step.title,
            step.args.join(" ")
        ));
        let mut cmd = Command::new(&exe);
        cmd.args(&step.args)
            .current_dir(&dir)
            .env("VAULTDRILL_STATE_DIR", dir.join("state"))
            .env("VAULTDRILL_CACHE_DIR", dir.join("cache"))
            // Nothing of the user's: no registry of theirs, locks in the
            // demo's own state directory.
            .env("VAULTDRILL_CONFIG", dir.join("registry.toml"))
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null());
        if cli.quiet {
            cmd.arg("--quiet").stdout(Stdio::null());
        }
        let status = cmd.status()?;
        let code = status.code().unwrap_or(-1);
        if code != step.expect {
            anyhow::bail!(
                "demo step {n} ({}) ended with exit code {code}, expected {}; everything is in {}",
                step.title,
                step.expect,
                dir.display()
            );
        }
        if step.expect != 0 {
            say(&format!(
                "(exit code {code}, as expected: 1 means the backup is damaged)"
            ));
        }
        Ok(())
    };

    run_step(
        1,
        &Step {
            title: "Create a vault, with a recovery sheet holding its master key",
            args: vec![
                "init",
                "vault",
                "--passfile",
                "password",
                "--recovery-kit",
                "recovery-kit.md",
            ],
            expect: 0,
        },
    )?;
    // As you would type it from the printed sheet.
    let sheet = fs::read_to_string(dir.join("recovery-kit.md"))?;
    let key = vaultdrill::recovery_kit::printed_master_key(&sheet)
        .ok_or_else(|| anyhow::anyhow!("recovery-kit.md: no master key in the sheet"))?;
    private_file(&dir.join("masterkey.txt"), key.as_bytes())?;
    say("(the master key copied from recovery-kit.md into masterkey.txt, as you would type it)");

    let drill = |report: &'static str| -> Vec<&'static str> {
        vec![
            "drill",
            "remote",
            "--sample",
            "100%",
            "--passfile",
            "password",
            "--masterkey-file",
            "masterkey.txt",
            "--report",
            report,
        ]
    };
    let steps = [
        Step {
            title: "Encrypt the bundled files into the vault (no FUSE, no gocryptfs)",
            args: vec!["encrypt", "files", "vault", "--passfile", "password"],
            expect: 0,
        },
        Step {
            title: "Push the vault and its manifest to a local folder standing in for a bucket",
            args: vec!["push", "vault", "remote", "--passfile", "password"],
            expect: 0,
        },
        Step {
            title: "Drill: prove the remote copy restores, with the password and with only the \
                    master key",
            args: drill("reports/1-clean.md"),
            expect: 0,
        },
    ];
    for (i, step) in steps.iter().enumerate() {
        run_step(i + 2, step)?;
    }

    // Rot: one flipped bit in one object of the remote.
    let object = object_of(&dir, demo::VICTIM)?;
    let mut bytes = fs::read(&object)?;
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&object)?);
    fs::write(&object, &bytes)?;
    filetime::set_file_mtime(&object, mtime)?;
    say(&format!(
        "\n==> 5. Let the bucket rot: one bit of {} flipped in its object {}, size and date \
         unchanged",
        demo::VICTIM,
        object.strip_prefix(&dir).unwrap_or(&object).display()
    ));

    let steps = [
        Step {
            title: "Drill again: the damage is found and named (exit code 1)",
            args: drill("reports/2-after-rot.md"),
            expect: 1,
        },
        Step {
            title: "Repair: push again, comparing contents (--checksum)",
            args: vec![
                "push",
                "vault",
                "remote",
                "--passfile",
                "password",
                "--checksum",
            ],
            expect: 0,
        },
        Step {
            title: "Drill once more: restorable again",
            args: drill("reports/3-repaired.md"),
            expect: 0,
        },
        Step {
            title: "The history of drills, with a page to look at",
            args: vec!["history", "--html", "reports/history.html"],
            expect: 0,
        },
    ];
    for (i, step) in steps.iter().enumerate() {
        run_step(i + 6, step)?;
    }
    say(&format!(
        "\nDone. Read the reports in {reports}: 1-clean.md, 2-after-rot.md (the failure, with \
         what to do), 3-repaired.md; open history.html in a browser. Then try your own vault: \
         `vaultdrill push --help`, `vaultdrill drill --help`. Remove the demo with: rm -rf {dir}",
        reports = dir.join("reports").display(),
        dir = dir.display()
    ));
    Ok(ExitStatus::Verified)
}

/// The remote object that holds the plaintext file `plain`.
fn object_of(dir: &Path, plain: &str) -> anyhow::Result<PathBuf> {
    let vault_dir = dir.join("vault");
    let locked = LockedVault::open(&vault_dir, None).map_err(vaultdrill::Error::from)?;
    let layout = locked.config().layout();
    let password = Password::new(zeroize::Zeroizing::new(PASSWORD.as_bytes().to_vec()))
        .ok_or_else(|| anyhow::anyhow!("empty demo password"))?;
    let (key, _): (MasterKey, _) = locked
        .master_key(Secret::Password(password), &ScryptLimits::default())
        .map_err(vaultdrill::Error::from)?;
    let vault = UnlockedVault::new(vault_dir, layout, &key);
    let mut cipher = PathBuf::new();
    let mut parent = PathBuf::new();
    for part in Path::new(plain).iter() {
        let name = VaultDir::open(&vault, &parent)
            .and_then(|d| d.cipher_name(&vault, part))
            .map_err(|k| anyhow::anyhow!("{plain}: {k}"))?;
        cipher.push(name);
        parent.push(part);
    }
    Ok(dir.join("remote").join(cipher))
}
