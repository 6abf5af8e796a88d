//! Properties over random inputs (proptest), at the format level and for
//! whole trees through the binary:
//! what is sealed opens to the same bytes for every cipher, sizes map both
//! ways, names round-trip in both encodings, and a manifest reads back as
//! written. Failures shrink to a minimal case and are kept by proptest.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use proptest::prelude::*;
use vaultdrill::format::content::PLAIN_BLOCK_LEN;
use vaultdrill::format::{
    ContentAlgorithm, ContentCipher, DirIv, FileId, MasterKey, NameCipher, NameEncoding,
    OpenedBlock,
};
use vaultdrill::manifest::{FORMAT, Header, ManifestReader, ManifestWriter, Record, VERSION};

fn key(bytes: &[u8; 32]) -> MasterKey {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    MasterKey::parse(hex.as_bytes()).expect("64 hex digits")
}

fn algorithms() -> impl Strategy<Value = (ContentAlgorithm, bool)> {
    prop_oneof![
        Just((ContentAlgorithm::AesGcm, true)),
        Just((ContentAlgorithm::AesGcm, false)),
        Just((ContentAlgorithm::AesSiv, true)),
        Just((ContentAlgorithm::AesSiv, false)),
        Just((ContentAlgorithm::XChaCha20Poly1305, true)),
    ]
}

/// A valid plaintext file name: 1..=255 bytes, no `/` or NUL, not `.`/`..`.
fn names() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no / or NUL", |b| *b != b'/' && *b != 0),
        1..=255,
    )
    .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sealed_content_opens_to_the_same_bytes(
        (algorithm, hkdf) in algorithms(),
        mk in any::<[u8; 32]>(),
        id in any::<[u8; 16]>().prop_filter("non-zero id", |i| i.iter().any(|&b| b != 0)),
        plain in proptest::collection::vec(any::<u8>(), 1..3 * PLAIN_BLOCK_LEN + 100),
        nonce_seed in any::<u64>(),
    ) {
        let cipher = ContentCipher::new(&key(&mk), algorithm, hkdf).expect("cipher");
        let mut opener = cipher.opener();
        let file_id = FileId(id);
        let mut sealed = Vec::new();
        for (n, chunk) in plain.chunks(PLAIN_BLOCK_LEN).enumerate() {
            let mut nonce = vec![0u8; algorithm.nonce_len()];
            for (i, b) in nonce.iter_mut().enumerate() {
                *b = (nonce_seed.rotate_left(i as u32 * 5) as u8) ^ (n as u8) | 1;
            }
            opener.seal(n as u64, Some(&file_id), &nonce, chunk, &mut sealed).expect("seal");
        }
        // Sizes: the ciphertext of n plaintext bytes, and back.
        let cipher_size = algorithm.cipher_size(plain.len() as u64);
        prop_assert_eq!(cipher_size, 18 + sealed.len() as u64);
        prop_assert_eq!(algorithm.plain_size(cipher_size), plain.len() as u64);
        // Every block opens, in order, to the plaintext; the wrong block
        // number or file id does not authenticate.
        let mut out = Vec::new();
        for (n, block) in sealed.chunks(algorithm.cipher_block_len()).enumerate() {
            let mut b = block.to_vec();
            match opener.open(n as u64, Some(&file_id), &mut b).expect("open") {
                OpenedBlock::Data(range) => out.extend_from_slice(&b[range]),
                OpenedBlock::Hole => prop_assert!(false, "a sealed block is no hole"),
            }
            let mut moved = block.to_vec();
            prop_assert!(opener.open(n as u64 + 1, Some(&file_id), &mut moved).is_err());
            let mut other = id;
            other[0] ^= 1;
            let mut b = block.to_vec();
            prop_assert!(opener.open(n as u64, Some(&FileId(other)), &mut b).is_err());
        }
        prop_assert_eq!(out, plain);
    }

    #[test]
    fn names_round_trip_in_both_encodings(
        mk in any::<[u8; 32]>(),
        iv in any::<[u8; 16]>(),
        hkdf in any::<bool>(),
        raw64 in any::<bool>(),
        name in names(),
    ) {
        let encoding = if raw64 { NameEncoding::Raw64 } else { NameEncoding::Padded };
        let names = NameCipher::new(&key(&mk), hkdf, encoding);
        let iv = DirIv(iv);
        let encrypted = names.encrypt(&name, &iv).expect("encrypt");
        prop_assert!(!encrypted.contains('/'));
        prop_assert_eq!(names.decrypt(&encrypted, &iv).expect("decrypt"), name.clone());
        // Another folder's IV gives another name.
        let mut other = iv.0;
        other[15] ^= 1;
        prop_assert_ne!(names.encrypt(&name, &DirIv(other)).expect("encrypt"), encrypted);
    }

    #[test]
    fn a_manifest_reads_back_as_written(
        entries in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 1..40), any::<u64>(), any::<[u8; 32]>()),
            0..50,
        ),
    ) {
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            vault_id: "0123456789abcdef0123456789abcdef".into(),
            created: "2026-12-05T00:00:00Z".into(),
            tool: "test".into(),
            feature_flags: vec!["HKDF".into()],
            content: "AES-GCM-256".into(),
            remote_hashes: vec![],
            root_mtime_ns: Some(1),
            manifest_dir: None,
        };
        let records: Vec<Record> = entries
            .iter()
            .enumerate()
            .map(|(i, (path, size, hash))| {
                let mut r = Record {
                    kind: "file".into(),
                    size: Some(*size),
                    cipher_path: format!("c{i}"),
                    cipher_size: size.saturating_add(50),
                    blake3: Some(hash.iter().map(|b| format!("{b:02x}")).collect()),
                    ..Default::default()
                };
                // Any bytes as a path: UTF-8 or not, they come back.
                r.set_plain_path(Path::new(std::ffi::OsStr::from_bytes(path)));
                r
            })
            .collect();
        let mut writer = ManifestWriter::new(Vec::new(), &header).expect("writer");
        for r in &records {
            writer.record(r).expect("record");
        }
        let (bytes, trailer) = writer.finish().expect("finish");
        let mut reader = ManifestReader::new(&bytes[..]).expect("reader");
        prop_assert_eq!(reader.header(), &header);
        let mut back = Vec::new();
        while let Some(r) = reader.next_record().expect("record") {
            back.push(r);
        }
        prop_assert_eq!(&back, &records);
        prop_assert_eq!(reader.finish().expect("trailer"), trailer);
    }
}

