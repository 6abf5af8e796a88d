//! The recovery sheet `init --recovery-kit` writes: a printable Markdown
//! page with the master key, the config, the vault's flags, and the exact
//! commands to restore with the password, with the master key, and with
//! neither the config nor gocryptfs. Built from data, rendered here.

use std::fmt::Write as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::format::config::VaultConfig;
use crate::format::keys::MasterKey;
use crate::format::layout::{NameMode, VaultLayout};

/// Everything the sheet says.
pub struct RecoveryKit<'a> {
    pub vault_path: &'a Path,
    pub reverse: bool,
    pub created: String,
    pub config: &'a VaultConfig,
    pub master_key: &'a MasterKey,
}

/// The options gocryptfs needs, with `-masterkey`, to mount this vault
/// without its config (`gocryptfs -masterkey` ignores the config file).
pub fn gocryptfs_masterkey_flags(layout: &VaultLayout) -> Vec<String> {
    let mut flags = Vec::new();
    match layout.content {
        crate::format::ContentAlgorithm::AesSiv => flags.push("-aessiv".to_string()),
        crate::format::ContentAlgorithm::XChaCha20Poly1305 => flags.push("-xchacha".to_string()),
        crate::format::ContentAlgorithm::AesGcm => {}
    }
    match layout.names {
        NameMode::Plaintext => flags.push("-plaintextnames".into()),
        NameMode::Encrypted {
            dir_iv,
            raw64,
            long_name_max,
        } => {
            if !dir_iv {
                flags.push("-deterministic-names".into());
            }
            if !raw64 {
                flags.push("-raw64=false".into());
            }
            if long_name_max != 255 {
                flags.push(format!("-longnamemax {long_name_max}"));
            }
        }
    }
    if !layout.hkdf {
        flags.push("-hkdf=false".into());
    }
    flags
}

