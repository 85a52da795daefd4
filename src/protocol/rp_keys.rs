//! The relying party's own signing keys (`signing_keys`): PKCS#8 PEM private keys, EC P-256
//! (ES256), RSA of 2048 to 4096 bits (PS256) or Ed25519 (EdDSA). Each key's `kid` is its RFC
//! 7638 thumbprint. The first key signs; every key's public part is published (`jwks_path`),
//! so a new key can be added second, published, and moved first later.
//!
//! Signing and thumbprints are the `jsonwebtoken` crate's (RustCrypto underneath); this module
//! only decides which keys are acceptable and what is published.

use std::fmt;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{json, Value};

use crate::protocol::jwe::DecryptionKey;

/// One private key of the relying party.
pub(crate) struct RpKey {
    alg: Algorithm,
    kid: String,
    key: EncodingKey,
    /// The public part, with `kid`, `alg` and `use`.
    public: Jwk,
}

impl fmt::Debug for RpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RpKey({:?}, kid {}, [private part redacted])",
            self.alg, self.kid
        )
    }
}

impl RpKey {
    /// The key in `pem` (PKCS#8 `PRIVATE KEY`; for RSA also PKCS#1 `RSA PRIVATE KEY`), or why
    /// it cannot be one of ours.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let (alg, key) = if let Ok(key) = EncodingKey::from_ec_pem(pem) {
            (Algorithm::ES256, key)
        } else if let Some(key) = ed25519_key(pem) {
            (Algorithm::EdDSA, key)
        } else if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
            (Algorithm::PS256, key)
        } else {
            return Err(
                "is not a PEM private key of EC P-256, RSA or Ed25519 (PKCS#8, unencrypted)".into(),
            );
        };
        let mut public = Jwk::from_encoding_key(&key, alg)
            .map_err(|_| "holds a key of another curve than P-256 or Ed25519".to_owned())?;
        match &public.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let bits = base64_len(&rsa.n) * 8;
                if !(2048..=4096).contains(&bits) {
                    return Err(format!(
                        "holds an RSA key of {bits} bits (2048 to 4096 are accepted)"
                    ));
                }
            }
            AlgorithmParameters::EllipticCurve(ec)
                if ec.curve != jsonwebtoken::jwk::EllipticCurve::P256 =>
            {
                return Err("holds an EC key of another curve than P-256".into());
            }
            _ => {}
        }
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| "holds a key whose thumbprint cannot be computed".to_owned())?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        // A test that the key signs (a key the crate accepts but cannot use fails here, at
        // launch, not at the first login).
        let probe = jsonwebtoken::encode(&Header::new(alg), &json!({}), &key);
        if probe.is_err() {
            return Err("holds a key that cannot sign".into());
        }
        Ok(RpKey {
            alg,
            kid,
            key,
            public,
        })
    }

    /// The JWS algorithm this key signs with.
    #[allow(dead_code)] // for DPoP proofs and request objects (issues 17 and 19)
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id (the RFC 7638 thumbprint, SHA-256).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// The public key as published.
    #[cfg(test)]
    fn public_set_entry(&self) -> Value {
        serde_json::to_value(&self.public).unwrap_or_default()
    }

    /// A compact JWS of `claims` with the header `typ` (and the key's `alg` and `kid`).
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, String> {
        let mut header = Header::new(self.alg);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| e.to_string())
    }
}

/// The relying party's keys: signing keys in their configured order (the first signs), and
/// decryption keys (`encryption_keys`).
#[derive(Debug, Default)]
pub(crate) struct RpKeys {
    signing: Vec<RpKey>,
    decryption: Vec<DecryptionKey>,
}

impl RpKeys {
    /// The signing keys, the first of which signs.
    pub fn new(keys: Vec<RpKey>) -> Self {
        RpKeys {
            signing: keys,
            decryption: Vec::new(),
        }
    }

    /// These keys and the decryption keys `keys`.
    pub fn with_decryption(self, keys: Vec<DecryptionKey>) -> Self {
        RpKeys {
            decryption: keys,
            ..self
        }
    }

