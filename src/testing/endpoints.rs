//! The test provider's endpoints: discovery, key set, authorization (automatic, or with a login
//! page in interactive mode), token (code and refresh grants), userinfo, end session,
//! revocation and dynamic client registration.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rocket::form::Form;
use rocket::http::{ContentType, Cookie, CookieJar, Header, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::content::RawHtml;
use rocket::response::{Redirect, Responder};
use rocket::serde::json::Json;
use rocket::{get, post, routes, FromForm, Route};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::dpop::{DpopHeaders, DpopRefusal};
use super::keys::make_jwt;
use super::state::{
    insert_bounded, lock, random, Account, AuthorizationRequest, FrontChannel, IssuedCode,
    IssuedToken, ProviderState, RegisteredClient,
};
use super::{Behaviour, TokenEndpoint, UserinfoEndpoint};

/// The provider's session cookie (interactive mode).
const SESSION_COOKIE: &str = "dev_op_session";

pub(super) fn routes() -> Vec<Route> {
    routes![
        discovery,
        jwks,
        jwks_moved,
        authorize,
        login,
        token,
        userinfo_get,
        userinfo_post,
        end_session,
        revoke,
        register,
        introspect,
        super::par::par,
        super::par::authorize_pushed
    ]
}

/// The provider's state, unless the provider is "down" (then every endpoint answers 503).
pub(super) struct Op(pub(super) Arc<ProviderState>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Op {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        match req.rocket().state::<Arc<ProviderState>>() {
            Some(state) if !state.behaviour().down => Outcome::Success(Op(state.clone())),
            _ => Outcome::Error((Status::ServiceUnavailable, ())),
        }
    }
}

pub(super) type Refusal = (Status, &'static str);

#[get("/.well-known/openid-configuration")]
fn discovery(op: Op) -> Json<Value> {
    let s = &op.0;
    s.counters.discovery.fetch_add(1, Ordering::SeqCst);
    let behaviour = s.behaviour();
    let base = s.issuer();
    let issuer = behaviour
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| base.to_owned());
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "registration_endpoint": format!("{base}/register"),
        "introspection_endpoint": format!("{base}/introspect"),
        "response_types_supported": [
            "code", "id_token", "id_token token", "code id_token", "code token",
            "code id_token token"
        ],
        "response_modes_supported": ["query", "fragment", "form_post", "jwt", "query.jwt",
                                     "fragment.jwt", "form_post.jwt"],
        "authorization_signing_alg_values_supported": ["RS256", "ES256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": behaviour.advertise_iss_parameter,
    });
    if behaviour.par != super::ParEndpoint::Off {
        document["pushed_authorization_request_endpoint"] = format!("{base}/par").into();
        document["require_pushed_authorization_requests"] =
            (behaviour.par == super::ParEndpoint::Required).into();
    }
    if behaviour.logout_endpoints {
        document["end_session_endpoint"] = format!("{base}/end_session").into();
        document["revocation_endpoint"] = format!("{base}/revoke").into();
    }
    if let Some(tweak) = &behaviour.discovery_document {
        tweak(&mut document);
    }
    Json(document)
}

#[get("/jwks")]
fn jwks(op: Op) -> (Status, Json<Value>) {
    op.0.counters.jwks.fetch_add(1, Ordering::SeqCst);
    let behaviour = op.0.behaviour();
    if behaviour.jwks_status != 200 {
        let status =
            Status::from_code(behaviour.jwks_status).unwrap_or(Status::InternalServerError);
        return (status, Json(json!({ "error": "unavailable" })));
    }
    let mut document = {
        let keys = lock(&op.0.keys);
        json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
    };
    if let Some(tweak) = &behaviour.jwks_document {
        tweak(&mut document);
    }
    (Status::Ok, Json(document))
}

/// The key set at another address (`{issuer}/jwks2`), as the provider's keys are: never
/// changed by [`Behaviour::jwks_document`]; for a provider that moves its `jwks_uri`.
#[get("/jwks2")]
fn jwks_moved(op: Op) -> Json<Value> {
    op.0.counters.jwks.fetch_add(1, Ordering::SeqCst);
    let keys = lock(&op.0.keys);
    Json(json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }))
}

