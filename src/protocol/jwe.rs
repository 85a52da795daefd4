//! JSON Web Encryption (RFC 7516, algorithms of RFC 7518) from providers: encrypted ID
//! tokens, userinfo answers and authorization responses, in the compact form, decrypted with
//! the relying party's keys (`encryption_keys`, see [`DecryptionKey`]).
//!
//! Only what the configuration names is accepted: the key-management algorithm (`alg`) and
//! the content encryption (`enc`) are pinned per provider and message, so a provider (or
//! whoever forged the message) cannot pick a weaker one. Never accepted: `RSA1_5` (padding
//! oracles), `dir` (a key shared with the provider), compression (`zip`: a decompression bomb
//! for a few bytes) and critical extensions (`crit`).
//!
//! Key management: `RSA-OAEP-256`, `ECDH-ES`, `ECDH-ES+A128KW`, `ECDH-ES+A256KW` (P-256).
//! Content: `A128GCM`, `A256GCM`, `A128CBC-HS256`. The primitives are RustCrypto's (`rsa`,
//! `p256`, `concat-kdf`, `aes-kw`, `aes-gcm`, `cbc`, `hmac`); this module is the JWE format
//! around them, which no maintained pure-Rust crate offers (docs/security.md#jwe-crates).
//!
//! Every failure after the header is the same error (RFC 7516 11.5): a content key that does
//! not decrypt is replaced by a random one, so a wrong key, a tampered key and a tampered
//! message are told apart by nobody.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Largest compact JWE accepted, in bytes (an encrypted 32 KiB ID token fits).
pub(crate) const MAX_JWE_LEN: usize = 64 * 1024;

/// How the content key reaches us (the JWE `alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyManagement {
    /// RSAES-OAEP with SHA-256 and MGF1 with SHA-256, to an RSA key.
    RsaOaep256,
    /// Elliptic-curve Diffie-Hellman (P-256), the agreed key used directly.
    EcdhEs,
    /// ECDH-ES, the agreed key wrapping the content key with AES-128 key wrap.
    EcdhEsA128Kw,
    /// ECDH-ES, the agreed key wrapping the content key with AES-256 key wrap.
    EcdhEsA256Kw,
}

impl KeyManagement {
    /// The algorithm named `name`, or why it is not accepted.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "RSA-OAEP-256" => Ok(Self::RsaOaep256),
            "ECDH-ES" => Ok(Self::EcdhEs),
            "ECDH-ES+A128KW" => Ok(Self::EcdhEsA128Kw),
            "ECDH-ES+A256KW" => Ok(Self::EcdhEsA256Kw),
            "RSA1_5" => Err(
                "RSA1_5 is never accepted (PKCS#1 v1.5 encryption invites padding \
                             oracles); use RSA-OAEP-256"
                    .into(),
            ),
            "dir" => Err(
                "dir is never accepted (a key shared with the provider); use \
                          RSA-OAEP-256 or ECDH-ES"
                    .into(),
            ),
            _ => Err("is not one of RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A256KW".into()),
        }
    }

    /// Its JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaOaep256 => "RSA-OAEP-256",
            Self::EcdhEs => "ECDH-ES",
            Self::EcdhEsA128Kw => "ECDH-ES+A128KW",
            Self::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }

    /// Whether it needs an RSA key (else a P-256 key).
    pub fn is_rsa(self) -> bool {
        self == Self::RsaOaep256
    }
}

/// How the content is encrypted (the JWE `enc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncryption {
    /// AES-128-CBC with HMAC-SHA-256 (the default of OpenID Connect registration).
    A128CbcHs256,
    /// AES-128-GCM.
    A128Gcm,
    /// AES-256-GCM.
    A256Gcm,
}

