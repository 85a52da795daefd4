//! Pushed authorization requests (RFC 9126) in the test provider: the PAR endpoint, and the
//! authorization endpoint taking a `request_uri`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use rocket::form::{Form, ValueField};
use rocket::http::{ContentType, CookieJar, Status};
use rocket::serde::json::Json;
use rocket::{get, post};
use serde_json::{json, Value};

use super::endpoints::{
    authenticated_client, authorize_request, AuthorizationHeader, AuthorizeParams, AuthorizeReply,
    Op, Refusal,
};
use super::state::{insert_bounded, lock, random, unix_now};

/// A pushed request: its client, its parameters (as a query string) and when it expires.
#[derive(Clone)]
pub(super) struct PushedRequest {
    client_id: String,
    query: String,
    expires_at: i64,
}

/// The PAR endpoint's answer.
#[derive(rocket::Responder)]
pub(super) enum ParReply {
    Json((Status, Json<Value>)),
    Raw((Status, (ContentType, String))),
}

#[post("/par", data = "<form>")]
pub(super) fn par(
    op: Op,
    auth: AuthorizationHeader,
    form: Form<HashMap<String, String>>,
) -> ParReply {
    let s = &op.0;
    s.counters.par.fetch_add(1, Ordering::SeqCst);
    let behaviour = s.behaviour();
    if let Some((status, body)) = &behaviour.par_answer {
        let status = Status::from_code(*status).unwrap_or(Status::InternalServerError);
        return match serde_json::from_str::<Value>(body) {
            Ok(json) => ParReply::Json((status, Json(json))),
            Err(_) => ParReply::Raw((status, (ContentType::HTML, body.clone()))),
        };
    }
    let params = form.into_inner();
    let id = params.get("client_id").map(String::as_str);
    let secret = params.get("client_secret").map(String::as_str);
    let Some(client_id) = authenticated_client(s, &auth, id, secret) else {
        let body = json!({ "error": "invalid_client" });
        return ParReply::Json((Status::Unauthorized, Json(body)));
    };
    if params.contains_key("request_uri") {
        let body = json!({ "error": "invalid_request", "error_description": "request_uri" });
        return ParReply::Json((Status::BadRequest, Json(body)));
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.iter().filter(|(k, _)| *k != "client_secret") {
        query.append_pair(name, value);
    }
    let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random(16));
    let pushed = PushedRequest {
        client_id,
        query: query.finish(),
        expires_at: unix_now() + behaviour.par_expires_in,
    };
    insert_bounded(&s.pushed, request_uri.clone(), pushed);
    let body = json!({ "request_uri": request_uri, "expires_in": behaviour.par_expires_in });
    ParReply::Json((Status::Created, Json(body)))
}

/// An authorization request by `request_uri`: used once, before it expires, by its client.
/// Anything else gets the provider's own error page: it cannot know where to send the
/// browser back.
#[get("/authorize?<client_id>&<request_uri>", rank = 1)]
pub(super) fn authorize_pushed(
    op: Op,
    client_id: String,
    request_uri: String,
    jar: &CookieJar<'_>,
) -> Result<AuthorizeReply, Refusal> {
    let pushed = lock(&op.0.pushed).remove(&request_uri);
    let pushed = match pushed {
        Some(p) if p.client_id == client_id && p.expires_at > unix_now() => p,
        Some(_) => return Err((Status::BadRequest, "invalid_request_uri: expired")),
        None => return Err((Status::BadRequest, "invalid_request_uri")),
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(pushed.query.as_bytes())
        .into_owned()
        .collect();
    let fields = pairs
        .iter()
        .map(|(name, value)| ValueField::from((name.as_str(), value.as_str())));
    let params = Form::<AuthorizeParams>::parse_iter(fields)
        .map_err(|_| (Status::BadRequest, "invalid pushed request"))?;
    authorize_request(op, params, Some(pushed.query), jar)
}
