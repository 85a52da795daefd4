//! ID tokens (OpenID Connect Core 3.1.3.7): every claim checked, then the signature
//! ([`jws`](crate::protocol::jws)).
//!
//! The `openidconnect` crate's ID-token verifier is not used: it has no clock skew, does not check `azp`, `nbf` or a
//! future `iat`, drops claims it does not know, and clones the key set per token. Every claim
//! is checked here, and one signature check serves ID and access tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::ClientSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::error::TokenError;
use crate::protocol::issuer::IssuerRule;
use crate::protocol::jws::{alg_name, check_alg, decode_parts, verify_signature, JsonObject};

/// The claims of a validated ID token, every one of them (standard and custom).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::Claims;
///
/// let claims: Claims = serde_json::from_str(r#"{"sub": "alice", "email": "a@example.com"}"#).unwrap();
/// assert_eq!(claims.subject(), "alice");
/// assert_eq!(claims.get("email").and_then(|v| v.as_str()), Some("a@example.com"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// The `sub` claim (empty if absent, which a validated token never is).
    pub fn subject(&self) -> &str {
        self.str("sub").unwrap_or_default()
    }

    /// The `iss` claim.
    pub fn issuer(&self) -> &str {
        self.str("iss").unwrap_or_default()
    }

    /// Any claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string claim by name.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Decodes the payload of a JWT whose integrity is already established (for example one
    /// read back from the encrypted session). Performs no validation.
    pub(crate) fn from_trusted_jwt(jwt: &str) -> Option<Claims> {
        let payload = jwt.split('.').nth(1)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        serde_json::from_slice(&bytes).ok().map(Claims)
    }
}

/// How the `nonce` claim is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NonceCheck<'a> {
    /// It must be present and equal (login).
    Required(&'a str),
    /// It may be absent; if present it must be equal (refresh).
    IfPresent(&'a str),
}

/// What an ID token must satisfy.
pub(crate) struct Expectations<'a> {
    pub issuer: IssuerRule<'a>,
    pub client_id: &'a str,
    pub client_secret: Option<&'a ClientSecret>,
    pub allowed_algs: &'a [CoreJwsSigningAlgorithm],
    pub nonce: NonceCheck<'a>,
    /// Unix time; `iat` must not be earlier than this (minus the skew).
    pub issued_after: i64,
    /// Unix time now.
    pub now: i64,
    /// Seconds of tolerated clock difference.
    pub skew: i64,
    /// The `max_age` sent, if any: `auth_time` is then required and must be recent enough.
    pub max_age: Option<i64>,
    /// The `acr_values` sent, if any: `acr` must then be one of them.
    pub acr_values: Option<&'a str>,
    /// Values returned with the token that it must bind by hash (front channel).
    pub hashes: &'a [HashCheck<'a>],
}

/// 9999-12-31T23:59:59Z: no time claim is later.
const LAST_SECOND: f64 = 253_402_300_799.0;

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(TokenError::Malformed(format!("`{name}` is not a number"))),
    }
}

/// Checks the header and the claims that `openidconnect` does not (or not precisely enough).
fn check_claims(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    expect: &Expectations<'_>,
) -> Result<CoreJwsSigningAlgorithm, TokenError> {
    // Header: alg is pinned; `crit` is refused (we understand no extension).
    let alg = check_alg(header, expect.allowed_algs)?;
    check_identity(claims, expect)?;
    check_times(claims, expect)?;
    check_authentication(claims, expect)?;
    check_hashes(claims, &alg, expect.hashes)?;
    check_nonce(claims, expect.nonce)?;
    Ok(alg)
}

/// Who issued the token, about whom, for whom: `iss` exactly the issuer, `sub` a non-empty
/// string, `aud` containing the client, and `azp` the client when present (required with
/// several audiences).
fn check_identity(claims: &JsonObject, expect: &Expectations<'_>) -> Result<(), TokenError> {
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if expect.issuer.accepts(iss, claims) => {}
        Some(_) => return Err(TokenError::Issuer("not the provider's issuer".into())),
        None => return Err(TokenError::Issuer("missing".into())),
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => {}
        _ => return Err(TokenError::Subject),
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(TokenError::Audience("missing".into())),
    };
    if !audiences.contains(&expect.client_id) {
        return Err(TokenError::Audience("does not contain this client".into()));
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == expect.client_id => Ok(()),
        Some(_) => Err(TokenError::AuthorizedParty("not this client".into())),
        None if audiences.len() > 1 => Err(TokenError::AuthorizedParty(
            "missing although there are several audiences".into(),
        )),
        None => Ok(()),
    }
}

