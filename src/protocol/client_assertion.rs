//! JWT client authentication (RFC 7523 2.2, OpenID Connect Core 9): `private_key_jwt` signed
//! with the relying party's key, `client_secret_jwt` with HS256 under the client secret. The
//! claims follow FAPI 2.0 and RFC 7523bis: `iss` = `sub` = the client id, `aud` the provider's
//! issuer identifier as a single string, a unique `jti`, `iat`, and `exp` 60 seconds later.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::protocol::rp_keys::RpKey;

/// The `client_assertion_type` of a JWT assertion.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid, in seconds.
pub(crate) const LIFETIME: i64 = 60;

/// What signs an assertion.
pub(crate) enum AssertionKey<'a> {
    /// `private_key_jwt`: the relying party's first signing key.
    Private(&'a RpKey),
    /// `client_secret_jwt`: HS256 with the client secret.
    Secret(&'a str),
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: &'a str,
    iat: i64,
    exp: i64,
}

/// A client assertion of `client_id` for the provider `audience` (its issuer identifier),
/// with the one-time `jti`, made at `now`.
pub(crate) fn client_assertion(
    key: AssertionKey<'_>,
    client_id: &str,
    audience: &str,
    jti: &str,
    now: i64,
) -> Result<String, String> {
    let claims = AssertionClaims {
        iss: client_id,
        sub: client_id,
        aud: audience,
        jti,
        iat: now,
        exp: now + LIFETIME,
    };
    match key {
        AssertionKey::Private(key) => key.sign("JWT", &claims),
        AssertionKey::Secret(secret) => {
            let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|e| e.to_string())?;
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
                .map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::Value;

    #[test]
    fn an_assertion_names_the_client_and_the_issuer_and_expires_within_a_minute() {
        let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let key = RpKey::from_pem(pem.as_bytes()).unwrap();
        let now = 1_700_000_000;
        let jwt =
            client_assertion(AssertionKey::Private(&key), "rp", "https://op", "j1", now).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let public = DecodingKey::from_jwk(key.public_jwk()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://op"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(&jwt, &public, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], "rp");
        assert_eq!(claims["sub"], "rp");
        assert_eq!(claims["aud"], "https://op", "a single string");
        assert_eq!(claims["jti"], "j1");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            60
        );
    }

    #[test]
    fn client_secret_jwt_is_hs256_under_the_secret() {
        let jwt = client_assertion(
            AssertionKey::Secret("s3cret-s3cret-s3cret-s3cret-s3cret"),
            "rp",
            "https://op",
            "j",
            1,
        )
        .unwrap();
        let key = DecodingKey::from_secret(b"s3cret-s3cret-s3cret-s3cret-s3cret").unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&["https://op"]);
        validation.validate_exp = false;
        assert!(jsonwebtoken::decode::<Value>(&jwt, &key, &validation).is_ok());
    }
}
