//! Client authentication at the provider's endpoints (token, revocation, introspection): the
//! configured method, applied to a form POST: the secret in a Basic header or the form, or a
//! JWT assertion (`client_secret_jwt`, `private_key_jwt`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::config::ClientAuthMethod;
use crate::error::ProviderError;
use crate::protocol::client_assertion::{client_assertion, AssertionKey, ASSERTION_TYPE};
use crate::util::clock::unix_now;
use crate::util::random::random_token;

/// A form POST to one of `client`'s endpoints, authenticated as the client with its
/// credentials' method.
pub(crate) fn client_post(
    client: &ProviderClient,
    ready: &ReadyProvider,
    url: &str,
    form: Vec<(&str, &str)>,
) -> Result<reqwest::RequestBuilder, ProviderError> {
    let credentials = &ready.credentials;
    let id = credentials.client_id.as_str();
    let secret = credentials
        .client_secret
        .as_ref()
        .map(|s| s.secret().as_str());
    let mut form: Vec<(&str, String)> = form.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
    let mut request = client.http.post(url);
    let key = match (credentials.auth_method, secret) {
        (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
            request = request.header(reqwest::header::AUTHORIZATION, basic_auth(id, secret));
            None
        }
        (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
            form.push(("client_id", id.to_owned()));
            form.push(("client_secret", secret.to_owned()));
            None
        }
        (ClientAuthMethod::ClientSecretJwt, Some(secret)) => Some(AssertionKey::Secret(secret)),
        (ClientAuthMethod::PrivateKeyJwt, _) => match client.keys.signer() {
            Some(key) => Some(AssertionKey::Private(key)),
            None => return Err(assertion_failed("no signing key is configured")),
        },
        // Mutual TLS: the client certificate of the connection authenticates (RFC 8705 2);
        // the form names the client.
        _ => {
            form.push(("client_id", id.to_owned()));
            None
        }
    };
    if let Some(key) = key {
        // The provider's issuer identifier as the audience (RFC 7523bis, FAPI 2.0).
        let assertion =
            client_assertion(key, id, &ready.metadata.issuer, &random_token(), unix_now())
                .map_err(|why| assertion_failed(&why))?;
        form.push(("client_id", id.to_owned()));
        form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
        form.push(("client_assertion", assertion));
    }
    // A form that already names the client (a pushed authorization request) names it once.
    let mut named = false;
    form.retain(|(k, _)| *k != "client_id" || !std::mem::replace(&mut named, true));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    Ok(request
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body))
}

fn assertion_failed(why: &str) -> ProviderError {
    ProviderError::ClientAuthentication(why.to_owned())
}

/// `Authorization: Basic` with the id and secret form-urlencoded first (RFC 6749 2.3.1).
fn basic_auth(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    format!("Basic {}", STANDARD.encode(pair))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_encodes_id_and_secret_first() {
        // RFC 6749 2.3.1: "a:b" becomes "a%3Ab" before base64.
        let header = basic_auth("a:b", "p w");
        let decoded = STANDARD
            .decode(header.trim_start_matches("Basic "))
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "a%3Ab:p+w");
    }
}