#[derive(FromForm)]
pub(super) struct AuthorizeParams {
    client_id: String,
    redirect_uri: String,
    response_type: String,
    response_mode: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    scope: Option<String>,
    id_token_hint: Option<String>,
}

/// A redirect, the login page, or a `form_post` page.
#[derive(Responder)]
pub(super) enum AuthorizeReply {
    Redirect(Box<Redirect>),
    Page(RawHtml<String>),
}

impl From<FrontChannel> for AuthorizeReply {
    fn from(response: FrontChannel) -> Self {
        match response {
            FrontChannel::Redirect(url) => AuthorizeReply::Redirect(Box::new(Redirect::to(url))),
            FrontChannel::FormPost(html) => AuthorizeReply::Page(RawHtml(html)),
        }
    }
}

/// The words of a response type, sorted, if it is one of OpenID Connect's.
fn response_type_words(response_type: &str) -> Option<Vec<String>> {
    let mut words: Vec<String> = response_type.split(' ').map(str::to_owned).collect();
    words.sort();
    let known = [
        "code",
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ];
    known.contains(&words.join(" ").as_str()).then_some(words)
}

#[get("/authorize?<params..>", rank = 2)]
fn authorize(
    op: Op,
    params: AuthorizeParams,
    uri: &rocket::http::uri::Origin<'_>,
    jar: &CookieJar<'_>,
) -> Result<AuthorizeReply, Refusal> {
    if op.0.behaviour().par == super::ParEndpoint::Required {
        return Err((
            Status::BadRequest,
            "only pushed authorization requests are taken",
        ));
    }
    let query = uri.query().map(|q| q.as_str().to_owned());
    authorize_request(op, params, query, jar)
}

/// An authorization request (from the URL, or pushed), whose query was `query`.
pub(super) fn authorize_request(
    op: Op,
    params: AuthorizeParams,
    query: Option<String>,
    jar: &CookieJar<'_>,
) -> Result<AuthorizeReply, Refusal> {
    let s = &op.0;
    s.counters.authorize.fetch_add(1, Ordering::SeqCst);
    *lock(&s.last_authorize) = query;
    let client = s
        .client(&params.client_id)
        .ok_or((Status::BadRequest, "unknown client"))?;
    if !client.redirect_uris.contains(&params.redirect_uri) {
        return Err((Status::BadRequest, "unregistered redirect_uri"));
    }
    let response_type = response_type_words(&params.response_type)
        .ok_or((Status::BadRequest, "unsupported response_type"))?;
    let default_mode = if response_type == ["code"] {
        "query"
    } else {
        "fragment"
    };
    let response_mode = params
        .response_mode
        .unwrap_or_else(|| default_mode.to_owned());
    match response_mode.as_str() {
        "query" if response_type != ["code"] => {
            return Err((Status::BadRequest, "tokens are never sent in the query"))
        }
        "query" | "fragment" | "form_post" | "query.jwt" | "fragment.jwt" | "form_post.jwt" => {}
        "jwt" => {}
        _ => return Err((Status::BadRequest, "unsupported response_mode")),
    }
    if response_type.iter().any(|w| w == "id_token") && params.nonce.is_none() {
        return Err((Status::BadRequest, "nonce is required for ID tokens"));
    }
    if params.code_challenge.is_some() && params.code_challenge_method.as_deref() != Some("S256") {
        return Err((Status::BadRequest, "only S256 PKCE is supported"));
    }
    let request = AuthorizationRequest {
        client_id: params.client_id,
        redirect_uri: params.redirect_uri,
        response_type,
        response_mode,
        state: params.state,
        nonce: params.nonce,
        code_challenge: params.code_challenge,
        scope: params.scope.unwrap_or_default(),
    };
    let behaviour = s.behaviour();
    let prompt = params.prompt.as_deref().unwrap_or_default();
    let redirect = |response: FrontChannel| Ok(AuthorizeReply::from(response));
    if prompt == "none" {
        if let Some(error) = &behaviour.prompt_none_error {
            return redirect(s.error_response(&request, error));
        }
        // Like providers that require a hint of whose session to check.
        if behaviour.require_id_token_hint {
            let hinted_sub = params
                .id_token_hint
                .as_deref()
                .and_then(|hint| hint.split('.').nth(1))
                .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
                .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
                .and_then(|claims| claims["sub"].as_str().map(str::to_owned));
            match hinted_sub {
                None => return redirect(s.error_response(&request, "invalid_request")),
                Some(sub) if sub != lock(&s.user).0 => {
                    return redirect(s.error_response(&request, "login_required"))
                }
                Some(_) => {}
            }
        }
    }
    if let Some(error) = &behaviour.authorization_error {
        return redirect(s.error_response(&request, error));
    }
    if !s.interactive {
        let account = lock(&s.user).clone();
        return redirect(s.authorization_response(request, account));
    }
    // Interactive: the provider's own session logs in without asking, unless told otherwise.
    let session = jar
        .get_private(SESSION_COOKIE)
        .and_then(|c| lock(&s.sessions).get(c.value()).cloned());
    match (session, prompt) {
        (Some(account), p) if p != "login" && p != "consent" => {
            redirect(s.authorization_response(request, account))
        }
        (None, "none") => redirect(s.error_response(&request, "login_required")),
        _ => {
            let id = random(16);
            insert_bounded(&s.waiting, id.clone(), request);
            Ok(AuthorizeReply::Page(RawHtml(login_page(&id))))
        }
    }
}

