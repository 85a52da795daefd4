//! Request objects (RFC 9101, JAR): the authorization parameters in a JWT signed with the
//! relying party's key, so that the provider knows they come from the client and that nobody
//! on the way changed them.

use serde_json::{Map, Value};

use crate::protocol::rp_keys::RpKey;

/// How long a request object is valid, in seconds (FAPI 2.0 Message Signing: at most an hour
/// after `nbf`; a request is used at once).
pub(crate) const LIFETIME: i64 = 300;

/// The JWS `typ` of a request object (RFC 9101 10.8).
pub(crate) const TYPE: &str = "oauth-authz-req+jwt";

/// A request object of `client_id` for the provider `audience` (its issuer identifier),
/// holding every parameter of `params` (a repeated one as an array; `claims` as its JSON
/// object; `max_age` as a number), made at `now` with the one-time `jti`.
pub(crate) fn request_object(
    key: &RpKey,
    client_id: &str,
    audience: &str,
    params: &[(&str, &str)],
    now: i64,
    jti: &str,
) -> Result<String, String> {
    let mut claims = Map::new();
    for (name, value) in params {
        let value = match *name {
            "claims" => serde_json::from_str::<Value>(value)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| Value::from(*value)),
            "max_age" => value
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(*value)),
            _ => Value::from(*value),
        };
        match claims.get_mut(*name) {
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                claims.insert((*name).to_owned(), value);
            }
        }
    }
    for (name, value) in [
        ("iss", Value::from(client_id)),
        ("client_id", Value::from(client_id)),
        ("aud", Value::from(audience)),
        ("iat", Value::from(now)),
        ("nbf", Value::from(now)),
        ("exp", Value::from(now + LIFETIME)),
        ("jti", Value::from(jti)),
    ] {
        claims.insert(name.to_owned(), value);
    }
    key.sign(TYPE, &claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn every_parameter_goes_inside_with_the_claims_a_provider_checks() {
        let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let key = RpKey::from_pem(pem.as_bytes()).unwrap();
        let params = [
            ("response_type", "code"),
            ("state", "s-1"),
            ("resource", "https://a.example"),
            ("resource", "https://b.example"),
            ("max_age", "300"),
            ("claims", r#"{"id_token":{"acr":{"essential":true}}}"#),
        ];
        let jwt = request_object(&key, "app", "https://op", &params, 1_000, "j-1").unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.typ.as_deref(), Some(TYPE));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let payload = jwt.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["iss"], "app");
        assert_eq!(claims["client_id"], "app");
        assert_eq!(claims["aud"], "https://op");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
            LIFETIME
        );
        assert_eq!(claims["state"], "s-1");
        assert_eq!(
            claims["resource"],
            serde_json::json!(["https://a.example", "https://b.example"])
        );
        assert_eq!(claims["max_age"], 300);
        assert!(claims["claims"]["id_token"]["acr"]["essential"]
            .as_bool()
            .unwrap());
    }
}
