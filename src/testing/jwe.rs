//! Encrypted messages of the test provider (JWE, compact): ID tokens and userinfo answers
//! encrypted to the app's public key, correctly or in one of the ways a hostile provider (or
//! whoever stands between) would.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::protocol::jwe::{encrypt, ContentEncryption, Encryption, KeyManagement};

/// How the provider encrypts ID tokens or userinfo answers (set in
/// [`Behaviour`](super::Behaviour)).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::testing::Encrypt;
/// use serde_json::json;
///
/// // The app's public key, as it publishes it at `jwks_path`.
/// let key = json!({"kty": "EC", "crv": "P-256", "x": "...", "y": "...", "use": "enc"});
/// let encrypt = Encrypt::new(key, "ECDH-ES", "A256GCM")
///     // a hostile header: claims a key management the app never accepts
///     .with_header(json!({"alg": "RSA1_5"}));
/// assert_eq!(encrypt.alg, "ECDH-ES");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Encrypt {
    /// The recipient's public key (a JWK with `kty`, and `n`/`e` or `crv`/`x`/`y`; its `kid`
    /// goes into the header).
    pub to: Value,
    /// The key management: `RSA-OAEP-256`, `ECDH-ES`, `ECDH-ES+A128KW` or `ECDH-ES+A256KW`.
    pub alg: String,
    /// The content encryption: `A128CBC-HS256`, `A128GCM` or `A256GCM`.
    pub enc: String,
    /// Header members set after encryption (they then lie about it, or add `zip`/`crit`).
    pub header: Map<String, Value>,
    /// One byte of this part (1: encrypted key, 2: IV, 3: ciphertext, 4: tag) changed.
    pub tamper: Option<usize>,
}

impl Encrypt {
    /// Encryption to `to` with `alg` and `enc`, done right.
    pub fn new(to: Value, alg: &str, enc: &str) -> Self {
        Encrypt {
            to,
            alg: alg.into(),
            enc: enc.into(),
            header: Map::new(),
            tamper: None,
        }
    }

    /// With the members of the JSON object `header` set in the header.
    pub fn with_header(mut self, header: Value) -> Self {
        if let Value::Object(members) = header {
            self.header.extend(members);
        }
        self
    }

    /// With one byte of part `part` (1 to 4) changed.
    pub fn tampered(mut self, part: usize) -> Self {
        self.tamper = Some(part);
        self
    }

    /// `plaintext` encrypted as set (panics on a setting the crate cannot encrypt with: a
    /// test's mistake).
    pub(crate) fn apply(&self, plaintext: &[u8]) -> String {
        let encryption = Encryption {
            alg: KeyManagement::parse(&self.alg).expect("Encrypt: a key management"),
            enc: ContentEncryption::parse(&self.enc).expect("Encrypt: a content encryption"),
        };
        let jwe = encrypt(plaintext, &self.to, encryption, &self.header).expect("encryption");
        match self.tamper {
            None => jwe,
            Some(part) => {
                let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
                let mut bytes = URL_SAFE_NO_PAD.decode(&parts[part]).unwrap_or_default();
                match bytes.first_mut() {
                    Some(first) => *first ^= 0x01,
                    None => bytes.push(0),
                }
                parts[part] = URL_SAFE_NO_PAD.encode(&bytes);
                parts.join(".")
            }
        }
    }
}
