//! Access tokens presented to the application's APIs: what they say ([`AccessTokenInfo`]),
//! and the checks every one of them must pass, whether it was read locally as a JWT (RFC 9068)
//! or by introspection (RFC 7662).

use serde_json::{Map, Value};

use crate::protocol::issuer::IssuerRule;

/// What a validated access token says: its claims (from the JWT or the introspection response).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::AccessTokenInfo;
///
/// let info = AccessTokenInfo::from_claims(serde_json::json!({
///     "sub": "alice", "client_id": "app", "scope": "api read"
/// }));
/// assert!(info.has_scope("api"));
/// assert_eq!(info.scopes(), ["api", "read"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AccessTokenInfo {
    pub(crate) claims: Map<String, Value>,
}

impl AccessTokenInfo {
    /// Wraps claims (a JSON object; anything else gives no claims).
    pub fn from_claims(claims: Value) -> Self {
        let claims = match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        AccessTokenInfo { claims }
    }

    /// The `sub` claim, if any.
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// The `client_id` claim (or `azp`), if any.
    pub fn client_id(&self) -> Option<&str> {
        self.claims
            .get("client_id")
            .or_else(|| self.claims.get("azp"))
            .and_then(Value::as_str)
    }

    /// The granted scopes: `scope` (space-separated) or `scp` (a list or a string).
    pub fn scopes(&self) -> Vec<&str> {
        match self.claims.get("scope").or_else(|| self.claims.get("scp")) {
            Some(Value::String(s)) => s.split_whitespace().collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(&scope)
    }

    /// When the token expires (Unix time), if known.
    pub fn expires_at(&self) -> Option<i64> {
        self.claims.get("exp").and_then(Value::as_i64)
    }

    /// All claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// Whether a token looks like a JWT (three base64url segments).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The claims of an introspection answer that are kept.
pub(crate) const KEPT_CLAIMS: &[&str] = &[
    "active",
    "iss",
    "sub",
    "aud",
    "client_id",
    "azp",
    "scope",
    "scp",
    "exp",
    "iat",
    "nbf",
    "token_type",
    "cnf",
    "username",
    "acr",
    "amr",
    "auth_time",
];

/// What an access token must satisfy for this application.
pub(crate) struct AccessExpectations<'a> {
    /// The provider's issuer (or issuers, multi-tenant).
    pub issuer: IssuerRule<'a>,
    /// The configured `audiences` (empty: the client id is the audience).
    pub audiences: &'a [String],
    /// The client id.
    pub client_id: &'a str,
    /// Unix time now, and the clock skew.
    pub now: i64,
    pub skew: i64,
}

impl AccessExpectations<'_> {
    /// The audiences a token may name.
    fn accepted(&self) -> Vec<&str> {
        if self.audiences.is_empty() {
            vec![self.client_id]
        } else {
            self.audiences.iter().map(String::as_str).collect()
        }
    }
}

/// The header of a JWT access token, and what tells it from an ID token: an ID token carries a
/// nonce or hashes and is never typed `at+jwt`. Without configured audiences (the client id is
/// then the audience, like an ID token's) the type is required.
pub(crate) fn check_jwt_form(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    typ_required: bool,
) -> Result<(), String> {
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    let typed = matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt"));
    let untyped_ok = matches!(typ.as_deref(), None | Some("jwt"));
    if !typed && (typ_required || !untyped_ok) {
        return Err("the token is not typed at+jwt".into());
    }
    if ["nonce", "at_hash", "c_hash"]
        .iter()
        .any(|c| claims.contains_key(*c))
    {
        return Err("an ID token is not an access token".into());
    }
    Ok(())
}

