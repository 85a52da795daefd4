//! Entry points of the cargo-fuzz targets in `fuzz/` (feature `fuzzing`). Not an API: each
//! function feeds arbitrary bytes to one parser of untrusted input and checks what must hold
//! whatever the input (no panic, and the properties asserted here).

use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::ClientSecret;

use crate::protocol::callback::CallbackParams;
use crate::protocol::id_token::{validate_id_token, Expectations, HashCheck, NonceCheck};
use crate::protocol::jwe::{ContentEncryption, DecryptionKey, Encryption, KeyManagement};
use crate::protocol::jwk::signing_keys;
use crate::protocol::jws::verify_jws;
use crate::protocol::response::ResponseType;
use crate::session::chunks::{decode_chunks, encode_chunks};
use crate::session::model::UserSession;

/// The callback's query or form body: parsing, and the response-type check of every type.
pub fn callback_params(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    if let Ok(params) = CallbackParams::parse(text) {
        for response_type in [
            ResponseType::Code,
            ResponseType::IdToken,
            ResponseType::IdTokenToken,
            ResponseType::CodeIdToken,
            ResponseType::CodeToken,
            ResponseType::CodeIdTokenToken,
        ] {
            let _ = params.check_parts(response_type);
        }
    }
}

/// The session cookie after decryption: chunks (split at `0xff` bytes) reassembled and parsed;
/// and any text survives the chunk encoding unchanged.
pub fn session_cookie(input: &[u8]) {
    let chunks: Vec<String> = input
        .split(|b| *b == 0xff)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    if let Some(json) = decode_chunks(|i| chunks.get(i).cloned()) {
        let _ = UserSession::from_json(&json);
    }
    let text = String::from_utf8_lossy(input);
    if let Some(encoded) = encode_chunks(&text, 7) {
        let decoded = decode_chunks(|i| encoded.get(i).cloned());
        assert_eq!(decoded.as_deref(), Some(text.as_ref()), "chunk round trip");
    }
}

/// A provider key set for the JWT target: one RSA key.
const JWKS: &str = r#"{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","e":"AQAB",
"n":"qxfGmyHxHTlNs6fzFnXiQXUTvBJCHCm7gn4twaXlwib2GknD-7nsaiGj8HX_zJBQtYL6Q4tOMGBNwVQmSQSdQndN50QJYd1t8GpxdBU21Ujlk-1vVHEskO4JXZbqMXV9ytczIYs-yQZMFp1VuIdBTcMBb50EHyTyqTCRLDSG3w6704yKlEIXzAqnmUV2Y8ZX5lWyhmDaXOqSQoabCqw0OZbJkRDBHvV2PhYe8BoMNnmjko_YkBneNOgOQqjVH_Xw1ZauSGeSefcuPH0uPH2qFSV_1ZV2ooQQU9gZHr3rQ10PQsMj2_YS0nRer-CC_9Ng-Pws7QImKQvjJE3wbGD6Ow"}]}"#;

/// A JWT (ID token or access token): header and claims parsing, every claim check, the
/// signature check (RSA and HMAC) and the hash checks. A fuzzer cannot sign with the RSA key
/// nor with the secret, so nothing may ever be accepted.
pub fn jwt(input: &[u8]) {
    let Ok(raw) = std::str::from_utf8(input) else {
        return;
    };
    let document: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(JWKS).expect("the fixed key set");
    let keys: CoreJsonWebKeySet = signing_keys(&document).expect("a key set").keys;
    let secret = ClientSecret::new("fuzzing-secret-0123456789abcdef".into());
    let algs = [
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::HmacSha256,
    ];
    let hashes = [HashCheck {
        claim: "at_hash",
        value: "access-token",
        required: false,
    }];
    let expect = Expectations {
        issuer: crate::protocol::issuer::IssuerRule::Exact("https://op.example"),
        client_id: "client",
        client_secret: Some(&secret),
        allowed_algs: &algs,
        nonce: NonceCheck::Required("nonce"),
        issued_after: 0,
        now: 1_700_000_000,
        skew: 60,
        max_age: Some(600),
        acr_values: Some("urn:a urn:b"),
        hashes: &hashes,
    };
    assert!(
        validate_id_token(raw, &keys, &expect).is_err(),
        "a forged ID token was accepted"
    );
    assert!(
        verify_jws(raw, &keys, &algs[..2]).is_err(),
        "a forged JWS was accepted"
    );
}

