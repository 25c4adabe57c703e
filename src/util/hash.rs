//! SHA-256 as lower-case hex: model files against their manifest, portraits for consent and the
//! face cache, config texts for the audit log.

use std::path::Path;

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of an image file's contents (a portrait: the error names it as one).
pub fn file_sha256(path: &Path) -> crate::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| crate::Error::Image { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
    Ok(sha256_hex(&bytes))
}
