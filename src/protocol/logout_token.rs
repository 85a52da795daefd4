//! Logout tokens (OpenID Connect Back-Channel Logout 1.0 with errata 1, section 2.4): their
//! form and claims, checked as section 2.6 says. The issuer, audience, algorithm and signature
//! need the provider and are checked by the caller.

use serde_json::Value;

use crate::error::TokenError;
use crate::protocol::jws::{decode_parts, JsonObject};

/// The `events` member that makes a JWT a logout token.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token may be at most this old (its `iat`), in seconds.
pub(crate) const MAX_AGE: i64 = 600;

/// Decodes a logout token and checks its form and claims (everything but the issuer, the
/// audience, the algorithm and the signature, which need the provider): claims are checked
/// first, so that a token that is wrong anyway never causes a key-set fetch.
pub(crate) fn parse_logout_token(
    raw: &str,
    now: i64,
    skew: i64,
) -> Result<(JsonObject, JsonObject), TokenError> {
    let (header, claims) = decode_parts(raw)?;
    check_typ(&header)?;
    check_logout_claims(&claims, now, skew)?;
    Ok((header, claims))
}

/// `typ` absent, `JWT`, or `logout+jwt` (section 2.4 and 4.1: explicit typing protects against
/// cross-JWT confusion).
fn check_typ(header: &JsonObject) -> Result<(), TokenError> {
    match header.get("typ") {
        None => Ok(()),
        Some(Value::String(typ))
            if matches!(
                typ.to_ascii_lowercase().as_str(),
                "jwt" | "logout+jwt" | "application/logout+jwt"
            ) =>
        {
            Ok(())
        }
        Some(_) => Err(TokenError::Malformed(
            "the token is not typed as a logout token".into(),
        )),
    }
}

/// The claims of section 2.4, checked as 2.6 says (`iss`, `aud` and the signature are checked
/// by the caller).
fn check_logout_claims(claims: &JsonObject, now: i64, skew: i64) -> Result<(), TokenError> {
    let number = |name: &str| -> Result<f64, TokenError> {
        claims
            .get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| TokenError::Malformed(format!("no numeric `{name}`")))
    };
    let (now, skew) = (now as f64, skew as f64);
    let iat = number("iat")?;
    if iat > now + skew || iat < now - (MAX_AGE as f64) - skew {
        return Err(TokenError::IssuedAt);
    }
    // Required since errata 1.
    if number("exp")? + skew <= now {
        return Err(TokenError::Expired);
    }
    match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() => {}
        _ => return Err(TokenError::Malformed("no `jti`".into())),
    }
    let event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err(TokenError::Malformed("no back-channel logout event".into()));
    }
    if claims.contains_key("nonce") {
        return Err(TokenError::Malformed(
            "a logout token never has a `nonce`".into(),
        ));
    }
    let non_empty = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    for name in ["sub", "sid"] {
        if claims.contains_key(name) && !non_empty(name) {
            return Err(TokenError::Malformed(format!("`{name}` is not a string")));
        }
    }
    if !non_empty("sub") && !non_empty("sid") {
        return Err(TokenError::Malformed("neither `sub` nor `sid`".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type Change = Box<dyn FnOnce(&mut JsonObject)>;

    fn claims(change: impl FnOnce(&mut JsonObject)) -> JsonObject {
        let mut claims = json!({
            "iss": "https://op.example", "aud": "client", "iat": 1_000, "exp": 1_120,
            "jti": "j-1", "sid": "s-1",
            "events": { LOGOUT_EVENT: {} },
        })
        .as_object()
        .cloned()
        .unwrap();
        change(&mut claims);
        claims
    }

    #[test]
    fn logout_claims_follow_section_2_6() {
        let check = |c: JsonObject| check_logout_claims(&c, 1_010, 60);
        assert!(check(claims(|_| {})).is_ok());
        assert!(check(claims(|c| drop(
            c.remove("sid").map(|_| c.insert("sub".into(), "u".into()))
        )))
        .is_ok());
        let bad: Vec<(&str, Change)> = vec![
            ("no events", Box::new(|c| drop(c.remove("events")))),
            (
                "wrong event",
                Box::new(|c| drop(c.insert("events".into(), json!({"x": {}})))),
            ),
            (
                "event not an object",
                Box::new(|c| drop(c.insert("events".into(), json!({LOGOUT_EVENT: "x"})))),
            ),
            (
                "events an array",
                Box::new(|c| drop(c.insert("events".into(), json!([LOGOUT_EVENT])))),
            ),
            (
                "nonce",
                Box::new(|c| drop(c.insert("nonce".into(), "n".into()))),
            ),
            ("no sub, no sid", Box::new(|c| drop(c.remove("sid")))),
            (
                "sid not a string",
                Box::new(|c| drop(c.insert("sid".into(), 5.into()))),
            ),
            ("no jti", Box::new(|c| drop(c.remove("jti")))),
            ("no iat", Box::new(|c| drop(c.remove("iat")))),
            (
                "old iat",
                Box::new(|c| drop(c.insert("iat".into(), 300.into()))),
            ),
            (
                "future iat",
                Box::new(|c| drop(c.insert("iat".into(), 2_000.into()))),
            ),
            (
                "expired",
                Box::new(|c| drop(c.insert("exp".into(), 900.into()))),
            ),
            ("no exp", Box::new(|c| drop(c.remove("exp")))),
        ];
        for (name, change) in bad {
            assert!(check(claims(change)).is_err(), "{name}");
        }
    }

    #[test]
    fn only_logout_tokens_or_untyped_jwts_are_accepted() {
        let header = |typ: Value| {
            json!({"alg": "RS256", "typ": typ})
                .as_object()
                .cloned()
                .unwrap()
        };
        assert!(check_typ(&header(json!("logout+jwt"))).is_ok());
        assert!(check_typ(&header(json!("JWT"))).is_ok());
        assert!(check_typ(&json!({"alg": "RS256"}).as_object().cloned().unwrap()).is_ok());
        assert!(check_typ(&header(json!("at+jwt"))).is_err());
        assert!(check_typ(&header(json!(1))).is_err());
    }
}