/// A logout token's form and claims (back-channel logout); the rest is the `jwt` target's.
pub fn logout_token(input: &[u8]) {
    let Ok(raw) = std::str::from_utf8(input) else {
        return;
    };
    let _ = crate::protocol::logout_token::parse_logout_token(raw, 1_700_000_000, 60);
}

/// A provider's key set: whatever a document says, the keys kept for verifying signatures are
/// for signatures (`use` absent or `sig`, `key_ops` absent or with `verify`), of a supported
/// type, and free of private parts; every refusal names its key safely (no line break).
pub fn jwks(input: &[u8]) {
    let Ok(serde_json::Value::Object(document)) = serde_json::from_slice(input) else {
        return;
    };
    let Ok(set) = signing_keys(&document) else {
        return;
    };
    assert!(set.keys.keys().len() <= crate::protocol::jwk::MAX_KEYS);
    let kept = serde_json::to_value(&set.keys).expect("a key set serializes");
    for key in kept["keys"].as_array().into_iter().flatten() {
        assert!(
            matches!(key.get("use").and_then(|u| u.as_str()), None | Some("sig")),
            "a key for another use was kept: {key}"
        );
        assert!(
            matches!(key["kty"].as_str(), Some("RSA" | "EC" | "OKP")),
            "{key}"
        );
        assert!(key.get("d").is_none() && key.get("k").is_none(), "{key}");
    }
    for refused in &set.refused {
        assert!(!refused.kid.contains('\n') && !refused.kid.contains('\r'));
        assert!(!refused.reason.contains('\n') && !refused.reason.contains('\r'));
    }
}

/// The return-path validator: whatever it accepts stays on the application's origin when a
/// browser resolves it, also after up to three rounds of percent-decoding.
pub fn return_path(input: &[u8]) {
    let Ok(candidate) = std::str::from_utf8(input) else {
        return;
    };
    let Some(path) = crate::util::url::safe_return_path(candidate) else {
        return;
    };
    let base = url::Url::parse("https://app.example/base/").expect("a base URL");
    let mut current = path.to_owned();
    for _ in 0..3 {
        if let Ok(resolved) = base.join(&current) {
            assert_eq!(
                resolved.host_str(),
                Some("app.example"),
                "{path:?} leaves the site"
            );
            assert_eq!(resolved.scheme(), "https", "{path:?}");
        }
        current = percent_encoding::percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
    }
}

/// The fixed P-256 decryption key of the `jwe` target (PKCS#8).
const EC_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg41Btwg9KMIQkFZ+W
k3f+OwhFpTiNOyF0x8GtLm8dfHuhRANCAARNovTCG1vYwKIu0OwspFukLcbUYqUK
OsMC2wl9GK+utZZGXJsE0C9hGsKDMswZITUPrq9iSc29pNfpEDjZT3mn
-----END PRIVATE KEY-----
";

/// The `jwe` target's keys: an RSA key (the tests' fixture) and a P-256 key.
fn jwe_keys() -> &'static [DecryptionKey] {
    static KEYS: std::sync::OnceLock<Vec<DecryptionKey>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa = include_str!("../tests/fixtures/rp-rsa2048.pem");
        [rsa, EC_KEY]
            .iter()
            .map(|pem| DecryptionKey::from_pem(pem.as_bytes()).expect("a fixed key"))
            .collect()
    })
}

