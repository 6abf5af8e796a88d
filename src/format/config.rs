//! `gocryptfs.conf` (and `.gocryptfs.reverse.conf`): parsing, validation and
//! byte-exact serialisation in the form gocryptfs itself writes.
//!
//! Mirrors `internal/configfile` of gocryptfs 2.x: keys match
//! case-insensitively, unknown keys are ignored, unknown feature flags and
//! contradictory flag sets are refused with a message naming them.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64_STD;
use serde_json::{Map, Value};
use thiserror::Error;

use super::content::ContentAlgorithm;
use super::layout::{NameMode, VaultLayout};

/// File name of the config in a forward vault's CIPHERDIR.
pub const CONFIG_NAME: &str = "gocryptfs.conf";
/// File name of the config in the plaintext folder of a reverse vault.
pub const REVERSE_CONFIG_NAME: &str = ".gocryptfs.reverse.conf";
/// The only on-disk format version gocryptfs 1.x/2.x reads.
pub const FORMAT_VERSION: u16 = 2;

/// The feature flags gocryptfs knows; any other string makes a config unreadable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureFlag {
    PlaintextNames,
    DirIV,
    EMENames,
    GCMIV128,
    LongNames,
    LongNameMax,
    AESSIV,
    Raw64,
    HKDF,
    FIDO2,
    XChaCha20Poly1305,
}

impl FeatureFlag {
    pub const ALL: [FeatureFlag; 11] = [
        FeatureFlag::PlaintextNames,
        FeatureFlag::DirIV,
        FeatureFlag::EMENames,
        FeatureFlag::GCMIV128,
        FeatureFlag::LongNames,
        FeatureFlag::LongNameMax,
        FeatureFlag::AESSIV,
        FeatureFlag::Raw64,
        FeatureFlag::HKDF,
        FeatureFlag::FIDO2,
        FeatureFlag::XChaCha20Poly1305,
    ];

    /// The spelling used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureFlag::PlaintextNames => "PlaintextNames",
            FeatureFlag::DirIV => "DirIV",
            FeatureFlag::EMENames => "EMENames",
            FeatureFlag::GCMIV128 => "GCMIV128",
            FeatureFlag::LongNames => "LongNames",
            FeatureFlag::LongNameMax => "LongNameMax",
            FeatureFlag::AESSIV => "AESSIV",
            FeatureFlag::Raw64 => "Raw64",
            FeatureFlag::HKDF => "HKDF",
            FeatureFlag::FIDO2 => "FIDO2",
            FeatureFlag::XChaCha20Poly1305 => "XChaCha20Poly1305",
        }
    }

    /// Exact, case-sensitive match, as gocryptfs compares flag strings.
    pub fn from_name(name: &str) -> Option<FeatureFlag> {
        FeatureFlag::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// The `ScryptObject` of a config: how the password becomes the key-encryption key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScryptParams {
    pub salt: Vec<u8>,
    pub n: u64,
    pub r: u64,
    pub p: u64,
    pub key_len: u64,
}

impl ScryptParams {
    /// log2(N); only meaningful once [`ScryptParams::validate`] passed.
    pub fn log_n(&self) -> u8 {
        self.n.trailing_zeros() as u8
    }

    /// Bytes of memory scrypt needs for these parameters (128 · N · r).
    pub fn memory_bytes(&self) -> u128 {
        128u128 * u128::from(self.n) * u128::from(self.r)
    }

    /// The lower bounds gocryptfs enforces, plus "N is a power of two" which
    /// its scrypt library enforces at derivation time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: String| Err(ConfigError::Scrypt(msg));
        if self.n < 1024 {
            return bad(format!("N={} is below the minimum 1024", self.n));
        }
        if !self.n.is_power_of_two() {
            return bad(format!("N={} is not a power of two", self.n));
        }
        if self.r < 8 {
            return bad(format!("R={} is below the minimum 8", self.r));
        }
        if self.p < 1 {
            return bad("P=0 is below the minimum 1".to_string());
        }
        if self.salt.len() < 32 {
            return bad(format!(
                "salt has {} bytes, at least 32 are required",
                self.salt.len()
            ));
        }
        if self.key_len != 32 {
            return bad(format!(
                "KeyLen={} but gocryptfs keys are 32 bytes",
                self.key_len
            ));
        }
        Ok(())
    }
}

