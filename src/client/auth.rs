//! Client authentication at the provider's endpoints (token, revocation, introspection): the
//! configured method, applied to a form POST.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::client::http::HttpClient;
use crate::client::registration::ClientCredentials;
use crate::config::ClientAuthMethod;

/// A form POST to one of the provider's endpoints, authenticated as the client with the
/// configured method.
pub(crate) fn client_post<'a>(
    http: &HttpClient,
    credentials: &'a ClientCredentials,
    url: &str,
    mut form: Vec<(&'a str, &'a str)>,
) -> reqwest::RequestBuilder {
    let id = credentials.client_id.as_str();
    let secret = credentials
        .client_secret
        .as_ref()
        .map(|s| s.secret().as_str());
    let mut request = http.post(url);
    match (credentials.auth_method, secret) {
        (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
            request = request.header(reqwest::header::AUTHORIZATION, basic_auth(id, secret));
        }
        (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
            form.push(("client_id", id));
            form.push(("client_secret", secret));
        }
        _ => form.push(("client_id", id)),
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    request
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
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