/// Every configuration the `jwe` target decrypts with (chosen by the input's first byte).
pub fn jwe_encryptions() -> Vec<Encryption> {
    let algs = [
        KeyManagement::RsaOaep256,
        KeyManagement::EcdhEs,
        KeyManagement::EcdhEsA128Kw,
        KeyManagement::EcdhEsA256Kw,
    ];
    let encs = [
        ContentEncryption::A128CbcHs256,
        ContentEncryption::A128Gcm,
        ContentEncryption::A256Gcm,
    ];
    algs.iter()
        .flat_map(|&alg| encs.iter().map(move |&enc| Encryption { alg, enc }))
        .collect()
}

/// A compact JWE (the bytes after the first, which picks the expected `alg`/`enc`): parsing,
/// the header rules, key agreement or unwrapping, content decryption and the tag. Anyone can
/// encrypt to a public key, so a JWE may decrypt; then its header must name exactly the
/// expected algorithms, without `zip` or `crit`. A refusal's reason is one line.
pub fn jwe(input: &[u8]) {
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let encryptions = jwe_encryptions();
    let expected = encryptions[selector as usize % encryptions.len()];
    match crate::protocol::jwe::decrypt(raw, jwe_keys(), expected) {
        Ok(_) => {
            use base64::Engine;
            let header = raw.split('.').next().unwrap_or_default();
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .expect("a decrypted JWE has a base64url header");
            let header: serde_json::Value =
                serde_json::from_slice(&header).expect("a decrypted JWE has a JSON header");
            assert_eq!(header["alg"], expected.alg.name(), "{header}");
            assert_eq!(header["enc"], expected.enc.name(), "{header}");
            assert!(header.get("zip").is_none() && header.get("crit").is_none());
        }
        Err(reason) => assert!(!reason.contains('\n') && !reason.contains('\r'), "{reason}"),
    }
}

/// Seeds for the `jwe` target: a JWE of `plaintext` for each expected configuration, to the
/// target's keys, with its selector byte in front.
pub fn jwe_seeds(plaintext: &[u8]) -> Vec<Vec<u8>> {
    jwe_encryptions()
        .into_iter()
        .enumerate()
        .map(|(selector, encryption)| {
            let key = jwe_keys()
                .iter()
                .find(|k| k.serves(encryption.alg))
                .expect("a key of each kind");
            let jwe = crate::protocol::jwe::encrypt(
                plaintext,
                key.public_jwk(),
                encryption,
                &serde_json::Map::new(),
            )
            .expect("encryption to a fixed key");
            [vec![selector as u8], jwe.into_bytes()].concat()
        })
        .collect()
}

/// The moment the `dpop_proof` target judges proofs at (Unix time; its seeds were made then).
pub const DPOP_NOW: i64 = 1_700_000_000;
/// The request the `dpop_proof` target's proofs must be for.
pub const DPOP_URL: &str = "https://api.example/items?page=2";
/// The access token the `dpop_proof` target's proofs must carry the hash of.
pub const DPOP_TOKEN: &str = "fuzzing-access-token";