mod common;

/// A random plaintext tree: up to 8 entries, files (sizes around the
/// 4096-byte block edges included) and folders holding a file, under
/// random names of 1..=255 bytes (not UTF-8 too).
fn trees() -> impl Strategy<Value = Vec<(Vec<u8>, Option<usize>)>> {
    let size = prop_oneof![
        Just(0usize),
        Just(1),
        Just(4095),
        Just(4096),
        Just(4097),
        0usize..20_000
    ];
    proptest::collection::vec((names(), proptest::option::weighted(0.8, size)), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whole trees, through the binary: `init` (every cipher, name mode and
    /// long-name limit), `encrypt`, then `decrypt` gives the same tree.
    #[test]
    fn random_trees_encrypt_and_decrypt_to_themselves(
        tree in trees(),
        mode in 0usize..6,
        seed in any::<u8>(),
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let plain = tmp.path().join("plain");
        std::fs::create_dir(&plain).expect("mkdir");
        for (i, (name, size)) in tree.iter().enumerate() {
            let path = plain.join(std::ffi::OsStr::from_bytes(name));
            if path.exists() {
                continue;
            }
            match size {
                Some(n) => std::fs::write(&path, common::content(&format!("{seed}-{i}"), *n)).expect("write"),
                None => {
                    std::fs::create_dir(&path).expect("mkdir");
                    std::fs::write(path.join("inside"), b"x").expect("write");
                }
            }
        }
        let flags: &[&str] = match mode {
            0 => &[],
            1 => &["--aessiv"],
            2 => &["--xchacha"],
            3 => &["--plaintextnames"],
            4 => &["--longnamemax", "62"],
            _ => &["--deterministic-names"],
        };
        let vault = tmp.path().join("vault");
        let pass = common::password_file();
        let run = |args: &[&std::ffi::OsStr]| {
            let out = common::vaultdrill().args(args).output().expect("runs");
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let os = |s: &'static str| std::ffi::OsStr::new(s);
        let kit = tmp.path().join("kit.md");
        let mut init = vec![os("init"), vault.as_os_str(), os("--scryptn"), os("10"), os("--passfile"), pass.as_os_str(), os("--recovery-kit"), kit.as_os_str()];
        init.extend(flags.iter().map(|f| os(f)));
        run(&init);
        run(&[os("encrypt"), os("-q"), plain.as_os_str(), vault.as_os_str(), os("--passfile"), pass.as_os_str()]);
        let out = tmp.path().join("out");
        run(&[os("decrypt"), os("-q"), vault.as_os_str(), out.as_os_str(), os("--passfile"), pass.as_os_str()]);
        let mut want = common::snapshot(&plain);
        let mut got = common::snapshot(&out);
        // Folder times change as their contents are written; files' do not.
        for e in want.values_mut().chain(got.values_mut()) {
            if e.kind == "dir" {
                e.mtime_ns = 0;
            }
        }
        prop_assert_eq!(got, want);
    }
}