impl ContentEncryption {
    /// The encryption named `name`, or why it is not accepted.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "A128CBC-HS256" => Ok(Self::A128CbcHs256),
            "A128GCM" => Ok(Self::A128Gcm),
            "A256GCM" => Ok(Self::A256Gcm),
            _ => Err("is not one of A128CBC-HS256, A128GCM, A256GCM".into()),
        }
    }

    /// Its JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::A128CbcHs256 => "A128CBC-HS256",
            Self::A128Gcm => "A128GCM",
            Self::A256Gcm => "A256GCM",
        }
    }

    /// The length of its content key, in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::A128Gcm => 16,
            Self::A128CbcHs256 | Self::A256Gcm => 32,
        }
    }

    /// The length of its initialization vector, in bytes.
    fn iv_len(self) -> usize {
        match self {
            Self::A128CbcHs256 => 16,
            Self::A128Gcm | Self::A256Gcm => 12,
        }
    }
}

/// The encryption a provider must use for one kind of message (as configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encryption {
    /// Key management.
    pub alg: KeyManagement,
    /// Content encryption.
    pub enc: ContentEncryption,
}

/// The key and the encryption to use for a message to a provider that publishes the
/// encryption keys `keys` (see `jwk::encryption_keys`) and supports the key management
/// `algs` and content encryptions `encs` (its metadata): the first key with an algorithm both
/// sides have (an RSA key: `RSA-OAEP-256`; a P-256 key: `ECDH-ES`, then the key wraps; a key's
/// own `alg` wins), and the strongest content encryption offered (`A256GCM`, `A128GCM`,
/// `A128CBC-HS256`; the last when the provider lists none, as OpenID Connect's default).
pub(crate) fn recipient(
    keys: &[Value],
    algs: &[String],
    encs: &[String],
) -> Option<(Value, Encryption)> {
    let offered = |name: &str| algs.iter().any(|a| a == name);
    let enc = if encs.is_empty() {
        ContentEncryption::A128CbcHs256
    } else {
        [
            ContentEncryption::A256Gcm,
            ContentEncryption::A128Gcm,
            ContentEncryption::A128CbcHs256,
        ]
        .into_iter()
        .find(|e| encs.iter().any(|name| name == e.name()))?
    };
    keys.iter().find_map(|key| {
        let candidates: &[KeyManagement] = match key.get("kty").and_then(Value::as_str)? {
            "RSA" => &[KeyManagement::RsaOaep256],
            "EC" => &[
                KeyManagement::EcdhEs,
                KeyManagement::EcdhEsA256Kw,
                KeyManagement::EcdhEsA128Kw,
            ],
            _ => return None,
        };
        let own = key.get("alg").and_then(Value::as_str);
        let alg = candidates
            .iter()
            .copied()
            .find(|alg| offered(alg.name()) && own.is_none_or(|own| own == alg.name()))?;
        Some((key.clone(), Encryption { alg, enc }))
    })
}

/// Whether `raw` has the shape of a compact JWE (five parts) rather than a JWS (three).
pub(crate) fn is_compact_jwe(raw: &str) -> bool {
    raw.bytes().filter(|&b| b == b'.').count() == 4
}

/// One private key of the relying party for decryption: RSA (2048 to 4096 bits) for
/// `RSA-OAEP-256`, EC P-256 for the `ECDH-ES` family. Its `kid` is its RFC 7638 thumbprint.
pub(crate) struct DecryptionKey {
    secret: KeySecret,
    kid: String,
    /// The public part as a JWK with `kid` and `use: enc`.
    public: Value,
}

enum KeySecret {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::SecretKey),
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.secret {
            KeySecret::Rsa(_) => "RSA",
            KeySecret::P256(_) => "P-256",
        };
        write!(
            f,
            "DecryptionKey({kind}, kid {}, [private part redacted])",
            self.kid
        )
    }
}