/// `exp`, `iat` and `nbf`, with the clock skew. Absurd values cannot overflow: they are
/// compared as f64.
fn check_times(claims: &JsonObject, expect: &Expectations<'_>) -> Result<(), TokenError> {
    let now = expect.now as f64;
    let skew = expect.skew as f64;
    let exp = number(claims, "exp")?.ok_or_else(|| TokenError::Malformed("no `exp`".into()))?;
    // Beyond the year 9999 is no time at all (matrix I9): refused, like a missing `exp`.
    if exp >= LAST_SECOND {
        return Err(TokenError::Malformed("`exp` is out of range".into()));
    }
    if exp + skew <= now {
        return Err(TokenError::Expired);
    }
    let iat = number(claims, "iat")?.ok_or_else(|| TokenError::Malformed("no `iat`".into()))?;
    if iat > now + skew || iat < expect.issued_after as f64 - skew {
        return Err(TokenError::IssuedAt);
    }
    match number(claims, "nbf")? {
        Some(nbf) if nbf > now + skew => Err(TokenError::NotYetValid),
        _ => Ok(()),
    }
}

/// What the login asked of the authentication: with `max_age`, an `auth_time` recent enough
/// (Core 3.1.2.1, 3.1.3.7 step 13); with `acr_values`, an `acr` among them (step 12).
fn check_authentication(claims: &JsonObject, expect: &Expectations<'_>) -> Result<(), TokenError> {
    let now = expect.now as f64;
    let skew = expect.skew as f64;
    if let Some(max_age) = expect.max_age {
        let auth_time = number(claims, "auth_time")?.ok_or(TokenError::AuthTime)?;
        if auth_time + max_age as f64 + skew < now || auth_time > now + skew {
            return Err(TokenError::AuthTime);
        }
    }
    if let Some(requested) = expect.acr_values {
        match claims.get("acr").and_then(Value::as_str) {
            Some(acr) if requested.split_whitespace().any(|r| r == acr) => {}
            _ => return Err(TokenError::AuthContext),
        }
    }
    Ok(())
}

/// Hashes of what came with the token (Core 3.2.2.10, 3.3.2.11): required ones present,
/// present ones right (also when not required), compared in constant time.
fn check_hashes(
    claims: &JsonObject,
    alg: &CoreJwsSigningAlgorithm,
    hashes: &[HashCheck<'_>],
) -> Result<(), TokenError> {
    for check in hashes {
        match claims.get(check.claim) {
            None if check.required => return Err(TokenError::Hash(check.claim)),
            None => {}
            Some(value) => {
                let expected = left_half_hash(alg, check.value);
                let got = value.as_str().unwrap_or_default();
                if !bool::from(got.as_bytes().ct_eq(expected.as_bytes())) {
                    return Err(TokenError::Hash(check.claim));
                }
            }
        }
    }
    Ok(())
}

/// The nonce, in constant time.
fn check_nonce(claims: &JsonObject, nonce: NonceCheck<'_>) -> Result<(), TokenError> {
    match (nonce, claims.get("nonce")) {
        (NonceCheck::Required(_), None) => Err(TokenError::Nonce("missing".into())),
        (NonceCheck::Required(sent) | NonceCheck::IfPresent(sent), Some(value)) => {
            let got = value.as_str().unwrap_or_default();
            if bool::from(got.as_bytes().ct_eq(sent.as_bytes())) {
                Ok(())
            } else {
                Err(TokenError::Nonce("not the one sent".into()))
            }
        }
        (NonceCheck::IfPresent(_), None) => Ok(()),
    }
}

/// A value returned together with an ID token that the token must bind by its hash claim.
#[derive(Clone, Copy)]
pub(crate) struct HashCheck<'a> {
    /// `c_hash`, `at_hash` or `s_hash`.
    pub claim: &'static str,
    /// The code, access token or state as received.
    pub value: &'a str,
    /// The claim must be present.
    pub required: bool,
}

