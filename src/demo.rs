//! The files `vaultdrill demo` encrypts, bundled in the binary: a small
//! thesis, notes, photos (incompressible bytes made from a seed), an empty
//! file, a name long enough for a `.name` sidecar, and a symlink.

use std::fs;
use std::io;
use std::path::Path;

/// Text files: (path, content).
const TEXT: &[(&str, &str)] = &[
    (
        "thesis/chapter-1.md",
        include_str!("../demo/files/thesis/chapter-1.md"),
    ),
    (
        "thesis/chapter-2.md",
        include_str!("../demo/files/thesis/chapter-2.md"),
    ),
    (
        "thesis/references.bib",
        include_str!("../demo/files/thesis/references.bib"),
    ),
    ("notes.txt", include_str!("../demo/files/notes.txt")),
    (
        "lista-de-la-compra-ñ.txt",
        include_str!("../demo/files/lista-de-la-compra-ñ.txt"),
    ),
];

/// Generated files: (path, size). Photos do not compress: random-looking
/// bytes from a seed, the same every time.
const GENERATED: &[(&str, usize)] = &[
    ("photos/2024/harbour.jpg", 2 << 20),
    ("photos/2024/lighthouse.jpg", 1_300_000),
    ("photos/2025/first-snow.jpg", 700_000),
    ("thesis/figures/drill-steps.png", 90_000),
    ("thesis/.empty-draft.md", 0),
    (
        "photos/2025/a-very-long-file-name-that-gocryptfs-stores-in-a-dot-name-sidecar-\
         because-its-encrypted-form-would-not-fit-in-255-bytes-of-a-file-name-on-the-disk-\
         of-the-remote-or-the-local-drive.jpg",
        12_345,
    ),
];

/// The file whose object the demo damages, and then repairs.
pub const VICTIM: &str = "photos/2024/harbour.jpg";

/// Writes the demo files under `root` (which must not exist).
pub fn write_files(root: &Path) -> io::Result<()> {
    fs::create_dir(root)?;
    for (path, text) in TEXT {
        put(root, path, text.as_bytes())?;
    }
    for (path, size) in GENERATED {
        let mut bytes = vec![0u8; *size];
        blake3::Hasher::new()
            .update(path.as_bytes())
            .finalize_xof()
            .fill(&mut bytes);
        put(root, path, &bytes)?;
    }
    std::os::unix::fs::symlink("thesis/chapter-2.md", root.join("latest-chapter"))
}

fn put(root: &Path, path: &str, bytes: &[u8]) -> io::Result<()> {
    let file = root.join(path);
    if let Some(parent) = file.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(file, bytes)
}