/// The claims every access token must satisfy: bound to the key of the request's DPoP proof
/// (`proof_jkt`, its thumbprint) or, without a proof, to no key at all; the issuer, the
/// audience, the times. `required`: a JWT must have `iss`, `aud` and `exp`; an introspection
/// answer may leave them out (then, without `aud`, only tokens issued to this client pass,
/// unless audiences are configured).
pub(crate) fn check_access_claims(
    claims: &Map<String, Value>,
    expect: &AccessExpectations<'_>,
    required: bool,
    proof_jkt: Option<&str>,
) -> Result<(), String> {
    let now = expect.now as f64;
    let skew = expect.skew as f64;
    let invalid = |why: &str| Err(why.to_owned());
    // A sender-constrained token (DPoP, mTLS) only with the proof of its key (RFC 9449 7.1);
    // a proof only with a token bound to that key.
    match (claims.get("cnf"), proof_jkt) {
        (None, None) => {}
        (Some(_), None) => return invalid("a sender-constrained token is not a bearer token"),
        (None, Some(_)) => return invalid("the token is not bound to the DPoP proof's key"),
        (Some(cnf), Some(jkt)) => {
            if cnf.get("jkt").and_then(Value::as_str) != Some(jkt) {
                return invalid("the token is bound to another key than the DPoP proof's");
            }
        }
    }
    if let Some(kind) = claims.get("token_type").and_then(Value::as_str) {
        let fits = kind.eq_ignore_ascii_case("access_token")
            || if proof_jkt.is_some() {
                kind.eq_ignore_ascii_case("dpop")
            } else {
                kind.eq_ignore_ascii_case("bearer")
            };
        if !fits {
            return invalid("not an access token of the scheme it came with");
        }
    }
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if expect.issuer.accepts(iss, claims) => {}
        None if !required => {}
        _ => return invalid("wrong issuer"),
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        None if !required => Vec::new(),
        _ => return invalid("no audience"),
    };
    if audiences.is_empty() && !required {
        let own = claims.get("client_id").and_then(Value::as_str) == Some(expect.client_id);
        if !expect.audiences.is_empty() || !own {
            return invalid("not for this audience");
        }
    } else if !audiences.iter().any(|a| expect.accepted().contains(a)) {
        return invalid("not for this audience");
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_f64);
    match number("exp") {
        Some(exp) if exp + skew > now => {}
        None if !required => {}
        _ => return invalid("expired"),
    }
    if number("nbf").is_some_and(|nbf| nbf > now + skew) {
        return invalid("not valid yet");
    }
    if number("iat").is_some_and(|iat| iat > now + skew) {
        return invalid("issued in the future");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn access_claims_are_checked() {
        let audiences = vec!["https://api.example".to_string()];
        let expect = AccessExpectations {
            issuer: IssuerRule::Exact("https://op.example"),
            audiences: &audiences,
            client_id: "client",
            now: 1_000,
            skew: 10,
        };
        let good = json!({"iss": "https://op.example", "aud": "https://api.example", "exp": 2_000});
        assert_eq!(
            check_access_claims(&object(good.clone()), &expect, true, None),
            Ok(())
        );
        for (key, value) in [
            ("iss", json!("https://other.example")),
            ("aud", json!("client")),
            ("exp", json!(900)),
            ("nbf", json!(1_100)),
            ("iat", json!(1_100)),
            ("cnf", json!({"jkt": "x"})),
            ("token_type", json!("DPoP")),
        ] {
            let mut bad = good.clone();
            bad[key] = value;
            assert!(
                check_access_claims(&object(bad), &expect, true, None).is_err(),
                "{key}"
            );
        }
        // DPoP-bound: only with a proof of the same key, and then only the bound token.
        let mut bound = good.clone();
        bound["cnf"] = json!({"jkt": "key-1"});
        bound["token_type"] = json!("DPoP");
        let bound = object(bound);
        assert_eq!(
            check_access_claims(&bound, &expect, true, Some("key-1")),
            Ok(())
        );
        assert!(check_access_claims(&bound, &expect, true, Some("key-2")).is_err());
        assert!(check_access_claims(&bound, &expect, true, None).is_err());
        let unbound = object(good.clone());
        assert!(check_access_claims(&unbound, &expect, true, Some("key-1")).is_err());
        let mut mtls = good.clone();
        mtls["cnf"] = json!({"x5t#S256": "key-1"});
        assert!(check_access_claims(&object(mtls), &expect, true, Some("key-1")).is_err());
        // An introspection answer without `aud`: refused when audiences are configured.
        let no_aud = object(json!({"active": true, "client_id": "client"}));
        assert!(check_access_claims(&no_aud, &expect, false, None).is_err());
        let own = AccessExpectations {
            audiences: &[],
            ..expect
        };
        assert_eq!(check_access_claims(&no_aud, &own, false, None), Ok(()));
    }

    #[test]
    fn id_tokens_are_not_access_tokens() {
        let header = |typ: Value| object(json!({"alg": "RS256", "typ": typ}));
        let claims = object(json!({"sub": "a"}));
        assert!(check_jwt_form(&header(json!("at+jwt")), &claims, true).is_ok());
        assert!(check_jwt_form(&header(json!("JWT")), &claims, true).is_err());
        assert!(check_jwt_form(&header(json!("JWT")), &claims, false).is_ok());
        assert!(check_jwt_form(&header(json!("id+jwt")), &claims, false).is_err());
        let id_token = object(json!({"sub": "a", "nonce": "n"}));
        assert!(check_jwt_form(&header(json!("at+jwt")), &id_token, false).is_err());
    }
}
