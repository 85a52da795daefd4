//! DPoP (RFC 9449): proofs that the sender of a request holds the private key its tokens are
//! bound to.
//!
//! The client side: a [`DpopKey`] is generated for each login (it lives in the pending login
//! and then in the session, encrypted like the rest), its thumbprint goes to the provider as
//! `dpop_jkt`, and every request that obtains or uses a bound token carries a fresh proof
//! ([`DpopKey::proof`]). The server side ([`verify_proof`]) checks a proof sent to one of the
//! application's APIs. Signing, verification and thumbprints are the `jsonwebtoken` crate's;
//! which keys and claims are acceptable is decided here.

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::protocol::jwk::public_key_for;
use crate::protocol::rp_keys::ed25519_pkcs8;
use crate::util::text::for_log;

/// The `typ` of a DPoP proof.
pub(crate) const PROOF_TYPE: &str = "dpop+jwt";

/// The longest proof read (a proof with an RSA 4096 key is about 1.5 KB).
const MAX_PROOF_LEN: usize = 8 * 1024;

/// The algorithm of the keys the relying party generates for DPoP (`dpop_signing_alg`).
///
/// RSA is not offered: a key is generated for every login, and an RSA key takes tens of
/// milliseconds to generate where an EC or Ed25519 key takes microseconds.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::DpopAlgorithm;
///
/// assert_eq!(DpopAlgorithm::default(), DpopAlgorithm::ES256);
/// assert_eq!(DpopAlgorithm::EdDSA.name(), "EdDSA");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DpopAlgorithm {
    /// ECDSA on P-256 with SHA-256 (the default; every DPoP server supports it).
    #[default]
    ES256,
    /// Ed25519.
    EdDSA,
}

impl DpopAlgorithm {
    /// The JWS name of the algorithm.
    pub fn name(self) -> &'static str {
        match self {
            DpopAlgorithm::ES256 => "ES256",
            DpopAlgorithm::EdDSA => "EdDSA",
        }
    }

    fn jws(self) -> Algorithm {
        match self {
            DpopAlgorithm::ES256 => Algorithm::ES256,
            DpopAlgorithm::EdDSA => Algorithm::EdDSA,
        }
    }
}

/// A private key the tokens of one session are bound to. Its `Debug` shows only the
/// algorithm and the thumbprint.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct DpopKey {
    alg: DpopAlgorithm,
    /// The private scalar (P-256) or seed (Ed25519), base64url.
    d: String,
    /// The public key and its thumbprint, derived once per decoded key.
    #[serde(skip)]
    public: OnceLock<Option<(Jwk, String)>>,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DpopKey({}, jkt {}, [private part redacted])",
            self.alg.name(),
            self.thumbprint().unwrap_or("-")
        )
    }
}

impl DpopKey {
    /// A new key from the operating system's random numbers.
    pub fn generate(alg: DpopAlgorithm) -> Self {
        let mut bytes = [0u8; 32];
        loop {
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            // A P-256 scalar must be below the group order (all but 2^-32 of the values are).
            if alg == DpopAlgorithm::EdDSA || p256::SecretKey::from_slice(&bytes).is_ok() {
                break;
            }
        }
        DpopKey {
            alg,
            d: URL_SAFE_NO_PAD.encode(bytes),
            public: OnceLock::new(),
        }
    }

    fn encoding_key(&self) -> Option<EncodingKey> {
        let bytes = URL_SAFE_NO_PAD.decode(&self.d).ok()?;
        match self.alg {
            DpopAlgorithm::ES256 => {
                use p256::pkcs8::EncodePrivateKey;
                let der = p256::SecretKey::from_slice(&bytes)
                    .ok()?
                    .to_pkcs8_der()
                    .ok()?;
                Some(EncodingKey::from_ec_der(der.as_bytes()))
            }
            DpopAlgorithm::EdDSA => {
                let seed: [u8; 32] = bytes.try_into().ok()?;
                Some(EncodingKey::from_ed_der(&ed25519_pkcs8(&seed)))
            }
        }
    }

    fn public(&self) -> Option<&(Jwk, String)> {
        self.public
            .get_or_init(|| {
                let key = self.encoding_key()?;
                let mut jwk = Jwk::from_encoding_key(&key, self.alg.jws()).ok()?;
                // The bare public key: no `alg`, `kid` or `use` in a proof's header.
                jwk.common = Default::default();
                let thumbprint = jwk.thumbprint(ThumbprintHash::SHA256).ok()?;
                Some((jwk, thumbprint))
            })
            .as_ref()
    }