fn quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-~".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The master key as a recovery sheet prints it (the two indented lines
/// under "## Master key"), as a person would type it into a key file.
pub fn printed_master_key(sheet: &str) -> Option<Zeroizing<String>> {
    let lines: Vec<&str> = sheet
        .lines()
        .skip_while(|l| !l.starts_with("## Master key"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .take(2)
        .map(str::trim)
        .collect();
    (lines.len() == 2).then(|| {
        let mut key = Zeroizing::new(String::with_capacity(lines[0].len() + lines[1].len() + 2));
        for line in lines {
            key.push_str(line);
            key.push('\n');
        }
        key
    })
}

impl RecoveryKit<'_> {
    pub fn render_markdown(&self) -> Zeroizing<String> {
        let layout = self.config.layout();
        // A reverse vault is restored from its uploaded encrypted copy.
        let v = if self.reverse {
            "ENCRYPTED-COPY".to_string()
        } else {
            quote(self.vault_path)
        };
        let key = self.master_key.to_printed_two_lines();
        // Every buffer that holds the key is sized up front: a String that
        // grows frees its old allocation without wiping it.
        let mut key_block = Zeroizing::new(String::with_capacity(2 * key.len() + 64));
        for line in key.lines() {
            key_block.push_str("    ");
            key_block.push_str(line);
            key_block.push('\n');
        }
        let mut flags = gocryptfs_masterkey_flags(&layout).join(" ");
        if !flags.is_empty() {
            flags.push(' ');
        }
        let paths = self.vault_path.as_os_str().len() + v.len();
        let mut out = Zeroizing::new(String::with_capacity(8192 + 16 * paths));
        let capacity = out.capacity();
        let o = &mut *out;
        let _ = writeln!(
            o,
            "# Recovery sheet: gocryptfs vault `{}`\n",
            self.vault_path.display()
        );
        let _ = writeln!(
            o,
            "Created {} by {}. **Keep this page offline** (printed, in a drawer): with it and a copy \
             of the encrypted folder, anyone can read every file, no password needed.\n",
            self.created, self.config.creator
        );
        let _ = writeln!(o, "## Master key\n");
        o.push_str(&key_block);
        let _ = writeln!(
            o,
            "\n64 hex digits in 8 groups of 8. To use it, type it into a file (here `key.txt`); \
             dashes, spaces and line breaks do not matter.\n"
        );
        let _ = writeln!(o, "## What kind of vault this is\n");
        let _ = writeln!(
            o,
            "- Kind: {}",
            if self.reverse {
                "reverse (plaintext folder, encrypted view uploaded)"
            } else {
                "forward (encrypted folder)"
            }
        );
        let _ = writeln!(o, "- Content: {}", layout.content.describe());
        let _ = writeln!(
            o,
            "- Key derivation: {}",
            if layout.hkdf {
                "HKDF-SHA256"
            } else {
                "none (master key used directly)"
            }
        );
        let _ = writeln!(o, "- Names: {}", layout.names);
        let _ = writeln!(
            o,
            "- Feature flags: {}",
            self.config
                .flags()
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let s = &self.config.scrypt;
        let _ = writeln!(
            o,
            "- Password hashing: scrypt N=2^{} R={} P={}\n",
            s.log_n(),
            s.r,
            s.p
        );
        let config_name = if self.reverse {
            ".gocryptfs.reverse.conf"
        } else {
            "gocryptfs.conf"
        };
        let _ = writeln!(o, "## The config file (`{config_name}`) as written\n");
        let _ = writeln!(
            o,
            "It holds the master key encrypted with your password. If the file is lost, retype it from here.\n"
        );
        let _ = writeln!(o, "```json\n{}```\n", self.config.to_gocryptfs_json());
        let what = if self.reverse {
            format!(
                "the encrypted copy you uploaded (the `gocryptfs -reverse` view of `{}`)",
                self.vault_path.display()
            )
        } else {
            "the encrypted folder, or a copy of it".to_string()
        };
        let _ = writeln!(
            o,
            "In the commands below, `{v}` stands for {what}, and `~/restored` for a new folder.\n"
        );
        let _ = writeln!(o, "## Restore with the password\n");
        let _ = writeln!(o, "    vaultdrill decrypt {v} ~/restored\n");
        let _ = writeln!(
            o,
            "With gocryptfs and FUSE instead: `gocryptfs {v} /mnt/vault`, then copy the files out.\n"
        );
        let _ = writeln!(o, "## Restore with the master key (password forgotten)\n");
        let _ = writeln!(
            o,
            "    vaultdrill decrypt {v} ~/restored --masterkey-file key.txt\n"
        );
        let _ = writeln!(
            o,
            // gocryptfs reads one line and strips only dashes: remove the rest.
            "With gocryptfs instead: `tr -d ' \\n' < key.txt | gocryptfs -masterkey=stdin {flags}{v} /mnt/vault`."
        );
        let _ = writeln!(
            o,
            "To set a new password: `vaultdrill passwd {v} --masterkey-file key.txt`.\n"
        );
        let _ = writeln!(o, "## Restore with neither the config nor gocryptfs\n");
        let _ = writeln!(
            o,
            "On any Linux machine with vaultdrill (no FUSE, no gocryptfs), the master key alone is enough: \
             vaultdrill detects every flag listed above from the encrypted files and proves the key \
             before writing anything (exit code 3 if it does not match).\n"
        );
        let _ = writeln!(
            o,
            "    vaultdrill decrypt {v} ~/restored --masterkey-file key.txt\n"
        );
        let _ = writeln!(
            o,
            "To get a working `{config_name}` back, under a new password:\n"
        );
        if self.reverse {
            let _ = writeln!(
                o,
                "    vaultdrill regen-config {v} --masterkey-file key.txt --reverse-plaindir {}\n",
                quote(self.vault_path)
            );
        } else {
            let _ = writeln!(
                o,
                "    vaultdrill regen-config {v} --masterkey-file key.txt\n"
            );
        }
        let _ = writeln!(
            o,
            "Or retype the JSON above into `{config_name}`: it opens with the password you chose at creation."
        );
        debug_assert_eq!(out.capacity(), capacity, "the sheet outgrew its buffer");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::config::NewVaultOptions;

    #[test]
    fn gocryptfs_flags_for_every_layout() {
        let cfg = |o| VaultConfig::new_for(&o, "t").unwrap().layout();
        let d = NewVaultOptions::default();
        assert!(gocryptfs_masterkey_flags(&cfg(d)).is_empty());
        assert_eq!(
            gocryptfs_masterkey_flags(&cfg(NewVaultOptions { aessiv: true, ..d })),
            ["-aessiv"]
        );
        assert_eq!(
            gocryptfs_masterkey_flags(&cfg(NewVaultOptions {
                xchacha: true,
                deterministic_names: true,
                long_name_max: 100,
                ..d
            })),
            ["-xchacha", "-deterministic-names", "-longnamemax 100"]
        );
        assert_eq!(
            gocryptfs_masterkey_flags(&cfg(NewVaultOptions {
                plaintext_names: true,
                ..d
            })),
            ["-plaintextnames"]
        );
        let legacy = VaultLayout {
            hkdf: false,
            names: NameMode::Encrypted {
                dir_iv: true,
                raw64: false,
                long_name_max: 255,
            },
            ..cfg(d)
        };
        assert_eq!(
            gocryptfs_masterkey_flags(&legacy),
            ["-raw64=false", "-hkdf=false"]
        );
    }

    #[test]
    fn sheet_has_key_config_and_commands() {
        let mk = MasterKey::from_bytes(&mut [0xab; 32]);
        let config = VaultConfig::new_for(
            &NewVaultOptions {
                aessiv: true,
                ..Default::default()
            },
            "vaultdrill 0.1.0",
        )
        .unwrap();
        let kit = RecoveryKit {
            vault_path: Path::new("/backup/my vault"),
            reverse: false,
            created: "2026-12-04T20:00:00Z".into(),
            config: &config,
            master_key: &mk,
        };
        let md = kit.render_markdown();
        assert!(md.contains(
            "    abababab-abababab-abababab-abababab-\n    abababab-abababab-abababab-abababab\n"
        ));
        assert!(md.contains(&config.to_gocryptfs_json()));
        assert!(
            md.contains(
                "vaultdrill decrypt '/backup/my vault' ~/restored --masterkey-file key.txt"
            )
        );
        assert!(md.contains(
            "tr -d ' \\n' < key.txt | gocryptfs -masterkey=stdin -aessiv '/backup/my vault' /mnt/vault"
        ));
        assert!(md.contains("vaultdrill regen-config '/backup/my vault' --masterkey-file key.txt"));
    }
}