/// A DPoP proof as the API guard receives it from anyone (RFC 9449 4.3): parsing, the header
/// rules, the embedded key's checks, the signature, and every claim. Anyone can sign a proof
/// with a key of their own, so a proof may pass; then it must be a `dpop+jwt` JWS whose
/// header key has no private part, whose claims name this request, this token's hash and a
/// recent `iat`, and whose thumbprint is the header key's. A refusal's reason is one line.
pub fn dpop_proof(input: &[u8]) {
    use crate::protocol::dpop::{token_hash, verify_proof, ProofExpectations};
    let Ok(proof) = std::str::from_utf8(input) else {
        return;
    };
    let expect = ProofExpectations {
        htm: "GET",
        htu: DPOP_URL,
        access_token: Some(DPOP_TOKEN),
        now: DPOP_NOW,
        max_age: 60,
        skew: 30,
    };
    match verify_proof(proof, &expect) {
        Ok(verified) => {
            use base64::Engine;
            let part = |i: usize| -> serde_json::Value {
                let raw = proof.split('.').nth(i).unwrap_or_default();
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(raw)
                    .expect("an accepted proof's parts are base64url");
                serde_json::from_slice(&bytes).expect("an accepted proof's parts are JSON")
            };
            let (header, claims) = (part(0), part(1));
            let typ = header["typ"].as_str().unwrap_or_default();
            assert!(typ.eq_ignore_ascii_case("dpop+jwt"), "{header}");
            let jwk = header["jwk"].as_object().expect("a key in the header");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(!jwk.contains_key(private), "{header}");
            }
            assert_eq!(claims["htm"], "GET", "{claims}");
            assert_eq!(claims["ath"], token_hash(DPOP_TOKEN).as_str(), "{claims}");
            let iat = claims["iat"].as_i64().expect("an integer iat");
            assert!((DPOP_NOW - 90..=DPOP_NOW + 30).contains(&iat), "{claims}");
            assert_eq!(claims["jti"], verified.jti.as_str(), "{claims}");
            let key: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(header["jwk"].clone()).expect("a readable key");
            let thumbprint = key
                .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .expect("a thumbprint");
            assert_eq!(verified.jkt, thumbprint);
        }
        Err(reason) => assert!(!reason.contains('\n') && !reason.contains('\r'), "{reason}"),
    }
}

/// Seeds for the `dpop_proof` target: a valid proof for its request by an ES256 and an EdDSA
/// key, with and without a server nonce.
pub fn dpop_seeds() -> Vec<String> {
    use crate::protocol::dpop::{DpopAlgorithm, DpopKey};
    let mut seeds = Vec::new();
    for alg in [DpopAlgorithm::ES256, DpopAlgorithm::EdDSA] {
        let key = DpopKey::generate(alg);
        for nonce in [None, Some("server-nonce")] {
            let proof = key
                .proof("GET", DPOP_URL, Some(DPOP_TOKEN), nonce, DPOP_NOW)
                .expect("a proof");
            seeds.push(proof);
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    /// Writes the `jwe` target's seed corpus (run by hand:
    /// `cargo test --all-features --lib write_jwe_seeds -- --ignored`).
    #[test]
    #[ignore]
    fn write_jwe_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/jwe");
        std::fs::create_dir_all(&dir).unwrap();
        let inner = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";
        for (i, seed) in super::jwe_seeds(inner).into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
        }
    }

    /// Writes the `dpop_proof` target's seed corpus (run by hand:
    /// `cargo test --all-features --lib write_dpop_seeds -- --ignored`).
    #[test]
    #[ignore]
    fn write_dpop_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dpop_proof");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in super::dpop_seeds().into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
        }
    }

    #[test]
    fn the_dpop_seeds_pass_and_the_target_takes_them() {
        use crate::protocol::dpop::{verify_proof, ProofExpectations};
        for seed in super::dpop_seeds() {
            let expect = ProofExpectations {
                htm: "GET",
                htu: super::DPOP_URL,
                access_token: Some(super::DPOP_TOKEN),
                now: super::DPOP_NOW,
                max_age: 60,
                skew: 30,
            };
            assert!(verify_proof(&seed, &expect).is_ok(), "{seed}");
            super::dpop_proof(seed.as_bytes());
        }
        super::dpop_proof(b"");
        super::dpop_proof(b"a.b.c");
    }

    #[test]
    fn the_jwe_seeds_decrypt_and_the_target_takes_them() {
        for seed in super::jwe_seeds(b"{}") {
            let raw = std::str::from_utf8(&seed[1..]).unwrap();
            let expected = super::jwe_encryptions()[seed[0] as usize];
            let plain = crate::protocol::jwe::decrypt(raw, super::jwe_keys(), expected);
            assert_eq!(plain.as_deref(), Ok(&b"{}"[..]), "{expected:?}");
            super::jwe(&seed);
        }
        super::jwe(b"");
        super::jwe(b"\x00a.b.c.d.e");
    }
}