/// What a new vault should look like (the options of `gocryptfs -init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewVaultOptions {
    pub plaintext_names: bool,
    pub aessiv: bool,
    pub xchacha: bool,
    pub deterministic_names: bool,
    /// 0 or 255 for the default; 62..=254 to hash shorter names.
    pub long_name_max: u8,
    /// log2 of scrypt's N (10..=28); gocryptfs's default is 16.
    pub scrypt_log_n: u8,
    /// A reverse vault (implies AES-SIV).
    pub reverse: bool,
}

impl Default for NewVaultOptions {
    fn default() -> Self {
        NewVaultOptions {
            plaintext_names: false,
            aessiv: false,
            xchacha: false,
            deterministic_names: false,
            long_name_max: 0,
            scrypt_log_n: 16,
            reverse: false,
        }
    }
}

impl NewVaultOptions {
    /// The feature flags `gocryptfs -init` writes for these options, in its
    /// order (`configfile.Create`).
    pub fn feature_flags(&self) -> Vec<FeatureFlag> {
        use FeatureFlag::*;
        let mut flags = vec![
            HKDF,
            if self.xchacha {
                XChaCha20Poly1305
            } else {
                GCMIV128
            },
        ];
        if self.plaintext_names {
            flags.push(PlaintextNames);
        } else {
            if !self.deterministic_names {
                flags.push(DirIV);
            }
            if self.long_name_max != 0 && self.long_name_max != 255 {
                flags.push(LongNameMax);
            }
            flags.extend([EMENames, LongNames, Raw64]);
        }
        if self.aessiv || self.reverse {
            flags.push(AESSIV);
        }
        flags
    }

    /// Checks what gocryptfs checks before creating a vault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=28).contains(&self.scrypt_log_n) {
            return Err(ConfigError::Scrypt(format!(
                "scrypt N=2^{} is outside 2^10..2^28",
                self.scrypt_log_n
            )));
        }
        if self.long_name_max != 0 && self.long_name_max < 62 {
            return Err(ConfigError::InvalidCombination(format!(
                "LongNameMax {} is outside the range 62..255",
                self.long_name_max
            )));
        }
        Ok(())
    }
}

/// The feature flags describing `layout`, in the order gocryptfs writes
/// them.
pub fn feature_flags_for(layout: &VaultLayout) -> Vec<FeatureFlag> {
    use FeatureFlag::*;
    let mut flags = Vec::new();
    if layout.hkdf {
        flags.push(HKDF);
    }
    flags.push(if layout.content == ContentAlgorithm::XChaCha20Poly1305 {
        XChaCha20Poly1305
    } else {
        GCMIV128
    });
    match layout.names {
        NameMode::Plaintext => flags.push(PlaintextNames),
        NameMode::Encrypted {
            dir_iv,
            raw64,
            long_name_max,
        } => {
            if dir_iv {
                flags.push(DirIV);
            }
            if long_name_max != 255 {
                flags.push(LongNameMax);
            }
            flags.extend([EMENames, LongNames]);
            if raw64 {
                flags.push(Raw64);
            }
        }
    }
    if layout.content == ContentAlgorithm::AesSiv {
        flags.push(AESSIV);
    }
    flags
}

/// FIDO2 parameters; only carried so that a config round-trips unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fido2Params {
    pub credential_id: Vec<u8>,
    pub hmac_salt: Vec<u8>,
    pub assert_options: Option<Vec<String>>,
}

/// A parsed and validated gocryptfs config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultConfig {
    pub creator: String,
    pub encrypted_key: Vec<u8>,
    pub scrypt: ScryptParams,
    pub version: u16,
    /// In file order; `None` when the file says `"FeatureFlags": null`.
    pub feature_flags: Option<Vec<FeatureFlag>>,
    pub fido2: Option<Fido2Params>,
    /// 0 means "not set" (the field is omitted from the file).
    pub long_name_max: u8,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("the file is empty")]
    Empty,
    #[error("not valid JSON ({0})")]
    NotJson(String),
    #[error("field {field}: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
    #[error("unsupported on-disk format version {0} (gocryptfs 1.x and 2.x use version 2)")]
    UnsupportedVersion(u64),
    #[error("unknown feature flag \"{0}\"")]
    UnknownFlag(String),
    #[error("invalid feature flag combination: {0}")]
    InvalidCombination(String),
    #[error("invalid scrypt parameters: {0}")]
    Scrypt(String),
}