impl DecryptionKey {
    /// The key in `pem` (PKCS#8 `PRIVATE KEY`; also PKCS#1 `RSA PRIVATE KEY` and SEC1 `EC
    /// PRIVATE KEY`), or why it cannot be one of ours.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(pem).map_err(|_| "is not a PEM text".to_owned())?;
        if let Some(key) = p256_key(text) {
            let point = key.public_key().to_sec1_point(false);
            let (x, y) = match (point.x(), point.y()) {
                (Some(x), Some(y)) => (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y)),
                _ => return Err("holds an EC key without coordinates".into()),
            };
            let members = json!({"crv": "P-256", "kty": "EC", "x": x, "y": y});
            return Ok(Self::with_public(KeySecret::P256(key), members, None));
        }
        if let Some(key) = rsa_key(text) {
            use rsa::traits::PublicKeyParts;
            let n = key.n().to_be_bytes_trimmed_vartime();
            let bits = crate::protocol::jwk::modulus_bits(&n);
            if !(2048..=4096).contains(&bits) {
                return Err(format!(
                    "holds an RSA key of {bits} bits (2048 to 4096 are accepted)"
                ));
            }
            let e = key.e().to_be_bytes_trimmed_vartime();
            let members = json!({
                "e": URL_SAFE_NO_PAD.encode(&e),
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(&n),
            });
            let secret = KeySecret::Rsa(Box::new(key));
            return Ok(Self::with_public(secret, members, Some("RSA-OAEP-256")));
        }
        Err(
            "is not a PEM private key of EC P-256 or RSA (PKCS#8, PKCS#1 or SEC1, unencrypted)"
                .into(),
        )
    }

    /// The key with its public JWK: `members` are the RFC 7638 required members, in
    /// lexicographic order, so their JSON is what the thumbprint hashes.
    fn with_public(secret: KeySecret, members: Value, alg: Option<&str>) -> Self {
        let canonical = members.to_string();
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let mut public = members;
        public["kid"] = kid.clone().into();
        public["use"] = "enc".into();
        if let Some(alg) = alg {
            public["alg"] = alg.into();
        }
        DecryptionKey {
            secret,
            kid,
            public,
        }
    }

    /// The key id (the RFC 7638 thumbprint, SHA-256).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as published (`use: enc`).
    pub fn public_jwk(&self) -> &Value {
        &self.public
    }

    /// Whether this key serves `alg`.
    pub fn serves(&self, alg: KeyManagement) -> bool {
        matches!(
            (&self.secret, alg.is_rsa()),
            (KeySecret::Rsa(_), true) | (KeySecret::P256(_), false)
        )
    }
}

fn p256_key(text: &str) -> Option<p256::SecretKey> {
    use p256::pkcs8::DecodePrivateKey;
    p256::SecretKey::from_pkcs8_pem(text)
        .ok()
        .or_else(|| p256::SecretKey::from_sec1_pem(text).ok())
}

fn rsa_key(text: &str) -> Option<rsa::PrivateKey> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    rsa::PrivateKey::from_pkcs8_pem(text)
        .ok()
        .or_else(|| rsa::PrivateKey::from_pkcs1_pem(text).ok())
}

/// What goes wrong in a decryption; the reasons name no key material and no content.
const UNDECRYPTABLE: &str = "it does not decrypt with our keys (wrong key, or altered)";

/// Decrypts the compact JWE `raw` made with `expected` to one of `keys`: the plaintext, or why
/// not (for logs: no content, no key material).
pub(crate) fn decrypt(
    raw: &str,
    keys: &[DecryptionKey],
    expected: Encryption,
) -> Result<Vec<u8>, String> {
    if raw.len() > MAX_JWE_LEN {
        return Err("the encrypted message is too large".into());
    }
    let parts: Vec<&str> = raw.split('.').collect();
    let [header_b64, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err("not a compact JWE (five parts)".into());
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| format!("its {what} is not base64url"))
    };
    let header = match serde_json::from_slice(&decode(header_b64, "header")?) {
        Ok(Value::Object(header)) => header,
        _ => return Err("its header is not a JSON object".into()),
    };
    check_header(&header, expected)?;
    let encrypted_key = decode(encrypted_key, "encrypted key")?;
    let iv = decode(iv, "initialization vector")?;
    let ciphertext = decode(ciphertext, "ciphertext")?;
    let tag = decode(tag, "authentication tag")?;
    if iv.len() != expected.enc.iv_len() || tag.len() != 16 {
        return Err("its initialization vector or tag has the wrong length".into());
    }
    let candidates: Vec<&DecryptionKey> = match header.get("kid") {
        None => keys.iter().filter(|k| k.serves(expected.alg)).collect(),
        Some(Value::String(kid)) => keys
            .iter()
            .filter(|k| k.kid == *kid && k.serves(expected.alg))
            .collect(),
        Some(_) => return Err("its kid is not a string".into()),
    };
    if candidates.is_empty() {
        return Err(format!(
            "it is encrypted to a key that is not ours ({} with another kid)",
            expected.alg.name()
        ));
    }
    let aad = header_b64.as_bytes();
    for key in candidates {
        let cek = content_key(key, &header, &encrypted_key, expected)?;
        if let Some(plain) = open(expected.enc, &cek, &iv, aad, &ciphertext, &tag) {
            return Ok(plain);
        }
    }
    Err(UNDECRYPTABLE.into())
}