    /// The RFC 7638 thumbprint of the public key (`dpop_jkt`, and the token's `cnf.jkt`).
    pub fn thumbprint(&self) -> Option<&str> {
        self.public().map(|(_, jkt)| jkt.as_str())
    }

    /// A proof for a request with method `htm` to `htu` (query and fragment are left out), at
    /// `now`, with the server's `nonce` if it gave one, and `ath` when an access token is
    /// sent.
    pub fn proof(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<String, String> {
        let (jwk, _) = self.public().ok_or("the DPoP key cannot be read")?;
        let key = self.encoding_key().ok_or("the DPoP key cannot be read")?;
        let mut header = Header::new(self.alg.jws());
        header.typ = Some(PROOF_TYPE.to_owned());
        header.jwk = Some(jwk.clone());
        let claims = ProofClaims {
            jti: crate::util::random::random_token(),
            htm,
            htu: &target_uri(htu).ok_or("the request's URL is not absolute")?,
            iat: now,
            ath: access_token.map(token_hash),
            nonce,
        };
        jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
    }
}

#[derive(Serialize)]
struct ProofClaims<'a> {
    jti: String,
    htm: &'a str,
    htu: &'a str,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

/// `ath`: the base64url SHA-256 of an access token.
pub(crate) fn token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// A URL as `htu` names it: absolute, without query and fragment, normalized (RFC 3986 6.2.2
/// and 6.2.3: case of scheme and host, default port, percent-encoding), or `None`.
pub(crate) fn target_uri(url: &str) -> Option<String> {
    let mut url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

/// What a proof sent to this application must match.
pub(crate) struct ProofExpectations<'a> {
    /// The request's method.
    pub htm: &'a str,
    /// The request's URL (as the client saw it: behind `base_url`).
    pub htu: &'a str,
    /// The access token sent with it (`ath` must be its hash), if any.
    pub access_token: Option<&'a str>,
    pub now: i64,
    /// How old a proof may be, in seconds.
    pub max_age: i64,
    /// The clock skew allowed, in seconds (also how far in the future `iat` may be).
    pub skew: i64,
}

/// A proof that passed every check.
#[derive(Debug)]
pub(crate) struct VerifiedProof {
    /// The thumbprint of the proof's key: the token's `cnf.jkt` must be this.
    pub jkt: String,
    /// The proof's one-time id.
    pub jti: String,
    /// When the proof was made.
    pub iat: i64,
    /// The server nonce the proof carries, if any.
    pub nonce: Option<String>,
}

/// The asymmetric algorithms a proof may use (never `none` or an HMAC: the key is public).
const PROOF_ALGS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::EdDSA,
];

/// Checks a DPoP proof (RFC 9449 4.3): one JWT of type `dpop+jwt`, signed with an asymmetric
/// algorithm by the public key in its header (of acceptable strength, no private parts), for
/// this method and URL, recent, with a `jti`, and with `ath` the hash of the access token.
/// The caller checks that the `jti` is new, the nonce (if it asks for one), and that the token
/// is bound to [`VerifiedProof::jkt`].
pub(crate) fn verify_proof(
    proof: &str,
    expect: &ProofExpectations<'_>,
) -> Result<VerifiedProof, String> {
    if proof.len() > MAX_PROOF_LEN || proof.split('.').count() != 3 {
        return Err("the DPoP proof is not a compact JWS".into());
    }
    let raw_header = proof.split('.').next().unwrap_or_default();
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(raw_header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("the DPoP proof's header is not a JSON object")?;
    match header.get("typ").and_then(Value::as_str) {
        Some(typ) if typ.eq_ignore_ascii_case(PROOF_TYPE) => {}
        _ => return Err("the DPoP proof's `typ` is not dpop+jwt".into()),
    }
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or("the DPoP proof has no `alg`")?;
    let alg = PROOF_ALGS
        .iter()
        .copied()
        .find(|a| format!("{a:?}") == alg_name)
        .ok_or_else(|| {
            format!(
                "the DPoP proof's algorithm `{}` is not an accepted asymmetric one",
                for_log(alg_name, 16)
            )
        })?;
    let jwk = header.get("jwk").ok_or("the DPoP proof has no `jwk`")?;
    let checked = public_key_for(jwk, alg_name)
        .map_err(|why| format!("the DPoP proof's key is refused: {why}"))?;
    let jwk: Jwk = serde_json::from_value(Value::Object(checked))
        .map_err(|_| "the DPoP proof's key cannot be read".to_owned())?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "the DPoP proof's key cannot be read")?;
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &validation)
        .map_err(|_| "the DPoP proof's signature does not verify with its key".to_owned())?
        .claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("the DPoP proof has no `jti` (of at most 256 characters)")?;
    if text("htm") != Some(expect.htm) {
        return Err("the DPoP proof is for another HTTP method (`htm`)".into());
    }
    let htu = text("htu").and_then(target_uri);
    if htu.is_none() || htu != target_uri(expect.htu) {
        return Err("the DPoP proof is for another URL (`htu`)".into());
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("the DPoP proof has no integer `iat`")?;
    if iat > expect.now.saturating_add(expect.skew) {
        return Err("the DPoP proof was made in the future (`iat`)".into());
    }
    if iat < expect.now.saturating_sub(expect.max_age + expect.skew) {
        return Err("the DPoP proof is too old (`iat`)".into());
    }
    if let Some(token) = expect.access_token {
        if text("ath") != Some(token_hash(token).as_str()) {
            return Err("the DPoP proof is for another access token (`ath`)".into());
        }
    }
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| "the DPoP proof's key has no thumbprint".to_owned())?;
    Ok(VerifiedProof {
        jkt,
        jti: jti.to_owned(),
        iat,
        nonce: text("nonce").map(str::to_owned),
    })
}

