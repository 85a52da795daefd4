//! Signing keys of the test provider and the JWTs it makes, including malformed and
//! maliciously signed ones.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::Sha256;

/// A signing key with its key id.
pub(crate) enum SigningKey {
    Rsa {
        key: Box<rsa_legacy::RsaPrivateKey>,
        kid: String,
    },
    Ec {
        key: Box<p256::ecdsa::SigningKey>,
        kid: String,
    },
}

/// The algorithm a token is signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl SigningKey {
    pub fn generate(alg: Alg, kid: String) -> Self {
        match alg {
            Alg::Rs256 => {
                let key = rsa_legacy::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                    .expect("RSA key generation");
                SigningKey::Rsa {
                    key: Box::new(key),
                    kid,
                }
            }
            Alg::Es256 => loop {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&bytes) {
                    break SigningKey::Ec {
                        key: Box::new(key),
                        kid,
                    };
                }
            },
        }
    }

    /// An RSA key of `bits` bits (a weak one, to test that it is refused).
    pub fn generate_rsa(bits: usize, kid: String) -> Self {
        let key = rsa_legacy::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits)
            .expect("RSA key generation");
        SigningKey::Rsa {
            key: Box::new(key),
            kid,
        }
    }

    pub fn kid(&self) -> &str {
        match self {
            SigningKey::Rsa { kid, .. } | SigningKey::Ec { kid, .. } => kid,
        }
    }

    pub fn alg(&self) -> Alg {
        match self {
            SigningKey::Rsa { .. } => Alg::Rs256,
            SigningKey::Ec { .. } => Alg::Es256,
        }
    }

    pub fn alg_name(&self) -> &'static str {
        match self.alg() {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        match self {
            SigningKey::Rsa { key, kid } => {
                use rsa_legacy::traits::PublicKeyParts;
                json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()),
                })
            }
            SigningKey::Ec { key, kid } => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                    "x": b64(&bytes[1..33]), "y": b64(&bytes[33..65]),
                })
            }
        }
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Rsa { key, .. } => {
                use rsa_legacy::signature::{SignatureEncoding, Signer};
                let signer = rsa_legacy::pkcs1v15::SigningKey::<Sha256>::new((**key).clone());
                signer.sign(message).to_vec()
            }
            SigningKey::Ec { key, .. } => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
        }
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How the next ID tokens are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signing {
    /// Properly, with the provider's current key (the default).
    Valid,
    /// With the current key, but the signature is corrupted.
    BadSignature,
    /// `alg: none` and no signature.
    None,
    /// `HS256` keyed with the given secret (e.g. the client secret: an algorithm-confusion
    /// attack unless HS256 is configured).
    Hs256(String),
    /// Properly, but without a `kid` in the header.
    NoKid,
    /// Properly, but claiming this `kid`.
    Kid(String),
}

/// Builds a compact JWS from a header and claims.
pub(crate) fn make_jwt(
    key: &SigningKey,
    signing: &Signing,
    mut header: Map<String, Value>,
    claims: &Map<String, Value>,
) -> String {
    let alg = match signing {
        Signing::None => "none",
        Signing::Hs256(_) => "HS256",
        _ => key.alg_name(),
    };
    header.entry("alg").or_insert(alg.into());
    header.entry("typ").or_insert("JWT".into());
    // A `null` in the given header removes the member (e.g. an untyped token).
    header.retain(|_, value| !value.is_null());
    match signing {
        Signing::Valid | Signing::BadSignature => {
            header.entry("kid").or_insert(key.kid().into());
        }
        Signing::Kid(kid) => {
            header.insert("kid".into(), kid.clone().into());
        }
        Signing::None | Signing::Hs256(_) | Signing::NoKid => {}
    }
    let signing_input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header).unwrap_or_default()),
        b64(&serde_json::to_vec(claims).unwrap_or_default())
    );
    let signature = match signing {
        Signing::None => Vec::new(),
        Signing::Hs256(secret) => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Signing::BadSignature => {
            let mut signature = key.sign(signing_input.as_bytes());
            signature[0] ^= 0x55;
            signature
        }
        _ => key.sign(signing_input.as_bytes()),
    };
    format!("{signing_input}.{}", b64(&signature))
}
