//! OpenID Connect Back-Channel Logout 1.0 (with errata 1): the logout token a provider POSTs
//! to end sessions, validated as section 2.6 says, and its effect (the sessions it names end,
//! for every instance that shares the store).
//!
//! Nothing here knows Rocket.

use serde_json::Value;

use crate::error::{AuthError, TokenError};
use crate::flow::{unix_now, RelyingParty};
use crate::provider::ProviderClient;
use crate::replay::EndedBy;
use crate::token::{allowed_algs, check_alg, decode_parts, verify_signature, JsonObject};

/// The `events` member that makes a JWT a logout token.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token may be at most this old (its `iat`), in seconds.
const MAX_AGE: i64 = 600;

/// A valid logout token: which sessions of which provider end.
#[derive(Debug)]
pub(crate) struct LogoutEvent {
    pub provider: String,
    /// The provider's issuer and the client the sessions belong to.
    pub issuer: String,
    pub client_id: String,
    pub sub: Option<String>,
    pub sid: Option<String>,
    /// How the token's `jti` was recorded as used (forgotten again if the logout fails, so
    /// that the provider's retry is not refused as a replay); empty when not from a token.
    pub jti_record: String,
}

impl RelyingParty {
    /// Validates a logout token (section 2.6): signed by the provider that issued it (its
    /// configured issuer), with an algorithm allowed for its ID tokens (never `none`), for this
    /// client, recent, with the back-channel logout event, a `sub` or `sid`, no `nonce`, a
    /// `jti` never seen before, and not typed as anything but a logout token.
    pub async fn validate_logout_token(&self, raw: &str) -> Result<LogoutEvent, AuthError> {
        let skew = self.config.clock_skew as i64;
        let (header, claims) = parse_logout_token(raw, unix_now(), skew)?;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| TokenError::Issuer("missing".into()))?;
        // The providers with this issuer (several clients at one provider are possible); the
        // token must be for one of their clients.
        let mut candidates: Vec<&ProviderClient> = Vec::new();
        for provider in self.providers.values() {
            if provider.config.issuer() == issuer {
                candidates.push(provider);
            }
        }
        if candidates.is_empty() {
            return Err(TokenError::Issuer("not a configured provider".into()).into());
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => return Err(TokenError::Audience("missing".into()).into()),
        };
        let mut client: Option<(&ProviderClient, _)> = None;
        for candidate in candidates {
            let ready = candidate.ready(&self.http).await?;
            if audiences.contains(&ready.credentials.client_id.as_str()) {
                client = Some((candidate, ready));
                break;
            }
        }
        let (client, ready) =
            client.ok_or_else(|| TokenError::Audience("does not contain this client".into()))?;
        if ready.metadata.issuer != issuer {
            return Err(TokenError::Issuer("not the provider's issuer".into()).into());
        }
        // The header: an allowed algorithm of this provider's ID tokens; typed as a logout
        // token or not typed (never as another kind of JWT, like an access token).
        let algs = allowed_algs(
            client.config.id_token_signing_algs.as_deref(),
            &ready.metadata.id_token_signing_alg_values_supported,
        );
        let alg = check_alg(&header, &algs)?;
        // The signature (with one key-set refetch for a rotated key).
        let secret = ready.credentials.client_secret.as_ref();
        let check = |keys: &_| verify_signature(raw, &header, &alg, keys, secret);
        ready.keys.check_with(&self.http, check).await??;
        // Used once: a replayed token is refused.
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .unwrap_or_default() as i64;
        let until = iat.saturating_add(MAX_AGE + self.config.clock_skew as i64);
        let jti_record = format!("{issuer} {jti}");
        if !self.records.first_use("jti", &jti_record, until).await? {
            return Err(TokenError::Malformed("this logout token was used already".into()).into());
        }
        let string = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(LogoutEvent {
            provider: client.name.clone(),
            issuer: ready.metadata.issuer.clone(),
            client_id: ready.credentials.client_id.clone(),
            sub: string("sub"),
            sid: string("sid"),
            jti_record,
        })
    }

    /// Ends the sessions a logout names: those of the provider session `sid` if given (the
    /// precise form), else every session of `sub`; from now until they would have expired.
    pub async fn end_sessions(&self, event: &LogoutEvent) -> Result<(), AuthError> {
        let now = unix_now();
        let until = now.saturating_add(self.config.session_lifetime as i64);
        let (by, value) = match (&event.sid, &event.sub) {
            (Some(sid), _) => (EndedBy::ProviderSession, sid),
            (None, Some(sub)) => (EndedBy::Subject, sub),
            (None, None) => return Ok(()),
        };
        self.records
            .end((&event.issuer, &event.client_id), by, value, now, until)
            .await?;
        log::info!(
            "OpenID Connect: provider `{}` ended sessions (by {})",
            event.provider,
            if by == EndedBy::ProviderSession {
                "sid"
            } else {
                "sub"
            }
        );
        Ok(())
    }
}

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