    /// The key that signs, if any is configured.
    pub fn signer(&self) -> Option<&RpKey> {
        self.signing.first()
    }

    /// The decryption keys.
    pub fn decryption(&self) -> &[DecryptionKey] {
        &self.decryption
    }

    /// The public key set (`{"keys": [...]}`): public parts only, signing keys first.
    pub fn public_set(&self) -> Value {
        let signing = self
            .signing
            .iter()
            .filter_map(|k| serde_json::to_value(k.public_jwk()).ok());
        let decryption = self.decryption.iter().map(|k| k.public_jwk().clone());
        let keys: Vec<Value> = signing.chain(decryption).collect();
        json!({ "keys": keys })
    }

    /// Whether no key at all is configured.
    pub fn is_empty(&self) -> bool {
        self.signing.is_empty() && self.decryption.is_empty()
    }
}

/// An Ed25519 key from PKCS#8 PEM of either version, as the one-key (v1) DER that
/// `jsonwebtoken` reads.
fn ed25519_key(pem: &[u8]) -> Option<EncodingKey> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let text = std::str::from_utf8(pem).ok()?;
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(text).ok()?;
    Some(EncodingKey::from_ed_der(&ed25519_pkcs8(&key.to_bytes())))
}

/// An Ed25519 seed as one-key PKCS#8 (v1) DER: RFC 8410's fixed prefix, then the seed.
pub(crate) fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    const V1_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    [V1_PREFIX.as_slice(), seed.as_slice()].concat()
}

/// The number of bytes a base64url text (no padding) decodes to.
fn base64_len(text: &str) -> usize {
    text.trim_end_matches('=').len() * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(alg: &'static rcgen::SignatureAlgorithm) -> String {
        rcgen::KeyPair::generate_for(alg).unwrap().serialize_pem()
    }

    #[test]
    fn an_ec_key_signs_es256_with_its_thumbprint_as_kid_and_publishes_only_its_public_part() {
        let key = RpKey::from_pem(generated(&rcgen::PKCS_ECDSA_P256_SHA256).as_bytes()).unwrap();
        assert_eq!(key.alg(), Algorithm::ES256);
        assert_eq!(key.kid().len(), 43, "a base64url SHA-256");
        let jws = key.sign("JWT", &json!({"a": 1})).unwrap();
        let header = jsonwebtoken::decode_header(&jws).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(header.alg, Algorithm::ES256);
        let set = RpKeys::new(vec![key]).public_set();
        let jwk = &set["keys"][0];
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none(), "no private part: {jwk}");
    }

    #[test]
    fn ed25519_and_rsa_keys_sign_eddsa_and_ps256() {
        let ed = RpKey::from_pem(generated(&rcgen::PKCS_ED25519).as_bytes()).unwrap();
        assert_eq!(ed.alg(), Algorithm::EdDSA);
        for pem in [
            include_str!("../../tests/fixtures/rp-rsa2048.pem"),
            include_str!("../../tests/fixtures/rp-rsa2048-pkcs1.pem"),
        ] {
            let rsa = RpKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(rsa.alg(), Algorithm::PS256);
            assert!(rsa.public_set_entry().get("d").is_none());
        }
        let keys = RpKeys::new(vec![ed]);
        assert!(!format!("{keys:?}").contains("PRIVATE"));
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        assert!(RpKey::from_pem(b"not a key").unwrap_err().contains("PEM"));
        let small = include_str!("../../tests/fixtures/rsa1024.pem");
        assert!(RpKey::from_pem(small.as_bytes())
            .unwrap_err()
            .contains("1024 bits"));
        let p384 = generated(&rcgen::PKCS_ECDSA_P384_SHA384);
        assert!(RpKey::from_pem(p384.as_bytes()).is_err());
        let public = rcgen::KeyPair::generate().unwrap().public_key_pem();
        assert!(RpKey::from_pem(public.as_bytes()).is_err());
    }
}