/// base64url of the left half of the hash of `value`, with the hash of the token's `alg`
/// (SHA-256 for `*256`, SHA-384 for `*384`, SHA-512 for `*512` and Ed25519).
pub(crate) fn left_half_hash(alg: &CoreJwsSigningAlgorithm, value: &str) -> String {
    use sha2::{Digest, Sha256, Sha384, Sha512};
    let name = alg_name(alg);
    let digest: Vec<u8> = if name.ends_with("384") {
        Sha384::digest(value.as_bytes()).to_vec()
    } else if name.ends_with("512") || name == "EdDSA" {
        Sha512::digest(value.as_bytes()).to_vec()
    } else {
        Sha256::digest(value.as_bytes()).to_vec()
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Validates `raw` completely and returns its claims. The claims are checked before the
/// signature, so that a token that is wrong anyway never causes a key-set refetch.
pub(crate) fn validate_id_token(
    raw: &str,
    keys: &CoreJsonWebKeySet,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    let (header, claims) = decode_parts(raw)?;
    let alg = check_claims(&header, &claims, expect)?;
    check_id_token_form(&header, &claims, expect.client_id)?;
    verify_signature(raw, &header, &alg, keys, expect.client_secret)?;
    Ok(Claims(claims))
}

/// What makes a JWT an ID token for this client: `typ` absent or `JWT` (an access token's
/// `at+jwt` is not one), no nested or encrypted content, and no audience besides the client
/// (Core 3.1.3.7 step 3: untrusted extra audiences are refused; none is trusted).
fn check_id_token_form(
    header: &JsonObject,
    claims: &JsonObject,
    client_id: &str,
) -> Result<(), TokenError> {
    if let Some(typ) = header.get("typ") {
        let typ = typ.as_str().unwrap_or_default().to_ascii_lowercase();
        if typ != "jwt" && typ != "application/jwt" {
            return Err(TokenError::Malformed(
                "the token is not typed as an ID token".into(),
            ));
        }
    }
    if header.contains_key("cty") {
        return Err(TokenError::Malformed(
            "nested JWTs are not supported".into(),
        ));
    }
    if let Some(Value::Array(audiences)) = claims.get("aud") {
        if audiences.iter().any(|a| a.as_str() != Some(client_id)) {
            return Err(TokenError::Audience("an audience is not trusted".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hmac_of_the_wrong_length_is_refused_without_a_panic() {
        // The crash the `jwt` fuzz target found (fuzz/artifacts), kept as a regression test.
        let header = b64(&serde_json::json!({"alg": "HS256"}));
        let algs = [CoreJwsSigningAlgorithm::HmacSha256];
        let secret = ClientSecret::new("a-client-secret".into());
        let mut expect = expect(&algs);
        expect.client_secret = Some(&secret);
        let keys: CoreJsonWebKeySet = serde_json::from_str(r#"{"keys":[]}"#).unwrap();
        for signature in ["AAAA", "", &"A".repeat(86)] {
            let raw = format!("{header}.{}.{signature}", b64(&claims()));
            assert!(
                matches!(
                    validate_id_token(&raw, &keys, &expect),
                    Err(TokenError::Signature)
                ),
                "{signature:?}"
            );
        }
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn expect<'a>(algs: &'a [CoreJwsSigningAlgorithm]) -> Expectations<'a> {
        Expectations {
            issuer: IssuerRule::Exact("https://op.example"),
            client_id: "client",
            client_secret: None,
            allowed_algs: algs,
            nonce: NonceCheck::Required("n-1"),
            issued_after: 1_000,
            now: 1_100,
            skew: 60,
            max_age: None,
            acr_values: None,
            hashes: &[],
        }
    }

    fn claims() -> Value {
        serde_json::json!({"iss": "https://op.example", "sub": "alice", "aud": "client",
            "exp": 2_000, "iat": 1_050, "nonce": "n-1"})
    }

    fn check(c: Value) -> Result<(), TokenError> {
        let algs = [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
        let header = serde_json::json!({"alg": "RS256"});
        check_claims(
            header.as_object().unwrap(),
            c.as_object().unwrap(),
            &expect(&algs),
        )
        .map(drop)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut c = claims();
        c[key] = value;
        c
    }

    fn without(key: &str) -> Value {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(key);
        c
    }

    #[test]
    fn accepts_good_claims_and_rejects_each_bad_one() {
        assert_eq!(check(claims()), Ok(()));
        assert_eq!(check(with("aud", serde_json::json!(["client"]))), Ok(()));
        assert!(matches!(
            check(with("iss", "https://op.example/".into())),
            Err(TokenError::Issuer(_))
        ));
        assert!(matches!(check(without("iss")), Err(TokenError::Issuer(_))));
        assert_eq!(check(without("sub")), Err(TokenError::Subject));
        assert_eq!(check(with("sub", "".into())), Err(TokenError::Subject));
        assert_eq!(check(with("sub", 5.into())), Err(TokenError::Subject));
        assert!(matches!(
            check(with("aud", "other".into())),
            Err(TokenError::Audience(_))
        ));
        assert!(matches!(
            check(without("aud")),
            Err(TokenError::Audience(_))
        ));
        assert!(matches!(
            check(with("aud", serde_json::json!(["client", "other"]))),
            Err(TokenError::AuthorizedParty(_))
        ));
        let mut two_with_azp = with("aud", serde_json::json!(["client", "other"]));
        two_with_azp["azp"] = "client".into();
        assert_eq!(check(two_with_azp), Ok(()));
        assert!(matches!(
            check(with("azp", "other".into())),
            Err(TokenError::AuthorizedParty(_))
        ));
        // exp: within the skew is fine, beyond is not; absurd values do not overflow.
        assert_eq!(check(with("exp", 1_050.into())), Ok(()));
        assert_eq!(check(with("exp", 1_040.into())), Err(TokenError::Expired));
        assert_eq!(
            check(with("exp", serde_json::json!(-1e300))),
            Err(TokenError::Expired)
        );
        assert!(matches!(
            check(with("exp", serde_json::json!(1e300))),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            check(with("exp", "2000".into())),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            check(without("exp")),
            Err(TokenError::Malformed(_))
        ));
        // iat: not in the future beyond the skew, not before the login started.
        assert_eq!(check(with("iat", 1_161.into())), Err(TokenError::IssuedAt));
        assert_eq!(check(with("iat", 1_159.into())), Ok(()));
        assert_eq!(check(with("iat", 900.into())), Err(TokenError::IssuedAt));
        assert!(matches!(
            check(without("iat")),
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(
            check(with("nbf", 1_200.into())),
            Err(TokenError::NotYetValid)
        );
        assert!(matches!(
            check(with("nonce", "n-2".into())),
            Err(TokenError::Nonce(_))
        ));
        assert!(matches!(check(without("nonce")), Err(TokenError::Nonce(_))));
    }

    #[test]
    fn max_age_and_acr_values_are_enforced_when_requested() {
        let algs = [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
        let header = serde_json::json!({"alg": "RS256"});
        let header = header.as_object().unwrap();
        let mut e = expect(&algs);
        e.max_age = Some(100);
        e.acr_values = Some("mfa hwk");
        let run = |c: Value, e: &Expectations<'_>| {
            check_claims(header, c.as_object().unwrap(), e).map(drop)
        };
        let mut c = with("auth_time", 1_000.into());
        c["acr"] = "mfa".into();
        assert_eq!(run(c.clone(), &e), Ok(()));
        c["acr"] = "pwd".into();
        assert_eq!(run(c.clone(), &e), Err(TokenError::AuthContext));
        c["acr"] = "hwk".into();
        c["auth_time"] = 900.into();
        assert_eq!(run(c.clone(), &e), Err(TokenError::AuthTime));
        c.as_object_mut().unwrap().remove("auth_time");
        assert_eq!(run(c, &e), Err(TokenError::AuthTime));
    }

    #[test]
    fn header_alg_is_pinned() {
        let algs = [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
        let c = claims();
        for (alg, ok) in [
            ("RS256", true),
            ("none", false),
            ("NONE", false),
            ("HS256", false),
            ("ES256", false),
            ("XX1", false),
        ] {
            let header = serde_json::json!({"alg": alg});
            let result = check_claims(
                header.as_object().unwrap(),
                c.as_object().unwrap(),
                &expect(&algs),
            );
            assert_eq!(result.is_ok(), ok, "{alg}");
        }
        let header = serde_json::json!({"alg": "RS256", "crit": ["exp"]});
        assert!(check_claims(
            header.as_object().unwrap(),
            c.as_object().unwrap(),
            &expect(&algs)
        )
        .is_err());
    }

    #[test]
    fn malformed_tokens_are_rejected_without_panic() {
        let good_header = b64(&serde_json::json!({"alg": "RS256"}));
        let good_payload = b64(&claims());
        for raw in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a.b.c.d.e".into(),
            format!("{good_header}.!!!.sig"),
            format!("{}.{good_payload}.sig", b64(&serde_json::json!([1]))),
            format!("{good_header}.{}.sig", b64(&serde_json::json!("text"))),
            "x".repeat(crate::protocol::jws::MAX_TOKEN_LEN + 1),
        ] {
            let algs = [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
            let keys = CoreJsonWebKeySet::new(vec![]);
            assert!(
                matches!(
                    validate_id_token(&raw, &keys, &expect(&algs)),
                    Err(TokenError::Malformed(_))
                ),
                "{raw:.40}"
            );
        }
    }
}