impl VaultConfig {
    /// Parses and validates the bytes of a config file.
    pub fn parse(bytes: &[u8]) -> Result<VaultConfig, ConfigError> {
        if bytes.is_empty() {
            return Err(ConfigError::Empty);
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::NotJson(e.to_string()))?;
        let Value::Object(top) = value else {
            return Err(ConfigError::NotJson("top level is not an object".into()));
        };
        let creator = match lookup(&top, "Creator") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(field_err("Creator", "is not a string")),
        };
        let encrypted_key = bytes_field(&top, "EncryptedKey")?.unwrap_or_default();
        let scrypt = match lookup(&top, "ScryptObject") {
            Some(Value::Object(s)) => ScryptParams {
                salt: bytes_field(s, "Salt")?.unwrap_or_default(),
                n: uint_field(s, "N", "ScryptObject.N")?,
                r: uint_field(s, "R", "ScryptObject.R")?,
                p: uint_field(s, "P", "ScryptObject.P")?,
                key_len: uint_field(s, "KeyLen", "ScryptObject.KeyLen")?,
            },
            _ => return Err(field_err("ScryptObject", "is missing or not an object")),
        };
        let version = uint_field(&top, "Version", "Version")?;
        if version != u64::from(FORMAT_VERSION) {
            return Err(ConfigError::UnsupportedVersion(version));
        }
        let feature_flags = match lookup(&top, "FeatureFlags") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut flags = Vec::with_capacity(items.len());
                for item in items {
                    let Value::String(name) = item else {
                        return Err(field_err("FeatureFlags", "contains a non-string"));
                    };
                    let flag = FeatureFlag::from_name(name)
                        .ok_or_else(|| ConfigError::UnknownFlag(name.clone()))?;
                    flags.push(flag);
                }
                Some(flags)
            }
            Some(_) => return Err(field_err("FeatureFlags", "is not a list")),
        };
        let fido2 = match lookup(&top, "FIDO2") {
            None | Some(Value::Null) => None,
            Some(Value::Object(f)) => Some(Fido2Params {
                credential_id: bytes_field(f, "CredentialID")?.unwrap_or_default(),
                hmac_salt: bytes_field(f, "HMACSalt")?.unwrap_or_default(),
                assert_options: match lookup(f, "AssertOptions") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(a)) => Some(
                        a.iter()
                            .map(|v| v.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| {
                                field_err("FIDO2.AssertOptions", "is not a list of strings")
                            })?,
                    ),
                    Some(_) => return Err(field_err("FIDO2.AssertOptions", "is not a list")),
                },
            }),
            Some(_) => return Err(field_err("FIDO2", "is not an object")),
        };
        let long_name_max = match lookup(&top, "LongNameMax") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| field_err("LongNameMax", "is not a number from 0 to 255"))?,
        };
        let config = VaultConfig {
            creator,
            encrypted_key,
            scrypt,
            version: FORMAT_VERSION,
            feature_flags,
            fido2,
            long_name_max,
        };
        config.validate()?;
        Ok(config)
    }

    /// A config (validated, without key material) for an existing layout:
    /// what `regen-config` writes when the original is lost.
    pub fn for_layout(
        layout: &VaultLayout,
        scrypt_log_n: u8,
        creator: &str,
    ) -> Result<VaultConfig, ConfigError> {
        let long_name_max = match layout.names {
            NameMode::Encrypted { long_name_max, .. } if long_name_max != 255 => long_name_max,
            _ => 0,
        };
        let config = VaultConfig {
            creator: creator.to_string(),
            encrypted_key: Vec::new(),
            scrypt: ScryptParams {
                salt: vec![0; 32],
                n: 1 << scrypt_log_n.clamp(10, 28),
                r: 8,
                p: 1,
                key_len: 32,
            },
            version: FORMAT_VERSION,
            feature_flags: Some(feature_flags_for(layout)),
            fido2: None,
            long_name_max,
        };
        config.validate()?;
        Ok(config)
    }

    /// A new config (validated) with everything but the key material:
    /// `scrypt.salt` and `encrypted_key` are empty until
    /// `unlock::seal_master_key` fills them.
    pub fn new_for(options: &NewVaultOptions, creator: &str) -> Result<VaultConfig, ConfigError> {
        options.validate()?;
        let config = VaultConfig {
            creator: creator.to_string(),
            encrypted_key: Vec::new(),
            scrypt: ScryptParams {
                salt: vec![0; 32],
                n: 1 << options.scrypt_log_n,
                r: 8,
                p: 1,
                key_len: 32,
            },
            version: FORMAT_VERSION,
            feature_flags: Some(options.feature_flags()),
            fido2: None,
            long_name_max: if options.long_name_max == 255 {
                0
            } else {
                options.long_name_max
            },
        };
        config.validate()?;
        Ok(config)
    }

    pub fn has(&self, flag: FeatureFlag) -> bool {
        self.feature_flags
            .as_deref()
            .unwrap_or_default()
            .contains(&flag)
    }

    /// The flags in file order (empty when the file says `null`).
    pub fn flags(&self) -> &[FeatureFlag] {
        self.feature_flags.as_deref().unwrap_or_default()
    }

    /// The checks of gocryptfs's `Validate()`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        use FeatureFlag::*;
        if self.version != FORMAT_VERSION {
            return Err(ConfigError::UnsupportedVersion(u64::from(self.version)));
        }
        self.scrypt.validate()?;
        let combo = |msg: &str| Err(ConfigError::InvalidCombination(msg.to_string()));
        if self.has(XChaCha20Poly1305) && self.has(AESSIV) {
            return combo("XChaCha20Poly1305 and AESSIV exclude each other");
        }
        if self.has(AESSIV) && !self.has(GCMIV128) {
            return combo("AESSIV requires GCMIV128");
        }
        if self.has(XChaCha20Poly1305) {
            if self.has(GCMIV128) {
                return combo("XChaCha20Poly1305 conflicts with GCMIV128");
            }
            if !self.has(HKDF) {
                return combo("XChaCha20Poly1305 requires HKDF");
            }
        }
        if !self.has(XChaCha20Poly1305) && !self.has(AESSIV) && !self.has(GCMIV128) {
            return combo(
                "AES-GCM without GCMIV128 (a gocryptfs v0.x vault, which gocryptfs 2.x refuses too)",
            );
        }
        if self.has(PlaintextNames) {
            for other in [EMENames, DirIV, LongNames, Raw64, LongNameMax] {
                if self.has(other) {
                    return Err(ConfigError::InvalidCombination(format!(
                        "PlaintextNames conflicts with {}",
                        other.as_str()
                    )));
                }
            }
        }
        if self.long_name_max != 0 && !self.has(LongNameMax) {
            return Err(ConfigError::InvalidCombination(format!(
                "LongNameMax={} but the LongNameMax flag is not set",
                self.long_name_max
            )));
        }
        if self.long_name_max == 0 && self.has(LongNameMax) {
            return combo("the LongNameMax flag is set but the LongNameMax field is missing or 0");
        }
        Ok(())
    }

    /// The content cipher this config selects.
    pub fn content_algorithm(&self) -> ContentAlgorithm {
        if self.has(FeatureFlag::XChaCha20Poly1305) {
            ContentAlgorithm::XChaCha20Poly1305
        } else if self.has(FeatureFlag::AESSIV) {
            ContentAlgorithm::AesSiv
        } else {
            ContentAlgorithm::AesGcm
        }
    }

    /// What the flags mean for reading the vault, interpreted as gocryptfs 2.x
    /// does when it mounts (EME and long names are always on unless
    /// PlaintextNames; the EMENames/LongNames flags are informational).
    pub fn layout(&self) -> VaultLayout {
        let names = if self.has(FeatureFlag::PlaintextNames) {
            NameMode::Plaintext
        } else {
            NameMode::Encrypted {
                dir_iv: self.has(FeatureFlag::DirIV),
                raw64: self.has(FeatureFlag::Raw64),
                long_name_max: if self.long_name_max == 0 {
                    255
                } else {
                    self.long_name_max
                },
            }
        };
        VaultLayout {
            content: self.content_algorithm(),
            hkdf: self.has(FeatureFlag::HKDF),
            names,
        }
    }

    /// The file exactly as gocryptfs's `json.MarshalIndent(cf, "", "\t")` plus
    /// a trailing newline writes it.
    pub fn to_gocryptfs_json(&self) -> String {
        let mut out = String::with_capacity(512);
        out.push_str("{\n");
        let _ = writeln!(out, "\t\"Creator\": {},", go_json_string(&self.creator));
        let _ = writeln!(
            out,
            "\t\"EncryptedKey\": {},",
            go_json_bytes(&self.encrypted_key)
        );
        out.push_str("\t\"ScryptObject\": {\n");
        let _ = writeln!(out, "\t\t\"Salt\": {},", go_json_bytes(&self.scrypt.salt));
        let _ = writeln!(out, "\t\t\"N\": {},", self.scrypt.n);
        let _ = writeln!(out, "\t\t\"R\": {},", self.scrypt.r);
        let _ = writeln!(out, "\t\t\"P\": {},", self.scrypt.p);
        let _ = writeln!(out, "\t\t\"KeyLen\": {}", self.scrypt.key_len);
        out.push_str("\t},\n");
        let _ = writeln!(out, "\t\"Version\": {},", self.version);
        out.push_str("\t\"FeatureFlags\": ");
        match &self.feature_flags {
            None => out.push_str("null"),
            Some(flags) => go_json_string_list(&mut out, flags.iter().map(|f| f.as_str()), 1),
        }
        if let Some(f) = &self.fido2 {
            out.push_str(",\n\t\"FIDO2\": {\n");
            let _ = writeln!(
                out,
                "\t\t\"CredentialID\": {},",
                go_json_bytes(&f.credential_id)
            );
            let _ = writeln!(out, "\t\t\"HMACSalt\": {},", go_json_bytes(&f.hmac_salt));
            out.push_str("\t\t\"AssertOptions\": ");
            match &f.assert_options {
                None => out.push_str("null"),
                Some(opts) => go_json_string_list(&mut out, opts.iter().map(String::as_str), 2),
            }
            out.push_str("\n\t}");
        }
        if self.long_name_max != 0 {
            let _ = write!(out, ",\n\t\"LongNameMax\": {}", self.long_name_max);
        }
        out.push_str("\n}\n");
        out
    }
}