/// The header rules: `alg` and `enc` as configured, no compression, no critical extensions.
fn check_header(header: &Map<String, Value>, expected: Encryption) -> Result<(), String> {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if alg != expected.alg.name() {
        let why = match KeyManagement::parse(alg) {
            Err(why) => why,
            Ok(_) => "is not the configured one".into(),
        };
        return Err(format!(
            "its key management `{}` {why} (expected {})",
            crate::util::text::for_log(alg, 40),
            expected.alg.name()
        ));
    }
    let enc = header
        .get("enc")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if enc != expected.enc.name() {
        return Err(format!(
            "its content encryption `{}` is not the configured {}",
            crate::util::text::for_log(enc, 40),
            expected.enc.name()
        ));
    }
    if header.contains_key("zip") {
        return Err("it is compressed (zip), which is never accepted".into());
    }
    if header.contains_key("crit") {
        return Err("it has critical header parameters (crit), none of which we know".into());
    }
    Ok(())
}

/// The content key: unwrapped, or agreed. A key that does not come out right is replaced by
/// a random one of the right length (RFC 7516 11.5), so the failure is the tag's.
fn content_key(
    key: &DecryptionKey,
    header: &Map<String, Value>,
    encrypted_key: &[u8],
    expected: Encryption,
) -> Result<Vec<u8>, String> {
    let len = expected.enc.key_len();
    let unwrapped = match (&key.secret, expected.alg) {
        (KeySecret::Rsa(rsa), KeyManagement::RsaOaep256) => {
            rsa.oaep_decrypt::<rsa::sha2::Sha256>(encrypted_key).ok()
        }
        (KeySecret::P256(secret), alg) => {
            let shared = agree(secret, header)?;
            match alg {
                KeyManagement::EcdhEs => {
                    if !encrypted_key.is_empty() {
                        return Err("ECDH-ES carries no encrypted key, and this one does".into());
                    }
                    return concat_kdf(&shared, expected.enc.name(), header, len);
                }
                KeyManagement::EcdhEsA128Kw => {
                    let kek = concat_kdf(&shared, alg.name(), header, 16)?;
                    aes_kw::KekAes128::try_from(&kek[..])
                        .ok()
                        .and_then(|kek| kek.unwrap_vec(encrypted_key).ok())
                }
                KeyManagement::EcdhEsA256Kw => {
                    let kek = concat_kdf(&shared, alg.name(), header, 32)?;
                    aes_kw::KekAes256::try_from(&kek[..])
                        .ok()
                        .and_then(|kek| kek.unwrap_vec(encrypted_key).ok())
                }
                KeyManagement::RsaOaep256 => None,
            }
        }
        (KeySecret::Rsa(_), _) => None,
    };
    Ok(match unwrapped {
        Some(cek) if cek.len() == len => cek,
        _ => {
            let mut random = vec![0u8; len];
            rand::rngs::OsRng.fill_bytes(&mut random);
            random
        }
    })
}

/// The ECDH shared secret of our key and the header's ephemeral public key (`epk`), which
/// must be a point of P-256 (checked: an off-curve point would leak our key).
fn agree(secret: &p256::SecretKey, header: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let bad = || "its ephemeral key (epk) is not a P-256 public key".to_owned();
    let epk = header
        .get("epk")
        .and_then(Value::as_object)
        .ok_or_else(bad)?;
    let member = |name: &str| epk.get(name).and_then(Value::as_str);
    if member("kty") != Some("EC") || member("crv") != Some("P-256") || epk.contains_key("d") {
        return Err(bad());
    }
    let coordinate = |name: &str| {
        member(name)
            .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
            .filter(|c| c.len() == 32)
            .ok_or_else(bad)
    };
    let sec1 = [vec![4u8], coordinate("x")?, coordinate("y")?].concat();
    let public = p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| bad())?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    Ok(shared.raw_secret_bytes().to_vec())
}

