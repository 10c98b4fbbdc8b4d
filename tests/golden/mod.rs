//! Golden files: expected command output kept beside this module.
//! `UPDATE_GOLDEN=1 cargo test` rewrites them after a deliberate change.

use std::path::Path;

/// Compares `actual` with `tests/golden/NAME`.
pub fn assert_matches(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}
