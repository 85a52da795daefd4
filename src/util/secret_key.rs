//! Rocket's `secret_key` format (256 or 512 bits as base64 or hex), read here for the older
//! keys of a rotation (`oidc.previous_secret_keys`), which Rocket itself does not know.

use base64::Engine;

/// The bytes of a key written as Rocket writes a `secret_key`: 44 or 88 characters of
/// standard base64 (32 or 64 bytes), or 64 hexadecimal digits (32 bytes). The error says what
/// is wrong, without the key.
///
/// Rocket derives its cookie key from these bytes: from 64 bytes or more it uses them as they
/// are, from fewer (at least 32) it expands them (HKDF).
pub(crate) fn decode_secret_key(text: &str) -> Result<Vec<u8>, &'static str> {
    let bytes = match text.len() {
        44 | 88 => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "is not valid base64 (a key is 44 or 88 base64 characters)")?,
        64 => hex::decode(text).map_err(|_| "is not valid hex (a key is 64 hex digits)")?,
        _ => return Err("must be 44 or 88 base64 characters, or 64 hex digits, like secret_key"),
    };
    if bytes.len() < 32 {
        return Err("is shorter than 256 bits");
    }
    if bytes.iter().all(|b| *b == 0) {
        return Err("is all zeros");
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_rocket_reads_them() {
        let b64 = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";
        assert_eq!(decode_secret_key(b64).unwrap().len(), 32);
        let long = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        assert_eq!(long.len(), 88);
        assert_eq!(decode_secret_key(&long).unwrap(), vec![7u8; 64]);
        let hex = "00".repeat(31) + "ff";
        assert_eq!(decode_secret_key(&hex).unwrap()[31], 0xff);
        assert!(decode_secret_key("short").is_err());
        assert!(decode_secret_key(&"zz".repeat(32)).is_err());
        assert!(decode_secret_key(&"!".repeat(44)).is_err());
        assert!(decode_secret_key(&"00".repeat(32))
            .unwrap_err()
            .contains("zeros"));
    }
}
