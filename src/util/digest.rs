//! One SHA-256 of several texts, each prefixed with its length so that no two lists of parts
//! hash alike (`["ab", "c"]` and `["a", "bc"]` differ): the keys of stores and caches.

use sha2::{Digest, Sha256};

/// The SHA-256 of `parts`, each prefixed with its length (8 bytes, big-endian).
pub(crate) fn parts_sha256(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cannot_run_into_each_other() {
        assert_ne!(parts_sha256(&["ab", "c"]), parts_sha256(&["a", "bc"]));
        assert_eq!(parts_sha256(&["a", "b"]), parts_sha256(&["a", "b"]));
    }
}