/// RFC 7518 4.6.2: the Concat KDF (NIST SP 800-56A) with SHA-256 over the shared secret and
/// `AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo` (key length in bits).
fn concat_kdf(
    shared: &[u8],
    algorithm: &str,
    header: &Map<String, Value>,
    len: usize,
) -> Result<Vec<u8>, String> {
    let party = |name: &str| match header.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(text)) => URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| format!("its {name} is not base64url")),
        Some(_) => Err(format!("its {name} is not a string")),
    };
    let with_len = |bytes: &[u8]| [&(bytes.len() as u32).to_be_bytes()[..], bytes].concat();
    let other_info = [
        with_len(algorithm.as_bytes()),
        with_len(&party("apu")?),
        with_len(&party("apv")?),
        ((len * 8) as u32).to_be_bytes().to_vec(),
    ]
    .concat();
    let mut key = vec![0u8; len];
    concat_kdf::derive_key_into::<Sha256>(shared, &other_info, &mut key)
        .map_err(|_| "its key agreement failed".to_owned())?;
    Ok(key)
}

/// The plaintext of `ciphertext`, if its tag verifies under `cek` with `aad`.
fn open(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Option<Vec<u8>> {
    let sealed = [ciphertext, tag].concat();
    let payload = Payload { msg: &sealed, aad };
    let nonce = || <[u8; 12]>::try_from(iv).ok().map(aes_gcm::Nonce::from);
    match enc {
        ContentEncryption::A128Gcm => aes_gcm::Aes128Gcm::new_from_slice(cek)
            .ok()?
            .decrypt(&nonce()?, payload)
            .ok(),
        ContentEncryption::A256Gcm => aes_gcm::Aes256Gcm::new_from_slice(cek)
            .ok()?
            .decrypt(&nonce()?, payload)
            .ok(),
        ContentEncryption::A128CbcHs256 => {
            let (mac_key, enc_key) = cek.split_at(16);
            let expected = cbc_hmac_tag(mac_key, aad, iv, ciphertext);
            if !bool::from(expected.ct_eq(tag)) {
                return None;
            }
            use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
            cbc::Decryptor::<aes::Aes128>::new_from_slices(enc_key, iv)
                .ok()?
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
                .ok()
        }
    }
}

/// RFC 7518 5.2.2.1: the first half of HMAC-SHA-256 over `AAD || IV || ciphertext || AL`.
fn cbc_hmac_tag(mac_key: &[u8], aad: &[u8], iv: &[u8], ciphertext: &[u8]) -> [u8; 16] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key).expect("HMAC takes any key");
    mac.update(aad);
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(&((aad.len() as u64) * 8).to_be_bytes());
    let full = mac.finalize().into_bytes();
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&full[..16]);
    tag
}

