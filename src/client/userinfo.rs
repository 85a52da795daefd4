//! The userinfo endpoint: the user's claims, for the subject of the ID token only.

use serde_json::{Map, Value};

use crate::client::dpop::{send_with_proof, Proof};
use crate::client::http::invalid;
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::client::signed_answer::SignedAnswer;
use crate::config::UserinfoMethod;
use crate::error::{AuthError, ProviderError};
use crate::protocol::dpop::DpopKey;
use crate::protocol::metadata::Endpoint;

const ENDPOINT: &str = "userinfo endpoint";

/// The userinfo of `access_token`'s user, if configured and offered; its `sub` must be
/// `subject`. A token bound to `dpop` is sent as `DPoP` with a proof.
pub(crate) async fn fetch_userinfo(
    client: &ProviderClient,
    ready: &ReadyProvider,
    access_token: &str,
    subject: &str,
    dpop: Option<&DpopKey>,
) -> Result<Option<Map<String, Value>>, AuthError> {
    let endpoint = match (
        &client.config.userinfo_method,
        ready
            .metadata
            .endpoint(Endpoint::Userinfo, client.config.uses_mtls()),
    ) {
        (UserinfoMethod::None, _) | (_, None) => return Ok(None),
        (_, Some(endpoint)) => endpoint,
    };
    let http = &client.http;
    let post = client.config.userinfo_method == UserinfoMethod::Post;
    let scheme = if dpop.is_some() { "DPoP" } else { "Bearer" };
    let accept = match client.config.userinfo_signed_response_alg {
        Some(_) => "application/jwt",
        None => "application/json",
    };
    let build = || {
        let request = if post {
            http.reqwest().post(endpoint).header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
        } else {
            http.reqwest().get(endpoint)
        };
        Ok(request.header(reqwest::header::ACCEPT, accept).header(
            reqwest::header::AUTHORIZATION,
            format!("{scheme} {access_token}"),
        ))
    };
    let method = if post { "POST" } else { "GET" };
    let proof = dpop.map(|key| Proof {
        key,
        access_token: Some(access_token),
    });
    let response = send_with_proof(client.dpop(), ENDPOINT, method, endpoint, proof, build).await?;
    if response.status != 200 {
        return Err(ProviderError::Status {
            endpoint: ENDPOINT,
            status: response.status,
        }
        .into());
    }
    let userinfo = match &client.config.userinfo_signed_response_alg {
        None if response.is_json() => response.json_object(ENDPOINT)?,
        None => return Err(invalid(ENDPOINT, "only JSON userinfo responses are supported").into()),
        Some(alg) => {
            let signed = SignedAnswer {
                endpoint: ENDPOINT,
                media_type: "application/jwt",
                typ: None,
                alg,
            };
            signed.verify(client, ready, &response).await?
        }
    };
    match userinfo.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == subject => Ok(Some(userinfo)),
        _ => Err(AuthError::UserinfoSubject),
    }
}
