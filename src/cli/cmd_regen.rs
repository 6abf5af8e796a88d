//! `vaultdrill regen-config`: a lost config rebuilt from the master key.

use std::io::{self, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::create::regenerate_config;
use vaultdrill::format::ContentAlgorithm;
use vaultdrill::format::config::{CONFIG_NAME, REVERSE_CONFIG_NAME, feature_flags_for};
use vaultdrill::secrets::{SecretSource, read_new_password, read_secret};
use vaultdrill::vault::Secret;
use vaultdrill::vault::detect::{Detection, Finding, Hints, detect_layout};

use super::UsageError;
use super::args::{Cli, RegenArgs};

#[derive(Serialize)]
struct JsonDetection<'a> {
    findings: &'a [Finding],
    feature_flags: Vec<&'static str>,
    written: Option<String>,
}

fn hints(args: &RegenArgs) -> Hints {
    Hints {
        content: if args.gcm {
            Some(ContentAlgorithm::AesGcm)
        } else if args.aessiv {
            Some(ContentAlgorithm::AesSiv)
        } else if args.xchacha {
            Some(ContentAlgorithm::XChaCha20Poly1305)
        } else {
            None
        },
        hkdf: args.hkdf,
        raw64: args.raw64,
        plaintext_names: args.plaintextnames.then_some(true),
        dir_iv: args.deterministic_names.then_some(false),
        long_name_max: args.longnamemax,
    }
}

/// The findings as aligned text lines.
pub fn findings_text(detection: &Detection) -> String {
    let mut out = String::new();
    for f in &detection.findings {
        let mark = if f.assumed { " (assumed)" } else { "" };
        out.push_str(&format!(
            "  {:<15} {}{mark}\n  {:<15} because {}\n",
            format!("{}:", f.what),
            f.value,
            "",
            f.evidence
        ));
    }
    let flags: Vec<&str> = feature_flags_for(&detection.layout)
        .iter()
        .map(|f| f.as_str())
        .collect();
    out.push_str(&format!("  {:<15} {}\n", "flags:", flags.join(" ")));
    out
}

pub fn run(args: &RegenArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let source = match &args.masterkey_file {
        Some(p) => SecretSource::MasterKeyFile(p.clone()),
        None => SecretSource::MasterKeyStdin,
    };
    let target_dir = args.reverse_plaindir.as_deref().unwrap_or(&args.cipherdir);
    let config_name = if args.reverse_plaindir.is_some() {
        REVERSE_CONFIG_NAME
    } else {
        CONFIG_NAME
    };
    if !args.dry_run && target_dir.join(config_name).exists() {
        return Err(UsageError::new(
            format!(
                "{}: a config exists; regen-config never replaces one",
                target_dir.join(config_name).display()
            ),
            "use `vaultdrill passwd` to change its password, or move it away if it is damaged",
        )
        .into());
    }
    let Secret::MasterKey(master_key) = read_secret(&source, &args.cipherdir.display().to_string())
        .map_err(vaultdrill::Error::from)?
    else {
        unreachable!("a master-key source yields a master key");
    };
    let detection = detect_layout(&args.cipherdir, &master_key, &hints(args))
        .map_err(vaultdrill::Error::from)?;
    if args.reverse_plaindir.is_some() && detection.layout.content != ContentAlgorithm::AesSiv {
        return Err(UsageError::new(
            format!(
                "{}: this view is not AES-SIV, so it is not a reverse vault's (gocryptfs -reverse needs AES-SIV)",
                args.cipherdir.display()
            ),
            "give the encrypted view of the reverse vault, or drop --reverse-plaindir",
        )
        .into());
    }
    let assumed: Vec<&str> = detection
        .findings
        .iter()
        .filter(|f| f.assumed)
        .map(|f| f.what)
        .collect();
    if !args.dry_run && !assumed.is_empty() && !args.assume_defaults {
        print!("{}", findings_text(&detection));
        return Err(UsageError::new(
            format!("the vault cannot tell {}; the config would assume it", assumed.join(" and ")),
            "give it as an option (see the evidence above), or accept the assumption with --assume-defaults",
        )
        .into());
    }
    let mut written = None;
    if !args.dry_run {
        let password =
            read_new_password(&match (&args.new_passfile, args.new_extpass.as_slice()) {
                (Some(p), _) => SecretSource::Passfile(p.clone()),
                (None, []) => SecretSource::Interactive,
                (None, cmd) => SecretSource::Extpass(cmd.to_vec()),
            })
            .map_err(vaultdrill::Error::from)?;
        let (path, _) = regenerate_config(
            target_dir,
            args.reverse_plaindir.is_some(),
            &detection.layout,
            &master_key,
            &password,
            args.scryptn,
        )
        .map_err(vaultdrill::Error::from)?;
        written = Some(path);
    }
    let mut out = io::stdout().lock();
    if args.json {
        let json = JsonDetection {
            findings: &detection.findings,
            feature_flags: feature_flags_for(&detection.layout)
                .iter()
                .map(|f| f.as_str())
                .collect(),
            written: written.as_ref().map(|p| p.display().to_string()),
        };
        super::write_json(&mut out, &json)?;
    } else if !cli.quiet || args.dry_run {
        writeln!(
            out,
            "Detected from the ciphertext of {} (the master key is proven):",
            args.cipherdir.display()
        )?;
        write!(out, "{}", findings_text(&detection))?;
        match &written {
            Some(path) => writeln!(
                out,
                "Wrote {} under the new password; gocryptfs and vaultdrill open it.",
                path.display()
            )?,
            None => writeln!(out, "Dry run: nothing written.")?,
        }
    }
    Ok(ExitStatus::Verified)
}
