//! The userinfo endpoint: the user's claims, for the subject of the ID token only.

use serde_json::{Map, Value};

use crate::client::http::invalid;
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::config::UserinfoMethod;
use crate::error::{AuthError, ProviderError};

const ENDPOINT: &str = "userinfo endpoint";

/// The userinfo of `access_token`'s user, if configured and offered; its `sub` must be
/// `subject`.
pub(crate) async fn fetch_userinfo(
    client: &ProviderClient,
    ready: &ReadyProvider,
    access_token: &str,
    subject: &str,
) -> Result<Option<Map<String, Value>>, AuthError> {
    let endpoint = match (
        &client.config.userinfo_method,
        &ready.metadata.userinfo_endpoint,
    ) {
        (UserinfoMethod::None, _) | (_, None) => return Ok(None),
        (_, Some(endpoint)) => endpoint,
    };
    let http = &client.http;
    let request = match client.config.userinfo_method {
        UserinfoMethod::Post => http.post(endpoint).header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        ),
        _ => http.get(endpoint),
    };
    let request = request.bearer_auth(access_token);
    let response = http.send(ENDPOINT, request).await?;
    if response.status != 200 {
        return Err(ProviderError::Status {
            endpoint: ENDPOINT,
            status: response.status,
        }
        .into());
    }
    if !response.is_json() {
        return Err(invalid(ENDPOINT, "only JSON userinfo responses are supported").into());
    }
    let userinfo = response.json_object(ENDPOINT)?;
    match userinfo.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == subject => Ok(Some(userinfo)),
        _ => Err(AuthError::UserinfoSubject),
    }
}
