//! `vaultdrill info`: the vault's format, no secrets.

use std::io::{self, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::format::config::FeatureFlag;
use vaultdrill::format::layout::NameMode;
use vaultdrill::vault::{LockedVault, VaultKind};

use super::args::InfoArgs;

#[derive(Serialize)]
struct ScryptInfo {
    salt_bytes: usize,
    n: u64,
    log2_n: u8,
    r: u64,
    p: u64,
    key_len: u64,
    memory_mib: u128,
}

#[derive(Serialize)]
struct NamesInfo {
    encrypted: bool,
    dir_iv: bool,
    raw64: bool,
    long_name_max: Option<u8>,
}

/// Everything `info` reports, rendered as text or JSON.
#[derive(Serialize)]
struct InfoReport {
    config_path: String,
    kind: &'static str,
    creator: String,
    feature_flags: Vec<&'static str>,
    encrypted_key_bytes: usize,
    scrypt: ScryptInfo,
    content_encryption: &'static str,
    content_cipher: String,
    hkdf: bool,
    names: NamesInfo,
    name_mode: String,
    fido2: bool,
}

impl InfoReport {
    fn new(vault: &LockedVault) -> InfoReport {
        let cfg = vault.config();
        let layout = cfg.layout();
        let s = &cfg.scrypt;
        let names = match layout.names {
            NameMode::Plaintext => NamesInfo {
                encrypted: false,
                dir_iv: false,
                raw64: false,
                long_name_max: None,
            },
            NameMode::Encrypted {
                dir_iv,
                raw64,
                long_name_max,
            } => NamesInfo {
                encrypted: true,
                dir_iv,
                raw64,
                long_name_max: Some(long_name_max),
            },
        };
        InfoReport {
            config_path: vault.config_path().display().to_string(),
            kind: match vault.kind() {
                VaultKind::Forward => "forward",
                VaultKind::ReversePlaintext => "reverse",
            },
            creator: cfg.creator.clone(),
            feature_flags: cfg.flags().iter().map(|f| f.as_str()).collect(),
            encrypted_key_bytes: cfg.encrypted_key.len(),
            scrypt: ScryptInfo {
                salt_bytes: s.salt.len(),
                n: s.n,
                log2_n: s.log_n(),
                r: s.r,
                p: s.p,
                key_len: s.key_len,
                memory_mib: s.memory_bytes() >> 20,
            },
            content_encryption: layout.content.gocryptfs_name(),
            content_cipher: format!(
                "{}, {}",
                layout.content.describe(),
                if layout.hkdf {
                    "key derived with HKDF-SHA256"
                } else {
                    "master key used directly (no HKDF)"
                }
            ),
            hkdf: layout.hkdf,
            names,
            name_mode: layout.names.to_string(),
            fido2: cfg.has(FeatureFlag::FIDO2),
        }
    }

    fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        // The first five lines are exactly what `gocryptfs -info` prints.
        writeln!(out, "Creator:           {}", self.creator)?;
        writeln!(out, "FeatureFlags:      {}", self.feature_flags.join(" "))?;
        writeln!(out, "EncryptedKey:      {}B", self.encrypted_key_bytes)?;
        let s = &self.scrypt;
        writeln!(
            out,
            "ScryptObject:      Salt={}B N={} R={} P={} KeyLen={}",
            s.salt_bytes, s.n, s.r, s.p, s.key_len
        )?;
        writeln!(out, "contentEncryption: {}", self.content_encryption)?;
        writeln!(
            out,
            "Config:            {} ({} vault)",
            self.config_path, self.kind
        )?;
        writeln!(out, "Content cipher:    {}", self.content_cipher)?;
        writeln!(out, "Name mode:         {}", self.name_mode)?;
        if self.fido2 {
            writeln!(
                out,
                "Unlock:            FIDO2 token, or the master key (vaultdrill has no FIDO2 support)"
            )?;
        } else {
            writeln!(
                out,
                "Unlock:            password via scrypt N=2^{} ({} MiB of memory), or the master key",
                s.log2_n, s.memory_mib
            )?;
        }
        Ok(())
    }
}

pub fn run(args: &InfoArgs) -> anyhow::Result<ExitStatus> {
    let vault =
        LockedVault::open(&args.dir, args.config.as_deref()).map_err(vaultdrill::Error::from)?;
    let report = InfoReport::new(&vault);
    let print = || -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        if args.json {
            super::write_json(&mut out, &report)?;
        } else {
            report.write_text(&mut out)?;
        }
        Ok(())
    };
    // A reader that went away changes nothing.
    Ok(super::print_then(ExitStatus::Verified, print))
}
