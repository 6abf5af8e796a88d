//! The ceilings end-to-end numbers are judged against, measured in-process
//! with vaultdrill's own crates on this machine, one core and all cores:
//! opening 4 KiB blocks (AES-256-GCM, XChaCha20-Poly1305), BLAKE3, and the
//! decrypt pipeline of one large file without its write (read from the
//! page cache, authenticate and decrypt in ordered groups of chunks in
//! parallel, as `vaultdrill decrypt` does, then drop the plaintext).
//!
//!   cargo bench --bench ceiling              # prints a table, writes target/bench/ceiling.json
//!   cargo bench --bench ceiling -- --quick   # small sizes (CI smoke)
//!
//! `benches/compare.sh` puts `openssl speed` beside these; nothing here
//! asserts a speed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use vaultdrill::format::content::PLAIN_BLOCK_LEN;
use vaultdrill::format::{
    ContentAlgorithm, ContentCipher, FileHeader, FileId, MasterKey, NameMode, VaultLayout,
};
use vaultdrill::vault::UnlockedVault;
use vaultdrill::vault::file::{CipherFile, PlainChunk};
use vaultdrill::writebehind::group_len;

const MIB: f64 = (1 << 20) as f64;

fn key() -> MasterKey {
    MasterKey::from_bytes(&mut [0x42; 32])
}

/// Median seconds of `reps` runs of `f`, after one untimed run (caches,
/// the thread pool's threads).
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// MiB/s of opening `blocks` sealed blocks, on one thread and on every
/// thread (each with its own copy).
fn open_blocks(algorithm: ContentAlgorithm, blocks: usize, reps: usize) -> (f64, f64) {
    let cipher = ContentCipher::new(&key(), algorithm, true).expect("cipher");
    let id = FileId([7; 16]);
    let nonce = vec![9u8; algorithm.nonce_len()];
    let plain = vec![0x5a; PLAIN_BLOCK_LEN];
    let mut sealed = Vec::new();
    let mut opener = cipher.opener();
    for n in 0..blocks as u64 {
        opener
            .seal(n, Some(&id), &nonce, &plain, &mut sealed)
            .expect("seal");
    }
    let cbs = algorithm.cipher_block_len();
    let run = |work: &mut Vec<u8>| {
        work.copy_from_slice(&sealed);
        let mut opener = cipher.opener();
        for (n, block) in work.chunks_mut(cbs).enumerate() {
            opener.open(n as u64, Some(&id), block).expect("open");
        }
    };
    let bytes = (blocks * PLAIN_BLOCK_LEN) as f64 / MIB;
    let mut one = sealed.clone();
    let single = bytes / median_secs(reps, || run(&mut one));
    let threads = rayon::current_num_threads();
    let mut works: Vec<Vec<u8>> = vec![sealed.clone(); threads];
    let all = bytes * threads as f64 / median_secs(reps, || works.par_iter_mut().for_each(run));
    (single, all)
}

fn blake3_speed(len: usize, reps: usize) -> (f64, f64) {
    let data = vec![0xa5u8; len];
    let bytes = len as f64 / MIB;
    let single = bytes
        / median_secs(reps, || {
            std::hint::black_box(blake3::hash(&data));
        });
    let threads = rayon::current_num_threads();
    let all = bytes * threads as f64
        / median_secs(reps, || {
            (0..threads).into_par_iter().for_each(|_| {
                std::hint::black_box(blake3::hash(&data));
            })
        });
    (single, all)
}

