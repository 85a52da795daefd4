//! The userinfo endpoint: the user's claims, for the subject of the ID token only.

use serde_json::{Map, Value};

use crate::client::dpop::{send_with_proof, Proof};
use crate::client::http::{invalid, HttpResponse};
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::config::UserinfoMethod;
use crate::error::{AuthError, ProviderError};
use crate::protocol::dpop::DpopKey;
use crate::protocol::jws::{parse_alg, verify_jws};
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
        Some(alg) => signed_userinfo(client, ready, &response, alg).await?,
    };
    match userinfo.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == subject => Ok(Some(userinfo)),
        _ => Err(AuthError::UserinfoSubject),
    }
}

/// A signed userinfo answer (OpenID Connect Core 5.3.2, `application/jwt`): signed with `alg`
/// by the provider's key, from its issuer, for this client. A plain JSON answer is refused:
/// signing was asked for.
async fn signed_userinfo(
    client: &ProviderClient,
    ready: &ReadyProvider,
    response: &HttpResponse,
    alg: &str,
) -> Result<Map<String, Value>, AuthError> {
    let media = response
        .content_type
        .as_deref()
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/jwt") {
        return Err(invalid(
            ENDPOINT,
            "the userinfo answer is not signed (application/jwt), as userinfo_signed_response_alg asks",
        )
        .into());
    }
    let raw = std::str::from_utf8(&response.body)
        .map_err(|_| invalid(ENDPOINT, "the signed userinfo is not text"))?
        .trim();
    let algs: Vec<_> = parse_alg(alg).into_iter().collect();
    let check = |keys: &_| verify_jws(raw, keys, &algs);
    let (_, claims) = ready
        .keys
        .check_with(&client.http, check)
        .await?
        .map_err(|_| {
            invalid(
                ENDPOINT,
                "the signed userinfo does not verify with the provider's keys and algorithm",
            )
        })?;
    let claims: Map<String, Value> = claims.into_iter().collect();
    let issuer_ok = claims
        .get("iss")
        .and_then(Value::as_str)
        .is_some_and(|iss| client.issuer_rule(ready).accepts(iss, &claims));
    if !issuer_ok {
        return Err(invalid(ENDPOINT, "the signed userinfo is from another issuer").into());
    }
    let client_id = ready.credentials.client_id.as_str();
    let for_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !for_us {
        return Err(invalid(ENDPOINT, "the signed userinfo is for another client").into());
    }
    Ok(claims)
}