fn login_page(request_id: &str) -> String {
    let claims = serde_json::to_string_pretty(&json!({
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "email_verified": true,
        "groups": ["admins"],
    }))
    .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Development provider: log in</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto}}textarea{{width:100%}}
.warning{{background:#fee;border:1px solid #c00;padding:.5em}}</style></head>
<body>
<p class="warning">Development OpenID Provider of rocket_openidconnect. It logs in anybody:
never use it in production.</p>
<h1>Log in</h1>
<form method="post" action="login">
<input type="hidden" name="request" value="{request}">
<p><label>User name (the <code>sub</code> claim)<br>
<input name="username" value="ada" required autofocus></label></p>
<p><label>Further claims (JSON object, in the ID token and userinfo)<br>
<textarea name="claims" rows="8">{claims}</textarea></label></p>
<p><button type="submit">Log in</button></p>
</form>
</body></html>"#,
        request = html_escape::encode_double_quoted_attribute(request_id),
        claims = html_escape::encode_text(&claims),
    )
}

#[derive(FromForm)]
struct LoginForm {
    request: String,
    username: String,
    claims: String,
}

#[post("/login", data = "<form>")]
fn login(op: Op, form: Form<LoginForm>, jar: &CookieJar<'_>) -> Result<AuthorizeReply, Refusal> {
    let s = &op.0;
    let request = lock(&s.waiting).remove(&form.request).ok_or((
        Status::BadRequest,
        "this login request is unknown or was used",
    ))?;
    let claims = match serde_json::from_str::<Value>(&form.claims) {
        Ok(Value::Object(map)) => map,
        _ if form.claims.trim().is_empty() => Map::new(),
        _ => return Err((Status::BadRequest, "the claims are not a JSON object")),
    };
    let username = form.username.trim();
    if username.is_empty() {
        return Err((Status::BadRequest, "the user name is empty"));
    }
    let account: Account = (username.to_owned(), claims);
    let session = random(24);
    insert_bounded(&s.sessions, session.clone(), account.clone());
    jar.add_private(
        Cookie::build((SESSION_COOKIE, session))
            .same_site(SameSite::Lax)
            .http_only(true)
            .expires(None::<rocket::time::OffsetDateTime>),
    );
    Ok(s.authorization_response(request, account).into())
}