/// MiB/s of reading and opening a `mib` MiB vault file in ordered groups
/// of chunks in parallel, the plaintext dropped.
fn decrypt_pipeline(dir: &Path, mib: usize, reps: usize) -> f64 {
    let layout = VaultLayout {
        content: ContentAlgorithm::AesGcm,
        hkdf: true,
        names: NameMode::Plaintext,
    };
    let vault = UnlockedVault::new(dir.to_path_buf(), layout, &key());
    let path = dir.join("large.bin");
    {
        let header = FileHeader {
            file_id: FileId([3; 16]),
        };
        let mut out = std::io::BufWriter::new(File::create(&path).expect("create"));
        out.write_all(&header.to_bytes()).expect("write");
        let mut opener = vault.content().opener();
        let plain = vec![0x33u8; PLAIN_BLOCK_LEN];
        let mut block = Vec::new();
        for n in 0..(mib * 256) as u64 {
            block.clear();
            let nonce = [(n % 251) as u8 + 1; 16];
            opener
                .seal(n, Some(&header.file_id), &nonce, &plain, &mut block)
                .expect("seal");
            out.write_all(&block).expect("write");
        }
        out.flush().expect("flush");
    }
    let size = std::fs::metadata(&path).expect("stat").len();
    assert_eq!(size, layout.content.cipher_size((mib << 20) as u64));
    let run = || {
        let source = CipherFile::from_file(&vault, File::open(&path).expect("open")).expect("file");
        let chunks = source.chunk_count();
        let mut buffers: Vec<(Vec<u8>, PlainChunk)> = Vec::new();
        let mut first = 0;
        while first < chunks {
            let last = (first + group_len()).min(chunks);
            buffers.resize_with((last - first) as usize, Default::default);
            buffers.par_iter_mut().enumerate().for_each_init(
                || vault.content().opener(),
                |opener, (i, (cbuf, plain))| {
                    source
                        .decrypt_chunk(opener, first + i as u64, cbuf, plain)
                        .expect("authentic");
                },
            );
            first = last;
        }
    };
    mib as f64 / median_secs(reps, run)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // too, without it: quick then.
    let args: Vec<String> = std::env::args().collect();
    let as_bench = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick") || !as_bench;
    let (blocks, hash_len, file_mib, reps) = if quick {
        (1024, 16 << 20, 16, 3)
    } else {
        (16 * 1024, 256 << 20, 512, 5)
    };
    let threads = rayon::current_num_threads();
    let gcm = open_blocks(ContentAlgorithm::AesGcm, blocks, reps);
    let xchacha = open_blocks(ContentAlgorithm::XChaCha20Poly1305, blocks, reps);
    let b3 = blake3_speed(hash_len, reps);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&target).expect("the target directory");
    // On the repository's disk, like the benchmarks' vaults.
    let tmp = tempfile::tempdir_in(&target).expect("temporary directory");
    let pipeline = decrypt_pipeline(tmp.path(), file_mib, reps);

    println!("| in-process ceiling (vaultdrill's crates) | 1 core MiB/s | {threads} cores MiB/s |");
    println!("|---|---:|---:|");
    println!(
        "| AES-256-GCM open, 4 KiB blocks | {:.0} | {:.0} |",
        gcm.0, gcm.1
    );
    println!(
        "| XChaCha20-Poly1305 open, 4 KiB blocks | {:.0} | {:.0} |",
        xchacha.0, xchacha.1
    );
    println!("| BLAKE3 | {:.0} | {:.0} |", b3.0, b3.1);
    println!(
        "| decrypt pipeline of one {file_mib} MiB file, no write (read from cache, AES-GCM, groups of {} chunks) | | {pipeline:.0} ({:.0} % of AES-GCM on {threads} cores) |",
        group_len(),
        100.0 * pipeline / gcm.1
    );
    let json = serde_json::json!({
        "threads": threads,
        "aes_gcm_open_mib_s": { "one": gcm.0, "all": gcm.1 },
        "xchacha_open_mib_s": { "one": xchacha.0, "all": xchacha.1 },
        "blake3_mib_s": { "one": b3.0, "all": b3.1 },
        "decrypt_pipeline_mib_s": pipeline,
        "decrypt_pipeline_file_mib": file_mib,
    });
    if !as_bench {
        return; // a test run: nothing to keep
    }
    let out = target.join("bench/ceiling.json");
    std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
    std::fs::write(&out, format!("{json:#}\n")).expect("write ceiling.json");
    println!("\nwritten: {}", out.display());
}