fn field_err(field: &'static str, problem: &str) -> ConfigError {
    ConfigError::Field {
        field,
        problem: problem.to_string(),
    }
}

/// Go's encoding/json matches an exact key first, then any case-insensitive one.
fn lookup<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn bytes_field(
    map: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<Vec<u8>>, ConfigError> {
    match lookup(map, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => B64_STD
            .decode(s)
            .map(Some)
            .map_err(|_| field_err(key, "is not valid base64")),
        Some(_) => Err(field_err(key, "is not a base64 string")),
    }
}

fn uint_field(
    map: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<u64, ConfigError> {
    match lookup(map, key) {
        None | Some(Value::Null) => Err(field_err(field, "is missing")),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| field_err(field, "is not a non-negative integer")),
    }
}

fn go_json_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        // Go marshals a nil []byte as null and an empty one as ""; configs
        // written by gocryptfs never have either, so "" is the safe choice.
        return "\"\"".to_string();
    }
    format!("\"{}\"", B64_STD.encode(bytes))
}

fn go_json_string_list<'a>(
    out: &mut String,
    items: impl ExactSizeIterator<Item = &'a str>,
    depth: usize,
) {
    let len = items.len();
    if len == 0 {
        out.push_str("[]");
        return;
    }
    let indent = "\t".repeat(depth + 1);
    out.push_str("[\n");
    for (i, item) in items.enumerate() {
        out.push_str(&indent);
        out.push_str(&go_json_string(item));
        if i + 1 < len {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str(&"\t".repeat(depth));
    out.push(']');
}

/// A JSON string escaped the way Go's encoding/json escapes it (HTML-safe).
fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_CONF: &str = r#"{
	"Creator": "gocryptfs 2.3",
	"EncryptedKey": "Mb5d4a+S9dHXwBMUjTgJmsKmUPNUQ6ITLBc9+gKNrnRMmljdGR/jEQHBJR2V3AAexzn4135RBtc99rK8NAM9jw==",
	"ScryptObject": {
		"Salt": "rddTcc+olpixXCsKvLpm3KG2y6tQCNHJwgNUIC5Jqns=",
		"N": 1024,
		"R": 8,
		"P": 1,
		"KeyLen": 32
	},
	"Version": 2,
	"FeatureFlags": [
		"HKDF",
		"GCMIV128",
		"DirIV",
		"EMENames",
		"LongNames",
		"Raw64"
	]
}
"#;

    fn with_flags(flags: &str) -> String {
        let start = DEFAULT_CONF.find("\"FeatureFlags\"").unwrap();
        format!(
            "{}\"FeatureFlags\": [{}]\n}}\n",
            &DEFAULT_CONF[..start],
            flags
        )
    }

    #[test]
    fn parses_and_reserialises_byte_identically() {
        let cfg = VaultConfig::parse(DEFAULT_CONF.as_bytes()).unwrap();
        assert_eq!(cfg.creator, "gocryptfs 2.3");
        assert_eq!(cfg.encrypted_key.len(), 64);
        assert_eq!(cfg.scrypt.log_n(), 10);
        assert_eq!(cfg.content_algorithm(), ContentAlgorithm::AesGcm);
        assert_eq!(cfg.to_gocryptfs_json(), DEFAULT_CONF);
    }

    #[test]
    fn keys_match_case_insensitively_and_unknown_keys_are_ignored() {
        let text = DEFAULT_CONF
            .replace("\"Creator\"", "\"creator\"")
            .replace("\"Version\": 2,", "\"Version\": 2, \"SomethingNew\": true,");
        let cfg = VaultConfig::parse(text.as_bytes()).unwrap();
        assert_eq!(cfg.creator, "gocryptfs 2.3");
    }

    #[test]
    fn null_feature_flags_round_trip() {
        let text = with_flags("").replace("[]", "null");
        let err = VaultConfig::parse(text.as_bytes()).unwrap_err();
        // No flags at all means AES-GCM without GCMIV128: refused, named.
        assert!(err.to_string().contains("GCMIV128"), "{err}");
    }

    #[test]
    fn refuses_unknown_flag_by_name() {
        let err =
            VaultConfig::parse(with_flags(r#""GCMIV128", "QuantumNames""#).as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "unknown feature flag \"QuantumNames\"");
    }

    #[test]
    fn refuses_invalid_combinations() {
        for (flags, needle) in [
            (
                r#""GCMIV128","AESSIV","XChaCha20Poly1305","HKDF""#,
                "exclude each other",
            ),
            (r#""AESSIV""#, "AESSIV requires GCMIV128"),
            (r#""XChaCha20Poly1305""#, "requires HKDF"),
            (
                r#""XChaCha20Poly1305","HKDF","GCMIV128""#,
                "conflicts with GCMIV128",
            ),
            (
                r#""GCMIV128","PlaintextNames","DirIV""#,
                "PlaintextNames conflicts with DirIV",
            ),
            (r#""GCMIV128","LongNameMax""#, "LongNameMax"),
        ] {
            let err = VaultConfig::parse(with_flags(flags).as_bytes()).unwrap_err();
            assert!(err.to_string().contains(needle), "{flags}: {err}");
        }
    }

    #[test]
    fn refuses_bad_scrypt_and_version() {
        let low_n = DEFAULT_CONF.replace("\"N\": 1024", "\"N\": 512");
        assert!(matches!(
            VaultConfig::parse(low_n.as_bytes()),
            Err(ConfigError::Scrypt(_))
        ));
        let odd_n = DEFAULT_CONF.replace("\"N\": 1024", "\"N\": 1025");
        assert!(matches!(
            VaultConfig::parse(odd_n.as_bytes()),
            Err(ConfigError::Scrypt(_))
        ));
        let v3 = DEFAULT_CONF.replace("\"Version\": 2", "\"Version\": 3");
        assert!(matches!(
            VaultConfig::parse(v3.as_bytes()),
            Err(ConfigError::UnsupportedVersion(3))
        ));
        assert!(matches!(VaultConfig::parse(b""), Err(ConfigError::Empty)));
        assert!(matches!(
            VaultConfig::parse(b"{\"Creator\":"),
            Err(ConfigError::NotJson(_))
        ));
    }

    #[test]
    fn new_configs_have_gocryptfs_init_flag_order() {
        let names = |o: NewVaultOptions| -> Vec<&str> {
            VaultConfig::new_for(&o, "t")
                .unwrap()
                .flags()
                .iter()
                .map(|f| f.as_str())
                .collect()
        };
        let d = NewVaultOptions::default();
        assert_eq!(
            names(d),
            [
                "HKDF",
                "GCMIV128",
                "DirIV",
                "EMENames",
                "LongNames",
                "Raw64"
            ]
        );
        assert_eq!(
            names(NewVaultOptions {
                plaintext_names: true,
                ..d
            }),
            ["HKDF", "GCMIV128", "PlaintextNames"]
        );
        assert_eq!(
            names(NewVaultOptions { xchacha: true, ..d }),
            [
                "HKDF",
                "XChaCha20Poly1305",
                "DirIV",
                "EMENames",
                "LongNames",
                "Raw64"
            ]
        );
        assert_eq!(
            names(NewVaultOptions {
                deterministic_names: true,
                ..d
            }),
            ["HKDF", "GCMIV128", "EMENames", "LongNames", "Raw64"]
        );
        assert_eq!(
            names(NewVaultOptions {
                long_name_max: 62,
                ..d
            }),
            [
                "HKDF",
                "GCMIV128",
                "DirIV",
                "LongNameMax",
                "EMENames",
                "LongNames",
                "Raw64"
            ]
        );
        assert_eq!(
            names(NewVaultOptions { reverse: true, ..d }),
            [
                "HKDF",
                "GCMIV128",
                "DirIV",
                "EMENames",
                "LongNames",
                "Raw64",
                "AESSIV"
            ]
        );
        assert!(
            VaultConfig::new_for(
                &NewVaultOptions {
                    xchacha: true,
                    aessiv: true,
                    ..d
                },
                "t"
            )
            .is_err()
        );
        assert!(
            VaultConfig::new_for(
                &NewVaultOptions {
                    long_name_max: 61,
                    ..d
                },
                "t"
            )
            .is_err()
        );
        assert!(
            VaultConfig::new_for(
                &NewVaultOptions {
                    scrypt_log_n: 9,
                    ..d
                },
                "t"
            )
            .is_err()
        );
    }

    #[test]
    fn configs_for_detected_layouts_match_what_gocryptfs_wrote() {
        // The legacy fixture (gocryptfs 1.2 style) has exactly these flags.
        let legacy = VaultLayout {
            content: ContentAlgorithm::AesGcm,
            hkdf: false,
            names: NameMode::Encrypted {
                dir_iv: true,
                raw64: false,
                long_name_max: 255,
            },
        };
        let names = |l: &VaultLayout| -> Vec<&str> {
            feature_flags_for(l).iter().map(|f| f.as_str()).collect()
        };
        assert_eq!(
            names(&legacy),
            ["GCMIV128", "DirIV", "EMENames", "LongNames"]
        );
        for o in [
            NewVaultOptions::default(),
            NewVaultOptions {
                aessiv: true,
                ..Default::default()
            },
            NewVaultOptions {
                xchacha: true,
                long_name_max: 100,
                ..Default::default()
            },
            NewVaultOptions {
                plaintext_names: true,
                ..Default::default()
            },
            NewVaultOptions {
                reverse: true,
                deterministic_names: true,
                ..Default::default()
            },
        ] {
            let made = VaultConfig::new_for(&o, "t").unwrap();
            let rebuilt = VaultConfig::for_layout(&made.layout(), 16, "t").unwrap();
            assert_eq!(made.feature_flags, rebuilt.feature_flags, "{o:?}");
            assert_eq!(made.long_name_max, rebuilt.long_name_max);
        }
    }

    #[test]
    fn go_escaping() {
        assert_eq!(
            go_json_string("a<b>&\"\\\u{1}"),
            r#""a\u003cb\u003e\u0026\"\\\u0001""#
        );
    }
}