#[derive(FromForm)]
struct TokenParams {
    grant_type: String,
    code: Option<String>,
    refresh_token: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// The `Authorization` header, if any.
pub(super) struct AuthorizationHeader(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthorizationHeader {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(AuthorizationHeader(
            req.headers().get_one("Authorization").map(str::to_owned),
        ))
    }
}

/// Which registered client authenticated itself (Basic, or id and secret in the form).
pub(super) fn authenticated_client(
    s: &ProviderState,
    header: &AuthorizationHeader,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Option<String> {
    let decode = |v: &str| {
        percent_encoding::percent_decode_str(&v.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let (id, secret) = match header.0.as_deref().and_then(|h| h.strip_prefix("Basic ")) {
        Some(basic) => {
            let decoded = STANDARD.decode(basic).ok()?;
            let text = String::from_utf8_lossy(&decoded).into_owned();
            let (id, secret) = text.split_once(':')?;
            (decode(id), decode(secret))
        }
        None => (form_id?.to_owned(), form_secret?.to_owned()),
    };
    let client = s.client(&id)?;
    (client.secret == secret).then_some(id)
}

/// A JSON or raw response with a status, or a redirect.
#[derive(Responder)]
enum TokenReply {
    Json((Status, Json<Value>)),
    Raw((Status, (ContentType, String))),
    Redirect(Box<Redirect>),
    /// A DPoP nonce challenge (RFC 9449 8): `use_dpop_nonce` and the nonce.
    #[response(status = 400, content_type = "json")]
    Nonce(String, Header<'static>),
}

impl From<DpopRefusal> for TokenReply {
    fn from(refusal: DpopRefusal) -> Self {
        match refusal {
            DpopRefusal::Invalid => token_error(Status::BadRequest, "invalid_dpop_proof"),
            DpopRefusal::Nonce(nonce) => TokenReply::Nonce(
                json!({ "error": "use_dpop_nonce" }).to_string(),
                Header::new("DPoP-Nonce", nonce),
            ),
        }
    }
}

/// A successful token response, changed as the behaviour says.
fn token_success(mut body: Value, b: &Behaviour) -> TokenReply {
    if let (Some(tweak), Value::Object(map)) = (&b.token_response, &mut body) {
        tweak(map);
    }
    TokenReply::Json((Status::Ok, Json(body)))
}

fn token_error(status: Status, error: &str) -> TokenReply {
    TokenReply::Json((status, Json(json!({ "error": error }))))
}

#[post("/token", data = "<form>")]
async fn token(
    op: Op,
    auth: AuthorizationHeader,
    dpop: DpopHeaders,
    form: Form<TokenParams>,
) -> TokenReply {
    let s = op.0.clone();
    s.counters.token.fetch_add(1, Ordering::SeqCst);
    let behaviour = s.behaviour();
    match &behaviour.token_endpoint {
        TokenEndpoint::Status(code) => {
            let status = Status::from_code(*code).unwrap_or(Status::InternalServerError);
            return TokenReply::Raw((status, (ContentType::HTML, "<h1>oops</h1>".into())));
        }
        TokenEndpoint::NotJson => {
            let body = "<html>not json</html>".to_owned();
            return TokenReply::Raw((Status::Ok, (ContentType::HTML, body)));
        }
        TokenEndpoint::InvalidGrant => return token_error(Status::BadRequest, "invalid_grant"),
        TokenEndpoint::Json(body) => return TokenReply::Json((Status::Ok, Json(body.clone()))),
        TokenEndpoint::Error(code, body) => {
            let status = Status::from_code(*code).unwrap_or(Status::BadRequest);
            return TokenReply::Json((status, Json(body.clone())));
        }
        TokenEndpoint::Redirect(url) => {
            return TokenReply::Redirect(Box::new(Redirect::temporary(url.clone())))
        }
        TokenEndpoint::Delay(d) => rocket::tokio::time::sleep(*d).await,
        TokenEndpoint::Normal => {}
    }
    let client = authenticated_client(
        &s,
        &auth,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    );
    let Some(client_id) = client else {
        return token_error(Status::Unauthorized, "invalid_client");
    };
    let jkt = match s.check_dpop(&dpop, "POST", "/token", None, &behaviour) {
        Ok(jkt) => jkt.filter(|_| behaviour.dpop_binding),
        Err(refusal) => return refusal.into(),
    };
    let jkt = jkt.as_deref();
    match form.grant_type.as_str() {
        "refresh_token" => refresh(&s, (&client_id, jkt), &form, &behaviour),
        "client_credentials" => {
            // The application itself: its own "account", no ID token, no refresh token.
            let account = (client_id.clone(), Map::new());
            let scope = form.scope.as_deref().unwrap_or_default();
            let grant = ((client_id.as_str(), scope), jkt);
            let body = s.token_body(&account, grant, None, false, &behaviour);
            TokenReply::Json((Status::Ok, Json(body)))
        }
        "authorization_code" => code_grant(&s, (&client_id, jkt), &form, &behaviour),
        _ => token_error(Status::BadRequest, "unsupported_grant_type"),
    }
}

fn code_grant(
    s: &ProviderState,
    (client_id, jkt): (&str, Option<&str>),
    form: &TokenParams,
    b: &Behaviour,
) -> TokenReply {
    let issued = form.code.as_deref().and_then(|c| {
        let mut codes = lock(&s.codes);
        if b.reusable_codes {
            codes.get(c).map(|i| IssuedCode {
                request: i.request.clone(),
                account: i.account.clone(),
            })
        } else {
            codes.remove(c)
        }
    });
    let Some(issued) = issued else {
        return token_error(Status::BadRequest, "invalid_grant");
    };
    let request = &issued.request;
    if request.client_id != client_id || form.redirect_uri.as_deref() != Some(&request.redirect_uri)
    {
        return token_error(Status::BadRequest, "invalid_grant");
    }
    if let Some(challenge) = &request.code_challenge {
        let verifier = form.code_verifier.as_deref().unwrap_or_default();
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
            return token_error(Status::BadRequest, "invalid_grant");
        }
    }
    let mut named = issued.account.clone();
    if let Some(sub) = &b.token_endpoint_sub {
        named.0 = sub.clone();
    }
    let id_token = s.id_token(client_id, &named, request.nonce.as_deref(), b);
    let grant = ((client_id, request.scope.as_str()), jkt);
    let body = s.token_body(&issued.account, grant, Some(id_token), b.refresh_token, b);
    token_success(body, b)
}

/// The refresh-token grant.
fn refresh(
    s: &ProviderState,
    (client_id, jkt): (&str, Option<&str>),
    form: &TokenParams,
    b: &Behaviour,
) -> TokenReply {
    s.counters.refresh.fetch_add(1, Ordering::SeqCst);
    if let Some(error) = &b.refresh_error {
        return token_error(Status::BadRequest, error);
    }
    let presented = form.refresh_token.as_deref().unwrap_or_default();
    let account = {
        let mut tokens = lock(&s.refresh_tokens);
        if b.rotate_refresh_token {
            tokens.remove(presented)
        } else {
            tokens.get(presented).cloned()
        }
    };
    let Some(account) = account else {
        return token_error(Status::BadRequest, "invalid_grant");
    };
    let id_token = b.refresh_id_token.then(|| {
        let mut named = account.clone();
        if let Some(sub) = &b.refresh_sub {
            named.0 = sub.clone();
        }
        s.id_token(client_id, &named, None, b)
    });
    let body = s.token_body(
        &account,
        ((client_id, "openid"), jkt),
        id_token,
        b.rotate_refresh_token,
        b,
    );
    token_success(body, b)
}

/// The bearer token of a userinfo request.
struct Bearer(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Bearer {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let token = req
            .headers()
            .get_one("Authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::to_owned);
        Outcome::Success(Bearer(token))
    }
}

/// The access token of a userinfo request and its scheme (`Bearer` or `DPoP`).
struct AccessHeader(Option<(String, String)>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AccessHeader {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let token = req
            .headers()
            .get_one("Authorization")
            .and_then(|h| h.split_once(' '))
            .map(|(scheme, token)| (scheme.to_owned(), token.to_owned()));
        Outcome::Success(AccessHeader(token))
    }
}

/// A userinfo answer: JSON, a raw body, or a challenge (RFC 6750 3.1, RFC 9449 7.1).
#[derive(Responder)]
enum UserinfoReply {
    Json((Status, Json<Value>)),
    Raw((Status, (ContentType, String))),
    #[response(status = 401, content_type = "json")]
    Challenge(String, Header<'static>),
    #[response(status = 401, content_type = "json")]
    Nonce(String, Header<'static>, Header<'static>),
}

fn invalid_token(scheme: &str) -> UserinfoReply {
    let challenge = Header::new(
        "WWW-Authenticate",
        format!(r#"{scheme} error="invalid_token""#),
    );
    UserinfoReply::Challenge(json!({ "error": "invalid_token" }).to_string(), challenge)
}

/// The token's account, if the request presents it as it must: a token bound to a DPoP key
/// with the `DPoP` scheme and a proof of that key, any other with `Bearer`.
fn presented_token(
    s: &ProviderState,
    access: AccessHeader,
    dpop: &DpopHeaders,
    method: &str,
    b: &Behaviour,
) -> Result<IssuedToken, Box<UserinfoReply>> {
    let Some((scheme, token)) = access.0 else {
        return Err(Box::new(invalid_token("Bearer")));
    };
    let Some(issued) = lock(&s.access_tokens).get(&token).cloned() else {
        return Err(Box::new(invalid_token("Bearer")));
    };
    match (&issued.jkt, scheme.as_str()) {
        (None, "Bearer") => Ok(issued),
        (Some(jkt), "DPoP") => match s.check_dpop(dpop, method, "/userinfo", Some(&token), b) {
            Ok(Some(proof_jkt)) if proof_jkt == *jkt => Ok(issued),
            Err(DpopRefusal::Nonce(nonce)) => Err(Box::new(UserinfoReply::Nonce(
                json!({ "error": "use_dpop_nonce" }).to_string(),
                Header::new("WWW-Authenticate", r#"DPoP error="use_dpop_nonce""#),
                Header::new("DPoP-Nonce", nonce),
            ))),
            _ => Err(Box::new(invalid_token("DPoP"))),
        },
        _ => Err(Box::new(invalid_token("Bearer"))),
    }
}

fn userinfo(op: &Op, access: AccessHeader, dpop: DpopHeaders, method: &str) -> UserinfoReply {
    let s = &op.0;
    s.counters.userinfo.fetch_add(1, Ordering::SeqCst);
    let behaviour = s.behaviour();
    match &behaviour.userinfo {
        UserinfoEndpoint::Normal => {}
        UserinfoEndpoint::Body { content_type, body } => {
            let content_type =
                ContentType::parse_flexible(content_type).unwrap_or(ContentType::Plain);
            return UserinfoReply::Raw((Status::Ok, (content_type, body.clone())));
        }
        UserinfoEndpoint::InvalidToken => {
            let challenge = Header::new("WWW-Authenticate", r#"Bearer error="invalid_token""#);
            let body = json!({ "error": "invalid_token" }).to_string();
            return UserinfoReply::Challenge(body, challenge);
        }
    }
    let IssuedToken {
        account: (sub, mut claims),
        ..
    } = match presented_token(s, access, &dpop, method, &behaviour) {
        Ok(issued) => issued,
        Err(reply) => return *reply,
    };
    let sub = behaviour.userinfo_sub.clone().unwrap_or(sub);
    claims.insert("sub".into(), sub.into());
    if behaviour.userinfo_encryption.is_none() && !behaviour.userinfo_signed {
        return UserinfoReply::Json((Status::Ok, Json(Value::Object(claims))));
    }
    let plaintext = if behaviour.userinfo_signed {
        claims.insert("iss".into(), s.issuer().into());
        claims.insert("aud".into(), s.default_client_id.clone().into());
        make_jwt(&s.current_key(), &behaviour.signing, Map::new(), &claims)
    } else {
        Value::Object(claims).to_string()
    };
    let body = match &behaviour.userinfo_encryption {
        Some(encrypt) => encrypt.apply(plaintext.as_bytes()),
        None => plaintext,
    };
    UserinfoReply::Raw((Status::Ok, (ContentType::new("application", "jwt"), body)))
}

#[get("/userinfo")]
fn userinfo_get(op: Op, access: AccessHeader, dpop: DpopHeaders) -> UserinfoReply {
    userinfo(&op, access, dpop, "GET")
}

#[post("/userinfo")]
fn userinfo_post(op: Op, access: AccessHeader, dpop: DpopHeaders) -> UserinfoReply {
    userinfo(&op, access, dpop, "POST")
}

#[derive(FromForm)]
struct EndSessionParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

#[get("/end_session?<params..>")]
fn end_session(op: Op, params: EndSessionParams, jar: &CookieJar<'_>) -> Result<Redirect, Refusal> {
    let s = &op.0;
    s.counters.end_session.fetch_add(1, Ordering::SeqCst);
    if params.id_token_hint.is_none() {
        return Err((Status::BadRequest, "id_token_hint is required"));
    }
    let client = params
        .client_id
        .as_deref()
        .and_then(|id| s.client(id))
        .ok_or((Status::BadRequest, "unknown client"))?;
    let uri = params
        .post_logout_redirect_uri
        .ok_or((Status::BadRequest, "post_logout_redirect_uri is required"))?;
    if !client.post_logout_redirect_uris.contains(&uri) {
        return Err((Status::BadRequest, "unregistered post_logout_redirect_uri"));
    }
    if let Some(cookie) = jar.get_private(SESSION_COOKIE) {
        lock(&s.sessions).remove(cookie.value());
        jar.remove_private(SESSION_COOKIE);
    }
    let mut target = url::Url::parse(&uri).map_err(|_| (Status::BadRequest, "bad URI"))?;
    if let Some(state) = s.behaviour().logout_state.or(params.state) {
        target.query_pairs_mut().append_pair("state", &state);
    }
    Ok(Redirect::to(String::from(target)))
}

#[derive(FromForm)]
struct RevokeParams {
    token: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[post("/revoke", data = "<form>")]
fn revoke(op: Op, auth: AuthorizationHeader, form: Form<RevokeParams>) -> Status {
    let s = &op.0;
    s.counters.revocation.fetch_add(1, Ordering::SeqCst);
    let client = authenticated_client(
        s,
        &auth,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    );
    if client.is_none() {
        return Status::Unauthorized;
    }
    let status = s.behaviour().revocation_status;
    if status == 200 {
        lock(&s.revoked).push(form.token.clone());
        lock(&s.access_tokens).remove(&form.token);
        lock(&s.refresh_tokens).remove(&form.token);
    }
    Status::from_code(status).unwrap_or(Status::InternalServerError)
}

/// Dynamic client registration (OpenID Connect Dynamic Client Registration 1.0).
#[post("/register", data = "<metadata>")]
fn register(op: Op, bearer: Bearer, metadata: Json<Value>) -> (Status, Json<Value>) {
    let s = &op.0;
    s.counters.registration.fetch_add(1, Ordering::SeqCst);
    let behaviour = s.behaviour();
    if behaviour.initial_access_token.is_some() && bearer.0 != behaviour.initial_access_token {
        let body = json!({"error": "invalid_token"});
        return (Status::Unauthorized, Json(body));
    }
    if behaviour.registration_status != 201 {
        let status = Status::from_code(behaviour.registration_status).unwrap_or(Status::BadRequest);
        return (status, Json(json!({"error": "invalid_client_metadata"})));
    }
    let list = |name: &str| -> Option<Vec<String>> {
        match metadata.get(name) {
            None => Some(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(_) => None,
        }
    };
    let (Some(redirect_uris), Some(post_logout_redirect_uris)) =
        (list("redirect_uris"), list("post_logout_redirect_uris"))
    else {
        return invalid_metadata("redirect_uris and post_logout_redirect_uris must be arrays");
    };
    if redirect_uris.is_empty() || redirect_uris.iter().any(|u| url::Url::parse(u).is_err()) {
        return invalid_metadata("redirect_uris must be a non-empty array of URLs");
    }
    *lock(&s.last_registration) = Some(metadata.0.clone());
    let client_id = random(12);
    let client = RegisteredClient {
        secret: random(24),
        redirect_uris,
        post_logout_redirect_uris,
    };
    let mut answer = match metadata.into_inner() {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    answer.insert("client_id".into(), client_id.clone().into());
    answer.insert("client_secret".into(), client.secret.clone().into());
    answer.insert(
        "client_id_issued_at".into(),
        super::state::unix_now().into(),
    );
    answer.insert("client_secret_expires_at".into(), 0.into());
    lock(&s.clients).insert(client_id, client);
    (Status::Created, Json(Value::Object(answer)))
}

fn invalid_metadata(description: &str) -> (Status, Json<Value>) {
    let body = json!({"error": "invalid_client_metadata", "error_description": description});
    (Status::BadRequest, Json(body))
}

#[derive(FromForm)]
struct IntrospectParams {
    token: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Token introspection (RFC 7662), for the registered clients.
#[post("/introspect", data = "<form>")]
fn introspect(
    op: Op,
    auth: AuthorizationHeader,
    accept: AcceptsIntrospectionJwt,
    form: Form<IntrospectParams>,
) -> (Status, (ContentType, String)) {
    let (status, Json(answer)) = introspection_answer(&op, &auth, &form);
    let s = &op.0;
    let behaviour = s.behaviour();
    if status != Status::Ok || !behaviour.introspection_jwt || !accept.0 {
        return (status, (ContentType::JSON, answer.to_string()));
    }
    let client = authenticated_client(
        s,
        &auth,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    )
    .unwrap_or_default();
    let mut claims = Map::new();
    claims.insert("iss".into(), s.issuer().into());
    claims.insert("aud".into(), client.into());
    claims.insert("iat".into(), super::state::unix_now().into());
    claims.insert("token_introspection".into(), answer);
    let mut header = Map::new();
    header.insert("typ".into(), "token-introspection+jwt".into());
    if let Some(tweak) = &behaviour.introspection_jwt_claims {
        claims.insert("header".into(), Value::Object(header));
        tweak(&mut claims);
        header = match claims.remove("header") {
            Some(Value::Object(header)) => header,
            _ => Map::new(),
        };
    }
    let jwt = super::keys::make_jwt(&s.current_key(), &behaviour.signing, header, &claims);
    (
        Status::Ok,
        (
            ContentType::new("application", "token-introspection+jwt"),
            jwt,
        ),
    )
}

/// Whether a request accepts `application/token-introspection+jwt`.
struct AcceptsIntrospectionJwt(bool);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AcceptsIntrospectionJwt {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        // Only when it is all the request accepts (as oidc-provider: offered JSON as well, it
        // answers JSON).
        let mut accepted = req.headers().get("Accept").flat_map(|v| v.split(','));
        let accepts = accepted
            .next()
            .is_some_and(|first| first.trim() == "application/token-introspection+jwt")
            && accepted.next().is_none();
        Outcome::Success(AcceptsIntrospectionJwt(accepts))
    }
}

/// The plain introspection answer (RFC 7662).
fn introspection_answer(
    op: &Op,
    auth: &AuthorizationHeader,
    form: &IntrospectParams,
) -> (Status, Json<Value>) {
    let s = &op.0;
    s.counters.introspection.fetch_add(1, Ordering::SeqCst);
    if s.behaviour().introspection_down {
        return (
            Status::ServiceUnavailable,
            Json(json!({"error": "temporarily_unavailable"})),
        );
    }
    let client = authenticated_client(
        s,
        auth,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    );
    if client.is_none() {
        return (
            Status::Unauthorized,
            Json(json!({"error": "invalid_client"})),
        );
    }
    let issued = lock(&s.access_tokens).get(&form.token).cloned();
    let now = super::state::unix_now();
    match issued {
        Some(token) if token.exp > now => {
            let mut answer = json!({
                "active": true,
                "iss": s.issuer(),
                "sub": token.account.0,
                "client_id": token.client_id,
                "aud": token.client_id,
                "scope": token.scope,
                "exp": token.exp,
                "token_type": "Bearer",
            });
            if let Some(jkt) = token.jkt {
                answer["token_type"] = "DPoP".into();
                answer["cnf"] = json!({ "jkt": jkt });
            }
            (Status::Ok, Json(answer))
        }
        _ => (Status::Ok, Json(json!({"active": false}))),
    }
}
