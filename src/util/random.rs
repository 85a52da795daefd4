//! Random values from the operating system.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// 256 random bits from the operating system, base64url (43 characters).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `value` looks like one of ours (43 base64url characters); anything else is refused
/// before it is used to look anything up.
pub(crate) fn is_well_formed_token(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_well_formed() {
        let a = random_token();
        assert!(is_well_formed_token(&a));
        assert_ne!(a, random_token());
        assert!(!is_well_formed_token("short"));
        assert!(!is_well_formed_token(&format!("{}%", &a[..42])));
    }
}
