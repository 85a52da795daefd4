//! Entry points of the cargo-fuzz targets in `fuzz/` (feature `fuzzing`). Not an API: each
//! function feeds arbitrary bytes to one parser of untrusted input and checks what must hold
//! whatever the input (no panic, and the properties asserted here).

use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::ClientSecret;

use crate::protocol::callback::CallbackParams;
use crate::protocol::id_token::{validate_id_token, Expectations, HashCheck, NonceCheck};
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
