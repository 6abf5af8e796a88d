//! Micro-benchmarks (criterion): one 4 KiB block sealed and opened under
//! each content cipher, a name encrypted and decrypted (EME + base64), the
//! scrypt unlock of a real gocryptfs 2.3 config, and BLAKE3 (the hashing
//! ceiling). `cargo bench --bench micro`; `benches/compare.sh` puts the
//! end-to-end numbers beside the hardware ceilings.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vaultdrill::format::config::NewVaultOptions;
use vaultdrill::format::content::PLAIN_BLOCK_LEN;
use vaultdrill::format::unlock::{seal_master_key, unlock_with_password};
use vaultdrill::format::{
    ContentAlgorithm, ContentCipher, DirIv, FileId, MasterKey, NameCipher, NameEncoding, Password,
    ScryptLimits, VaultConfig,
};

fn key() -> MasterKey {
    MasterKey::from_bytes(&mut [0x42; 32])
}

const CIPHERS: [(&str, ContentAlgorithm, bool); 4] = [
    ("aes-256-gcm", ContentAlgorithm::AesGcm, true),
    ("aes-256-gcm-no-hkdf", ContentAlgorithm::AesGcm, false),
    ("aes-siv-512", ContentAlgorithm::AesSiv, true),
    (
        "xchacha20-poly1305",
        ContentAlgorithm::XChaCha20Poly1305,
        true,
    ),
];

fn blocks(c: &mut Criterion) {
    let plain = vec![0x5a; PLAIN_BLOCK_LEN];
    let file_id = FileId([7; 16]);
    let mut group = c.benchmark_group("block");
    group.throughput(Throughput::Bytes(PLAIN_BLOCK_LEN as u64));
    for (name, algorithm, hkdf) in CIPHERS {
        let Ok(cipher) = ContentCipher::new(&key(), algorithm, hkdf) else {
            continue;
        };
        let mut opener = cipher.opener();
        let nonce = vec![9u8; algorithm.nonce_len()];
        let mut sealed = Vec::with_capacity(PLAIN_BLOCK_LEN + 64);
        group.bench_function(BenchmarkId::new("seal", name), |b| {
            b.iter(|| {
                sealed.clear();
                opener
                    .seal(3, Some(&file_id), &nonce, black_box(&plain), &mut sealed)
                    .expect("seal");
            })
        });
        sealed.clear();
        opener
            .seal(3, Some(&file_id), &nonce, &plain, &mut sealed)
            .expect("seal");
        let mut work = sealed.clone();
        group.bench_function(BenchmarkId::new("open", name), |b| {
            b.iter(|| {
                work.copy_from_slice(&sealed);
                black_box(opener.open(3, Some(&file_id), &mut work).expect("open"));
            })
        });
    }
    group.finish();
}

fn names(c: &mut Criterion) {
    let iv = DirIv([1; 16]);
    let mut group = c.benchmark_group("name");
    for (label, plain) in [
        ("short", "thesis-chapter-2.md".to_string()),
        ("long-200", "x".repeat(200)),
    ] {
        let names = NameCipher::new(&key(), true, NameEncoding::Raw64);
        let stored = names.encrypt(plain.as_bytes(), &iv).expect("encrypt");
        group.bench_function(BenchmarkId::new("encrypt", label), |b| {
            b.iter(|| {
                names
                    .encrypt(black_box(plain.as_bytes()), &iv)
                    .expect("encrypt")
            })
        });
        group.bench_function(BenchmarkId::new("decrypt", label), |b| {
            b.iter(|| names.decrypt(black_box(&stored), &iv).expect("decrypt"))
        });
    }
    group.finish();
}

fn unlock(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let config = VaultConfig::parse(
        &std::fs::read(root.join("vaults/default/gocryptfs.conf")).expect("fixture config"),
    )
    .expect("config");
    let text = std::fs::read(root.join("password")).expect("password");
    let line = text
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default()
        .to_vec();
    let password = Password::new(zeroize::Zeroizing::new(line)).expect("a password");
    // And one at gocryptfs -init's default cost, N = 2^16.
    let mut default_cost = VaultConfig::new_for(&NewVaultOptions::default(), "bench").expect("new");
    seal_master_key(&mut default_cost, &key(), &password, 16, [3; 32], &[4; 16]).expect("seal");
    let mut group = c.benchmark_group("unlock");
    group.sample_size(10);
    for config in [&config, &default_cost] {
        let label = format!("scrypt-n2^{}", config.scrypt.log_n());
        group.bench_function(label, |b| {
            b.iter(|| {
                unlock_with_password(config, &password, &ScryptLimits::default()).expect("unlock")
            })
        });
    }
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let data = vec![0xa5u8; 1 << 20];
    let mut group = c.benchmark_group("blake3");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("1MiB", |b| b.iter(|| blake3::hash(black_box(&data))));
    group.finish();
}

criterion_group!(micro, blocks, names, unlock, hashing);
criterion_main!(micro);