/// Encryption to the public JWK `recipient` (request objects to a provider; the test
/// provider's messages): the inverse of [`decrypt`], with the header members `extra` set
/// last (`cty`; hostile headers in tests).
pub(crate) fn encrypt(
    plaintext: &[u8],
    recipient: &Value,
    encryption: Encryption,
    extra: &Map<String, Value>,
) -> Result<String, String> {
    let enc = encryption.enc;
    let mut header = Map::new();
    header.insert("alg".into(), encryption.alg.name().into());
    header.insert("enc".into(), enc.name().into());
    if let Some(kid) = recipient.get("kid") {
        header.insert("kid".into(), kid.clone());
    }
    let mut cek = vec![0u8; enc.key_len()];
    rand::rngs::OsRng.fill_bytes(&mut cek);
    let encrypted_key = match encryption.alg {
        KeyManagement::RsaOaep256 => {
            let n = jwk_bytes(recipient, "n")?;
            let e = jwk_bytes(recipient, "e")?;
            let public = rsa::PublicKey::new(
                rsa::BoxedUint::from_be_slice_vartime(&n),
                rsa::BoxedUint::from_be_slice_vartime(&e),
            )
            .map_err(|e| e.to_string())?;
            public
                .oaep_encrypt::<rsa::sha2::Sha256>(&cek)
                .map_err(|e| e.to_string())?
        }
        alg => {
            let sec1 = [
                vec![4u8],
                jwk_bytes(recipient, "x")?,
                jwk_bytes(recipient, "y")?,
            ]
            .concat();
            let theirs = p256::PublicKey::from_sec1_bytes(&sec1).map_err(|e| e.to_string())?;
            let ephemeral = loop {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
                    break key;
                }
            };
            let point = ephemeral.public_key().to_sec1_point(false);
            let coordinate = |c: Option<&_>| c.map(|c: &_| URL_SAFE_NO_PAD.encode(c));
            header.insert(
                "epk".into(),
                json!({"kty": "EC", "crv": "P-256",
                       "x": coordinate(point.x()), "y": coordinate(point.y())}),
            );
            let shared =
                p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), theirs.as_affine());
            let shared = shared.raw_secret_bytes().to_vec();
            match alg {
                KeyManagement::EcdhEs => {
                    cek = concat_kdf(&shared, enc.name(), &header, enc.key_len())?;
                    Vec::new()
                }
                _ => {
                    let len = if alg == KeyManagement::EcdhEsA128Kw {
                        16
                    } else {
                        32
                    };
                    let kek = concat_kdf(&shared, alg.name(), &header, len)?;
                    if len == 16 {
                        aes_kw::KekAes128::try_from(&kek[..])
                            .map_err(|e| e.to_string())?
                            .wrap_vec(&cek)
                    } else {
                        aes_kw::KekAes256::try_from(&kek[..])
                            .map_err(|e| e.to_string())?
                            .wrap_vec(&cek)
                    }
                    .map_err(|e| e.to_string())?
                }
            }
        }
    };
    for (name, value) in extra {
        header.insert(name.clone(), value.clone());
    }
    let header_b64 = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
    let mut iv = vec![0u8; enc.iv_len()];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let aad = header_b64.as_bytes();
    let (ciphertext, tag) = match enc {
        ContentEncryption::A128CbcHs256 => {
            use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
            let (mac_key, enc_key) = cek.split_at(16);
            let ciphertext = cbc::Encryptor::<aes::Aes128>::new_from_slices(enc_key, &iv)
                .map_err(|e| e.to_string())?
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
            let tag = cbc_hmac_tag(mac_key, aad, &iv, &ciphertext).to_vec();
            (ciphertext, tag)
        }
        gcm => {
            let payload = Payload {
                msg: plaintext,
                aad,
            };
            let nonce =
                &aes_gcm::Nonce::from(<[u8; 12]>::try_from(&iv[..]).map_err(|e| e.to_string())?);
            let mut sealed = if gcm == ContentEncryption::A128Gcm {
                aes_gcm::Aes128Gcm::new_from_slice(&cek)
                    .map_err(|e| e.to_string())?
                    .encrypt(nonce, payload)
            } else {
                aes_gcm::Aes256Gcm::new_from_slice(&cek)
                    .map_err(|e| e.to_string())?
                    .encrypt(nonce, payload)
            }
            .map_err(|e| e.to_string())?;
            let tag = sealed.split_off(sealed.len() - 16);
            (sealed, tag)
        }
    };
    Ok([
        header_b64,
        URL_SAFE_NO_PAD.encode(&encrypted_key),
        URL_SAFE_NO_PAD.encode(&iv),
        URL_SAFE_NO_PAD.encode(&ciphertext),
        URL_SAFE_NO_PAD.encode(&tag),
    ]
    .join("."))
}

