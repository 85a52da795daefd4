//! Encryption of sessions kept on the server: AES-256-GCM under a key derived (HKDF-SHA256)
//! from the application's secret key, with the store key as associated data, so that an entry
//! can be neither read nor moved to another id.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::RngCore;
use sha2::Sha256;

/// The cipher of stored sessions.
pub(crate) struct SessionCipher(Aes256Gcm);

impl SessionCipher {
    /// The cipher whose key is derived from `secret` (the application's secret key).
    pub fn new(secret: &[u8]) -> Self {
        Self::for_purpose(secret, b"rocket_openidconnect session store v1")
    }

    /// A cipher for another purpose (`info`, HKDF's): its key is independent of the
    /// sessions'.
    pub fn for_purpose(secret: &[u8], info: &[u8]) -> Self {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, secret)
            .expand(info, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        SessionCipher(Aes256Gcm::new(&key.into()))
    }

    /// A random nonce, then the ciphertext of `plaintext` bound to `entry`.
    pub fn seal(&self, entry: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: entry.as_bytes(),
        };
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), payload)
            .expect("AES-GCM encryption of a session cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The plaintext of a blob written by [`seal`](Self::seal) for `entry`, if authentic.
    pub fn open(&self, entry: &str, blob: &[u8]) -> Option<Vec<u8>> {
        if blob.len() < 12 {
            return None;
        }
        let (nonce, sealed) = blob.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: sealed,
            aad: entry.as_bytes(),
        };
        self.0.decrypt(&Nonce::from(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_sessions_open_only_under_their_key_and_entry() {
        let a = SessionCipher::new(b"secret-a");
        let blob = a.seal("session:1", b"data");
        assert_eq!(a.open("session:1", &blob).as_deref(), Some(&b"data"[..]));
        assert_eq!(a.open("session:2", &blob), None, "moved to another entry");
        assert_eq!(
            SessionCipher::new(b"secret-b").open("session:1", &blob),
            None,
            "another key"
        );
        let mut flipped = blob.clone();
        flipped[20] ^= 1;
        assert_eq!(a.open("session:1", &flipped), None, "tampered");
        assert_eq!(a.open("session:1", &blob[..5]), None, "truncated");
        assert_ne!(
            a.seal("session:1", b"data"),
            blob,
            "a fresh nonce each time"
        );
    }
}