/// How long a server nonce of the application's APIs is good for: its window of
/// [`NONCE_WINDOW`] seconds and the next.
const NONCE_WINDOW: i64 = 300;

/// The key of the application's DPoP server nonces (RFC 9449 9, `require_dpop_nonce`):
/// stateless, so every instance with the same secret key accepts every instance's nonces. A
/// nonce is its time window and a MAC of it (HKDF-SHA256 expansion under the key).
pub(crate) struct NonceKey(hkdf::Hkdf<Sha256>);

impl NonceKey {
    /// The key derived from `secret` (the application's secret key).
    pub fn new(secret: &[u8]) -> Self {
        NonceKey(hkdf::Hkdf::<Sha256>::new(None, secret))
    }

    fn tag(&self, window: i64) -> [u8; 16] {
        let mut tag = [0u8; 16];
        let info = [
            b"rocket_openidconnect dpop nonce v1 ".as_slice(),
            &window.to_be_bytes(),
        ]
        .concat();
        // 16 bytes are always a valid HKDF-SHA256 output length.
        let _ = self.0.expand(&info, &mut tag);
        tag
    }

    /// The nonce to hand out at `now`.
    pub fn issue(&self, now: i64) -> String {
        let window = now.div_euclid(NONCE_WINDOW);
        let bytes = [window.to_be_bytes().as_slice(), &self.tag(window)].concat();
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was handed out in this window or the one before.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        use subtle::ConstantTimeEq;
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Ok(bytes) = <[u8; 24]>::try_from(bytes.as_slice()) else {
            return false;
        };
        let mut window = [0u8; 8];
        window.copy_from_slice(&bytes[..8]);
        let window = i64::from_be_bytes(window);
        let current = now.div_euclid(NONCE_WINDOW);
        (window == current || window == current - 1)
            && bool::from(self.tag(window).ct_eq(&bytes[8..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://api.example/v1/items";

    fn expect<'a>(token: &'a str, now: i64) -> ProofExpectations<'a> {
        ProofExpectations {
            htm: "GET",
            htu: URL,
            access_token: Some(token),
            now,
            max_age: 60,
            skew: 5,
        }
    }

    #[test]
    fn a_proof_of_either_algorithm_verifies_and_names_its_key() {
        for alg in [DpopAlgorithm::ES256, DpopAlgorithm::EdDSA] {
            let key = DpopKey::generate(alg);
            let proof = key
                .proof(
                    "GET",
                    "https://API.example:443/v1/items?x=1#f",
                    Some("at"),
                    Some("n"),
                    100,
                )
                .unwrap();
            let header = jsonwebtoken::decode_header(&proof).unwrap();
            assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
            assert!(header.kid.is_none());
            let verified = verify_proof(&proof, &expect("at", 100)).unwrap();
            assert_eq!(Some(verified.jkt.as_str()), key.thumbprint());
            assert_eq!(verified.nonce.as_deref(), Some("n"));
            assert_eq!(verified.jti.len(), 43);
            // Kept in a session and read back: the same key.
            let json = serde_json::to_string(&key).unwrap();
            let again: DpopKey = serde_json::from_str(&json).unwrap();
            assert_eq!(again.thumbprint(), key.thumbprint());
            assert!(!format!("{key:?}").contains(&key.d));
        }
        assert_ne!(
            DpopKey::generate(DpopAlgorithm::ES256).thumbprint(),
            DpopKey::generate(DpopAlgorithm::ES256).thumbprint()
        );
    }

    #[test]
    fn proofs_for_another_request_token_or_time_are_refused() {
        let key = DpopKey::generate(DpopAlgorithm::ES256);
        let proof =
            |htm: &str, htu: &str, iat: i64| key.proof(htm, htu, Some("at"), None, iat).unwrap();
        let refused = |proof: &str, expect: &ProofExpectations<'_>, why: &str| {
            let error = verify_proof(proof, expect).unwrap_err();
            assert!(error.contains(why), "{error} (expected {why})");
        };
        refused(&proof("POST", URL, 100), &expect("at", 100), "htm");
        refused(
            &proof("GET", "https://api.example/v1/other", 100),
            &expect("at", 100),
            "htu",
        );
        refused(
            &proof("GET", "http://api.example/v1/items", 100),
            &expect("at", 100),
            "htu",
        );
        refused(&proof("GET", URL, 100), &expect("other", 100), "ath");
        refused(&proof("GET", URL, 106), &expect("at", 100), "future");
        refused(&proof("GET", URL, 34), &expect("at", 100), "too old");
        assert!(verify_proof(&proof("GET", URL, 35), &expect("at", 100)).is_ok());
        assert!(verify_proof(&proof("GET", URL, 105), &expect("at", 100)).is_ok());
        let no_ath = key.proof("GET", URL, None, None, 100).unwrap();
        refused(&no_ath, &expect("at", 100), "ath");
    }

    #[test]
    fn the_challenge_names_exactly_the_accepted_algorithms() {
        let names: Vec<String> = PROOF_ALGS.iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(names.join(" "), crate::error::DPOP_PROOF_ALGS);
    }

    #[test]
    fn server_nonces_last_two_windows_and_only_under_their_key() {
        let key = NonceKey::new(b"0123456789abcdef0123456789abcdef");
        let nonce = key.issue(1_000);
        assert!(key.accepts(&nonce, 1_000));
        assert!(key.accepts(&nonce, 1_000 + NONCE_WINDOW));
        assert!(!key.accepts(&nonce, 1_000 + 2 * NONCE_WINDOW));
        assert!(!NonceKey::new(b"another secret key of 32 bytes!!").accepts(&nonce, 1_000));
        let mut bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        bytes[23] ^= 1;
        assert!(!key.accepts(&URL_SAFE_NO_PAD.encode(bytes), 1_000));
        assert!(!key.accepts("short", 1_000));
    }

    fn forged(header: Value, claims: Value, signature: &str) -> String {
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.{signature}", part(&header), part(&claims))
    }

    #[test]
    fn proofs_of_the_wrong_type_algorithm_key_or_signature_are_refused() {
        let key = DpopKey::generate(DpopAlgorithm::ES256);
        let good = key.proof("GET", URL, Some("at"), None, 100).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let with = |name: &str, value: Value| {
            let mut h = header.clone();
            h[name] = value;
            forged(h, claims.clone(), parts[2])
        };
        let e = expect("at", 100);
        let refused = |proof: String, why: &str| {
            let error = verify_proof(&proof, &e).unwrap_err();
            assert!(error.contains(why), "{error} (expected {why})");
        };
        refused(with("typ", "JWT".into()), "typ");
        refused(with("alg", "HS256".into()), "not an accepted");
        refused(with("alg", "none".into()), "not an accepted");
        let mut private = header["jwk"].clone();
        private["d"] = key.d.clone().into();
        refused(with("jwk", private), "private");
        let other = DpopKey::generate(DpopAlgorithm::ES256);
        let other_jwk = serde_json::to_value(&other.public().unwrap().0).unwrap();
        refused(with("jwk", other_jwk), "signature");
        let ed = serde_json::to_value(&DpopKey::generate(DpopAlgorithm::EdDSA).public().unwrap().0)
            .unwrap();
        refused(with("jwk", ed), "refused");
        let mut claims_changed = claims.clone();
        claims_changed["iat"] = 101.into();
        refused(
            forged(header.clone(), claims_changed, parts[2]),
            "signature",
        );
        let mut no_jti = claims.clone();
        no_jti.as_object_mut().unwrap().remove("jti");
        let resigned = jsonwebtoken::encode(
            &jsonwebtoken::decode_header(&good).unwrap(),
            &no_jti,
            &key.encoding_key().unwrap(),
        )
        .unwrap();
        refused(resigned, "jti");
        refused("a.b".into(), "compact");
        refused("x".repeat(9000), "compact");
    }
}