fn jwk_bytes(jwk: &Value, member: &str) -> Result<Vec<u8>, String> {
    jwk.get(member)
        .and_then(Value::as_str)
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .ok_or_else(|| format!("the key has no {member}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec_key() -> DecryptionKey {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_pem();
        DecryptionKey::from_pem(pem.as_bytes()).unwrap()
    }

    fn rsa_key() -> DecryptionKey {
        let pem = include_str!("../../tests/fixtures/rp-rsa2048.pem");
        DecryptionKey::from_pem(pem.as_bytes()).unwrap()
    }

    fn enc(alg: KeyManagement, enc: ContentEncryption) -> Encryption {
        Encryption { alg, enc }
    }

    const ALL_ENC: [ContentEncryption; 3] = [
        ContentEncryption::A128CbcHs256,
        ContentEncryption::A128Gcm,
        ContentEncryption::A256Gcm,
    ];

    #[test]
    fn every_algorithm_and_encryption_round_trips() {
        let keys = vec![rsa_key(), ec_key()];
        for alg in [
            KeyManagement::RsaOaep256,
            KeyManagement::EcdhEs,
            KeyManagement::EcdhEsA128Kw,
            KeyManagement::EcdhEsA256Kw,
        ] {
            let key = keys.iter().find(|k| k.serves(alg)).unwrap();
            for content in ALL_ENC {
                let e = enc(alg, content);
                let jwe =
                    encrypt(b"hello, relying party", key.public_jwk(), e, &Map::new()).unwrap();
                assert!(is_compact_jwe(&jwe));
                assert_eq!(
                    decrypt(&jwe, &keys, e).unwrap_or_else(|why| panic!("{e:?}: {why}")),
                    b"hello, relying party",
                    "{e:?}"
                );
            }
        }
    }

    #[test]
    fn a_key_is_published_with_its_thumbprint_and_no_private_part() {
        let key = rsa_key();
        let jwk = key.public_jwk();
        assert_eq!(jwk["use"], "enc");
        assert_eq!(jwk["alg"], "RSA-OAEP-256");
        assert_eq!(jwk["kid"], key.kid());
        assert!(jwk.get("d").is_none() && jwk.get("p").is_none());
        let ec = ec_key();
        assert!(ec.public_jwk().get("d").is_none());
        assert_eq!(ec.public_jwk()["crv"], "P-256");
        assert!(format!("{ec:?}").contains("redacted"));
        let small = include_str!("../../tests/fixtures/rsa1024.pem");
        assert!(DecryptionKey::from_pem(small.as_bytes())
            .unwrap_err()
            .contains("1024 bits"));
        assert!(DecryptionKey::from_pem(b"not a key").is_err());
    }

    #[test]
    fn the_configured_algorithms_are_pinned() {
        let keys = vec![rsa_key()];
        let e = enc(KeyManagement::RsaOaep256, ContentEncryption::A256Gcm);
        let jwe = encrypt(b"x", keys[0].public_jwk(), e, &Map::new()).unwrap();
        let other = enc(KeyManagement::RsaOaep256, ContentEncryption::A128CbcHs256);
        assert!(decrypt(&jwe, &keys, other)
            .unwrap_err()
            .contains("content encryption"));
        for (name, why) in [
            ("RSA1_5", "never accepted"),
            ("dir", "never accepted"),
            ("RSA-OAEP", "is not one of"),
        ] {
            let extra = json!({"alg": name});
            let jwe = encrypt(b"x", keys[0].public_jwk(), e, extra.as_object().unwrap()).unwrap();
            let error = decrypt(&jwe, &keys, e).unwrap_err();
            assert!(error.contains(why), "{name}: {error}");
        }
        for extra in [json!({"zip": "DEF"}), json!({"crit": ["exp"], "exp": 1})] {
            let jwe = encrypt(b"x", keys[0].public_jwk(), e, extra.as_object().unwrap()).unwrap();
            assert!(decrypt(&jwe, &keys, e).is_err());
        }
    }

    #[test]
    fn tampering_and_other_keys_give_one_error() {
        let ours = vec![rsa_key(), ec_key()];
        let theirs = [rsa_key_other(), ec_key()];
        for alg in [
            KeyManagement::RsaOaep256,
            KeyManagement::EcdhEsA256Kw,
            KeyManagement::EcdhEs,
        ] {
            for content in ALL_ENC {
                let e = enc(alg, content);
                let to = theirs.iter().find(|k| k.serves(alg)).unwrap();
                let mut public = to.public_jwk().clone();
                public.as_object_mut().unwrap().remove("kid");
                let jwe = encrypt(b"secret", &public, e, &Map::new()).unwrap();
                assert_eq!(decrypt(&jwe, &ours, e).unwrap_err(), UNDECRYPTABLE, "{e:?}");
                let mine = ours.iter().find(|k| k.serves(alg)).unwrap();
                let jwe = encrypt(b"secret", mine.public_jwk(), e, &Map::new()).unwrap();
                for part in 1..5 {
                    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
                    if parts[part].is_empty() {
                        continue;
                    }
                    let mut bytes = URL_SAFE_NO_PAD.decode(&parts[part]).unwrap();
                    bytes[0] ^= 1;
                    parts[part] = URL_SAFE_NO_PAD.encode(&bytes);
                    let error = decrypt(&parts.join("."), &ours, e).unwrap_err();
                    assert_eq!(error, UNDECRYPTABLE, "{e:?} part {part}");
                }
            }
        }
    }

    fn rsa_key_other() -> DecryptionKey {
        let pem = include_str!("../../tests/fixtures/op-ps256.pem");
        let key = DecryptionKey::from_pem(pem.as_bytes()).unwrap();
        assert_ne!(key.kid(), rsa_key().kid(), "two different keys");
        key
    }

    #[test]
    fn a_recipient_is_a_key_with_an_algorithm_both_sides_have() {
        let rsa = rsa_key().public_jwk().clone();
        let ec = ec_key().public_jwk().clone();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let keys = [rsa.clone(), ec.clone()];
        // The provider takes only ECDH-ES: the EC key, the strongest enc it offers.
        let (key, e) =
            recipient(&keys, &names(&["ECDH-ES"]), &names(&["A128GCM", "A256GCM"])).unwrap();
        assert_eq!(key, ec);
        assert_eq!(e, enc(KeyManagement::EcdhEs, ContentEncryption::A256Gcm));
        // RSA first when offered; no enc listed: A128CBC-HS256.
        let (key, e) = recipient(&keys, &names(&["RSA-OAEP-256", "ECDH-ES"]), &[]).unwrap();
        assert_eq!(key, rsa);
        assert_eq!(e.enc, ContentEncryption::A128CbcHs256);
        // Nothing in common, or only encryptions we do not do: none.
        assert!(recipient(&keys, &names(&["RSA1_5", "dir"]), &[]).is_none());
        assert!(recipient(&keys, &names(&["ECDH-ES"]), &names(&["A256CBC-HS512"])).is_none());
        // A key's own alg wins over the others.
        let mut wrap_only = ec.clone();
        wrap_only["alg"] = "ECDH-ES+A128KW".into();
        let offered = names(&["ECDH-ES", "ECDH-ES+A128KW"]);
        let (_, e) = recipient(&[wrap_only], &offered, &[]).unwrap();
        assert_eq!(e.alg, KeyManagement::EcdhEsA128Kw);
    }

    #[test]
    fn an_ephemeral_key_off_the_curve_is_refused() {
        let keys = vec![ec_key()];
        let e = enc(KeyManagement::EcdhEs, ContentEncryption::A128Gcm);
        let jwe = encrypt(b"x", keys[0].public_jwk(), e, &Map::new()).unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwe.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        let mut epk = header["epk"].clone();
        let mut y = URL_SAFE_NO_PAD.decode(epk["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        epk["y"] = URL_SAFE_NO_PAD.encode(&y).into();
        let mut forged = header.clone();
        forged["epk"] = epk;
        let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert!(decrypt(&parts.join("."), &keys, e)
            .unwrap_err()
            .contains("epk"));
    }

    #[test]
    fn shapes_that_are_not_a_jwe_are_refused_without_panicking() {
        let keys = vec![ec_key()];
        let e = enc(KeyManagement::EcdhEs, ContentEncryption::A128Gcm);
        for raw in [
            "",
            "a.b.c",
            "....",
            "a.b.c.d.e",
            &"x".repeat(MAX_JWE_LEN + 1),
            "e30.....",
            "e30.....",
        ] {
            assert!(decrypt(raw, &keys, e).is_err());
        }
    }
}
