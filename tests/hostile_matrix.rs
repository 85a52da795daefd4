//! The hostile-provider matrix (section 4 of the relying-party anchors and security reference),
//! rows A (authorization response), T (token endpoint), I (ID token), U (userinfo), D (discovery
//! and key set), R (refresh) and S (session, cookies, return URL): one test per row against the
//! in-process provider, named after its row. The positive controls of 4.10 are the
//! `*_positive_*` tests (and A19, A21, A22, R5, R6, which expect success too).
//!
//! Every refusal checks the row's verdict and status, that no session was created and `/` still
//! asks to log in (N1), that the pending login was consumed when the state was valid (N2), that
//! the provider was not called further where the row says so (N3), and that no code, token or
//! secret is in the answer or in this library's log records (N4).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::figment::Figment;
use rocket::http::{Accept, Cookie, Header, SameSite, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket_openidconnect::testing::{
    Alg, IssParameter, LoginAttempt, Signing, TestProvider, TokenEndpoint, UserinfoEndpoint,
};
use rocket_openidconnect::{OidcConfig, OpenIdConnect};
use serde_json::{json, Map, Value};
use support::{assert_logged_out, assert_rejected, client_with};

/// Name prefix of the pending-login cookies (on plain http).
const PENDING: &str = "oidc_session_login.";
/// Name prefix of the session cookies (on plain http).
const SESSION: &str = "oidc_session.";

// ---------------------------------------------------------------------------------------------
// The log capture (N4 for the logs).

/// Installs the capturing logger, once per test binary (`log` takes a single logger). Every
/// test calls this before it starts anything, so it is installed before Rocket could install
/// its own.
fn capture_logs() {
    support::logs::capture();
}

/// N4 for the logs: no record of this library (of any test of this binary so far) holds a JWT,
/// and none holds a value this test saw, the client secret of `provider` or any code or token
/// `provider` issued (the refresh tokens and opaque access tokens of its token responses
/// included, which the browser never sees). Records of tests running in parallel are mixed in,
/// but codes and tokens are random per test, so checking for this test's values is sound.
fn assert_logs_clean(provider: Option<&TestProvider>, seen: &[String]) {
    let records = support::logs::records();
    let secrets = with_issued(provider, seen);
    for record in &records {
        support::assert_no_secret_in("the log", record, &secrets);
    }
}

/// `seen`, and if there is a provider, its client secret and every code and token it issued.
fn with_issued(provider: Option<&TestProvider>, seen: &[String]) -> Vec<String> {
    let mut secrets = seen.to_vec();
    if let Some(provider) = provider {
        secrets.extend(support::secrets_of_provider(provider));
    }
    secrets
}

// ---------------------------------------------------------------------------------------------
// Provider, application and browser helpers.

/// Starts a test provider (RS256), after the log capture.
async fn start() -> TestProvider {
    capture_logs();
    TestProvider::start().await
}

/// Starts a test provider signing with `alg`, after the log capture.
async fn start_with(alg: Alg) -> TestProvider {
    capture_logs();
    TestProvider::start_with(alg).await
}

/// The example app's configuration for `provider`, with `extra` keys.
fn settings(provider: &TestProvider, extra: &[(&str, Value)]) -> Figment {
    let mut figment = provider.app_figment();
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    figment
}

/// The example app for `provider` with `extra` configuration, as a cookie-keeping browser.
async fn app(provider: &TestProvider, extra: &[(&str, Value)]) -> Client {
    client_with(settings(provider, extra)).await
}

/// The parameters of a provider's response: the query, the fragment or the `form_post` body
/// (see `TestProvider::authorize`); also the query of any URL.
fn response_params(response: &str) -> Vec<(String, String)> {
    let encoded = match response
        .strip_prefix("POST ")
        .and_then(|r| r.split_once('\n'))
    {
        Some((_, body)) => body.to_owned(),
        None => match response.split_once('#') {
            Some((_, fragment)) => fragment.to_owned(),
            None => url::Url::parse(response)
                .ok()
                .and_then(|u| u.query().map(str::to_owned))
                .unwrap_or_default(),
        },
    };
    url::form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect()
}

fn param(response: &str, name: &str) -> Option<String> {
    response_params(response)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The codes and tokens of a provider's response: what the browser saw.
fn secrets_of(response: &str) -> Vec<String> {
    response_params(response)
        .into_iter()
        .filter(|(k, _)| matches!(k.as_str(), "code" | "access_token" | "id_token"))
        .map(|(_, v)| v)
        .collect()
}

/// The URL with the query parameter `name` replaced by `value` (or removed when `None`).
fn replace_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut query = parsed.query_pairs_mut();
        query.clear();
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    parsed.into()
}

/// The path and query of `url`: what the local client requests.
fn local(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("an absolute URL");
    match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    }
}

/// `value`, form-urlencoded.
fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn location(response: &LocalResponse<'_>) -> String {
    response
        .headers()
        .get_one("Location")
        .unwrap_or_default()
        .to_owned()
}

fn set_cookies(response: &LocalResponse<'_>) -> Vec<String> {
    response
        .headers()
        .get("Set-Cookie")
        .map(str::to_owned)
        .collect()
}

/// Starts a login at `path` like a browser navigation and returns the provider's response.
async fn provider_response(provider: &TestProvider, client: &Client, path: &str) -> String {
    let navigation = client
        .get(path.to_owned())
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(navigation.status(), Status::SeeOther, "no login at {path}");
    let authorize = location(&navigation);
    assert!(authorize.starts_with(provider.issuer()), "{authorize}");
    provider.authorize(&authorize).await
}

/// A whole login at `/` like `TestProvider::login`, and what the browser saw on the way.
async fn login(provider: &TestProvider, client: &Client) -> (LoginAttempt, Vec<String>) {
    let response = provider_response(provider, client, "/").await;
    let seen = secrets_of(&response);
    (provider.deliver(client, &response).await, seen)
}

/// A login at `/` that must succeed: a session and a 303 back to `/`.
async fn logged_in(provider: &TestProvider, client: &Client) -> Vec<String> {
    let (attempt, seen) = login(provider, client).await;
    assert_eq!(attempt.status, Status::SeeOther, "{}", attempt.body);
    assert_eq!(attempt.location.as_deref(), Some("/"));
    assert!(attempt.session_created);
    seen
}

/// N4 for an answer: neither its body nor its `Location` holds a value the test saw.
fn assert_clean(body: &str, location: Option<&str>, seen: &[String]) {
    let location = location.unwrap_or_default();
    for value in seen.iter().filter(|v| v.len() >= 8) {
        assert!(
            !body.contains(value.as_str()),
            "a code or token in the page: {body}"
        );
        assert!(
            !location.contains(value.as_str()),
            "a code or token in the Location: {location}"
        );
    }
}

/// N1, N4, N5: refused with `status`, no session (and `/` still asks to log in), nothing
/// secret (seen by the browser, or issued by the provider) in the answer or the logs.
async fn assert_refused(
    provider: &TestProvider,
    client: &Client,
    attempt: &LoginAttempt,
    status: u16,
    seen: &[String],
) {
    assert_rejected(attempt, status, provider);
    let secrets = with_issued(Some(provider), seen);
    assert_clean(&attempt.body, attempt.location.as_deref(), &secrets);
    assert_logged_out(client, provider).await;
    assert_logs_clean(Some(provider), seen);
}

/// N2: the pending login of `response` (by its state) is gone from the browser.
fn assert_consumed(client: &Client, response: &str) {
    let state = param(response, "state").expect("a state");
    let name = format!("{PENDING}{state}");
    assert!(
        client.cookies().get(&name).is_none(),
        "the pending login {name} was not consumed"
    );
}

/// A login at `/` that must be refused with `status` (N1, N2, N4, N5).
async fn expect_refusal(provider: &TestProvider, client: &Client, status: u16) -> LoginAttempt {
    let response = provider_response(provider, client, "/").await;
    let seen = secrets_of(&response);
    let attempt = provider.deliver(client, &response).await;
    assert_consumed(client, &response);
    assert_refused(provider, client, &attempt, status, &seen).await;
    attempt
}

/// A provider misbehaving as `setup` says, the example app, and a login that must be refused
/// with `status`.
async fn refused(setup: impl FnOnce(&TestProvider), status: u16) -> (TestProvider, LoginAttempt) {
    let provider = start().await;
    setup(&provider);
    let client = app(&provider, &[]).await;
    let attempt = expect_refusal(&provider, &client, status).await;
    (provider, attempt)
}

/// Like [`refused`] with `response_type` (implicit or hybrid, in its default response mode):
/// refused with 400.
async fn front_refused(
    response_type: &str,
    setup: impl FnOnce(&TestProvider),
) -> (TestProvider, LoginAttempt) {
    let provider = start().await;
    setup(&provider);
    let extra = [("oidc.providers.default.response_type", json!(response_type))];
    let client = app(&provider, &extra).await;
    let attempt = expect_refusal(&provider, &client, 400).await;
    (provider, attempt)
}

/// A change of a JSON object (claims, header, token response).
type Tweak = Arc<dyn Fn(&mut Map<String, Value>) + Send + Sync>;

fn tweak(change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static) -> Tweak {
    Arc::new(change)
}

/// Setup: the provider's ID tokens are changed by `change`.
fn claims(
    change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static,
) -> impl FnOnce(&TestProvider) {
    let change = tweak(change);
    move |p: &TestProvider| p.configure(|b| b.id_token_claims = Some(change))
}

fn tweak_claims(
    provider: &TestProvider,
    change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static,
) {
    let change = tweak(change);
    provider.configure(|b| b.id_token_claims = Some(change));
}

fn tweak_header(
    provider: &TestProvider,
    change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static,
) {
    let change = tweak(change);
    provider.configure(|b| b.id_token_header = Some(change));
}

fn tweak_token_response(
    provider: &TestProvider,
    change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static,
) {
    let change = tweak(change);
    provider.configure(|b| b.token_response = Some(change));
}

/// A login whose ID token `change` spoils: refused with 400 `invalid_id_token`, and userinfo is
/// never called (N3). Returns the page.
async fn bad_id_token(change: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static) -> String {
    let (provider, attempt) = refused(claims(change), 400).await;
    assert!(
        attempt.body.contains("invalid_id_token"),
        "{}",
        attempt.body
    );
    assert_eq!(provider.hits().userinfo, 0, "userinfo after a bad ID token");
    attempt.body
}

/// Each of `changes` of the ID token is refused like in [`bad_id_token`] (one provider, one
/// browser).
async fn bad_id_tokens(changes: impl IntoIterator<Item = Tweak>) {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    for (case, change) in changes.into_iter().enumerate() {
        provider.configure(|b| b.id_token_claims = Some(change));
        let attempt = expect_refusal(&provider, &client, 400).await;
        assert!(
            attempt.body.contains("invalid_id_token"),
            "case {case}: {}",
            attempt.body
        );
    }
    assert_eq!(provider.hits().userinfo, 0, "userinfo after a bad ID token");
}

/// A response of the application, read in full (for requests `TestProvider` does not make).
struct Reply {
    status: Status,
    location: Option<String>,
    set_cookies: Vec<String>,
    session_created: bool,
    body: String,
}

/// Delivers the provider's `response` to the callback with `cookie` added (encrypted by the
/// app's key when `private`), like a browser whose cookie was changed.
async fn callback_with(
    client: &Client,
    response: &str,
    cookie: Cookie<'static>,
    private: bool,
) -> Reply {
    let request = client.get(local(response)).header(Accept::HTML);
    let request = if private {
        request.private_cookie(cookie)
    } else {
        request.cookie(cookie)
    };
    read_reply(request.dispatch().await).await
}

async fn read_reply(response: LocalResponse<'_>) -> Reply {
    let status = response.status();
    let location = response.headers().get_one("Location").map(str::to_owned);
    let cookies = set_cookies(&response);
    let session_created = response
        .cookies()
        .iter()
        .any(|c| c.name().contains(SESSION) && !c.value().is_empty());
    let body = response.into_string().await.unwrap_or_default();
    Reply {
        status,
        location,
        set_cookies: cookies,
        session_created,
        body,
    }
}

/// `assert_rejected` and `assert_clean` for a raw reply.
fn assert_rejected_reply(reply: &Reply, status: u16, provider: &TestProvider, seen: &[String]) {
    assert_eq!(reply.status.code, status, "body: {}", reply.body);
    assert!(!reply.session_created, "a session was created");
    assert!(
        !reply.body.contains(provider.client_secret()),
        "the secret leaked"
    );
    assert!(
        !reply.body.contains("eyJ"),
        "a token leaked: {}",
        reply.body
    );
    let secrets = with_issued(Some(provider), seen);
    assert_clean(&reply.body, reply.location.as_deref(), &secrets);
}

/// An API request to `path`: its status and JSON body.
async fn page(client: &Client, path: &str) -> (Status, Value) {
    support::json_page(client, path, Accept::JSON).await
}

/// A forced refresh of the access token (the example app's `/token?force=true`).
async fn forced_refresh(client: &Client) -> Reply {
    let response = client
        .get("/token?force=true")
        .header(Accept::JSON)
        .dispatch()
        .await;
    read_reply(response).await
}

/// The cookies of `client` whose names start with `prefix`.
fn cookies_named(client: &Client, prefix: &str) -> Vec<Cookie<'static>> {
    client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with(prefix))
        .map(|c| c.clone().into_owned())
        .collect()
}

fn pending_logins(client: &Client) -> usize {
    cookies_named(client, PENDING).len()
}

fn value_of(cookies: &[Cookie<'static>], name: &str) -> String {
    cookies
        .iter()
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

/// `cookies` with the value of the one named `name` replaced.
fn replaced(cookies: &[Cookie<'static>], name: &str, value: &str) -> Vec<Cookie<'static>> {
    cookies
        .iter()
        .map(|c| {
            if c.name() == name {
                Cookie::new(name.to_owned(), value.to_owned())
            } else {
                c.clone()
            }
        })
        .collect()
}

/// `value` with its middle character changed.
fn flipped(value: &str) -> String {
    let mut bytes = value.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// The status of `/` as an API request (200 with a session, 401 without) sent by `probe` with
/// exactly these session cookies. `probe` is a client of the same app that never logs in, so
/// it holds no session cookie of its own.
async fn status_with(probe: &Client, cookies: Vec<Cookie<'static>>) -> Status {
    probe
        .get("/")
        .header(Accept::JSON)
        .cookies(cookies)
        .dispatch()
        .await
        .status()
}

/// The configuration error of the example app's configuration for `provider` with
/// `key = value` in its table.
fn config_error(provider: &TestProvider, key: &str, value: Value) -> String {
    let figment = provider
        .app_figment()
        .merge((format!("oidc.providers.default.{key}"), value));
    OidcConfig::from_figment(&figment)
        .expect_err("the configuration is refused")
        .to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn sleep(seconds: f64) {
    rocket::tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
}

// ---------------------------------------------------------------------------------------------
// 4.1 Authorization response (front channel).

#[rocket::async_test]
async fn a1_callback_without_state() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let response = provider_response(&provider, &client, "/").await;
    let seen = secrets_of(&response);
    let attempt = provider
        .deliver(&client, &replace_param(&response, "state", None))
        .await;
    assert_refused(&provider, &client, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("invalid_state"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0, "the code was used");
}

#[rocket::async_test]
async fn a2_state_of_a_login_in_another_browser() {
    let provider = start().await;
    let figment = settings(&provider, &[]);
    let victim = client_with(figment.clone()).await;
    let attacker = client_with(figment).await;
    // The attacker's own login, delivered to the victim's browser.
    let response = provider_response(&provider, &attacker, "/").await;
    let seen = secrets_of(&response);
    let attempt = provider.deliver(&victim, &response).await;
    assert_refused(&provider, &victim, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("invalid_state"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0, "the code was used");
}

#[rocket::async_test]
async fn a3_state_replayed_after_a_successful_login() {
    let provider = start().await;
    // A broken provider that would redeem the code twice: the refusal must be the RP's own.
    provider.configure(|b| b.reusable_codes = true);
    let client = app(&provider, &[]).await;
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = location(&navigation);
    let pending = cookies_named(&client, PENDING);
    assert_eq!(pending.len(), 1);
    let response = provider.authorize(&authorize).await;
    let mut seen = secrets_of(&response);
    let first = provider.deliver(&client, &response).await;
    assert_eq!(first.status, Status::SeeOther, "{}", first.body);
    let (status, before) = page(&client, "/").await;
    assert_eq!(status, Status::Ok);
    seen.push(
        before["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );

    // The same response again in the same browser: refused, the session unchanged.
    let again = provider.deliver(&client, &response).await;
    assert_rejected(&again, 400, &provider);
    assert!(again.body.contains("invalid_state"), "{}", again.body);
    let secrets = with_issued(Some(&provider), &seen);
    assert_clean(&again.body, again.location.as_deref(), &secrets);
    assert_eq!(page(&client, "/").await, (Status::Ok, before));

    // With a copy of the pending-login cookie: refused although the cookie is genuine.
    client.get("/logout").dispatch().await;
    let replay = client
        .get(local(&response))
        .header(Accept::HTML)
        .cookies(pending)
        .dispatch()
        .await;
    let replay = read_reply(replay).await;
    assert_rejected_reply(&replay, 400, &provider, &seen);
    assert!(replay.body.contains("already used"), "{}", replay.body);
    assert_eq!(provider.hits().token, 1, "the code was sent twice");
    assert_logged_out(&client, &provider).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn a4_callback_without_a_pending_login_for_its_state() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    // Unsolicited: no login is pending in this browser at all.
    let forged = format!(
        "http://127.0.0.1:8000/redirect_uri?code=a-forged-code&state={}&iss={}",
        "A".repeat(43),
        enc(provider.issuer())
    );
    let attempt = provider.deliver(&client, &forged).await;
    assert_refused(&provider, &client, &attempt, 400, &[]).await;
    assert!(attempt.body.contains("invalid_state"), "{}", attempt.body);
    // A login is pending, but not for this state (a forged one, or not even one of ours).
    for state in ["A".repeat(43), "<x>".to_owned()] {
        let response = provider_response(&provider, &client, "/").await;
        let seen = secrets_of(&response);
        let forged = replace_param(&response, "state", Some(state.as_str()));
        let attempt = provider.deliver(&client, &forged).await;
        assert_refused(&provider, &client, &attempt, 400, &seen).await;
        assert!(
            attempt.body.contains("invalid_state"),
            "{state}: {}",
            attempt.body
        );
    }
    assert_eq!(provider.hits().token, 0, "a code was used");
}

#[rocket::async_test]
async fn a5_pending_login_older_than_the_timeout() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let response = provider_response(&provider, &client, "/").await;
    let seen = secrets_of(&response);
    let state = param(&response, "state").unwrap();
    let name = format!("{PENDING}{state}");
    // The pending login as the application sealed it, made an hour old (login_timeout: 600 s)
    // and sealed again with the application's key.
    let opened = client
        .cookies()
        .get_private(&name)
        .expect("the pending login");
    let mut record: Value = serde_json::from_str(opened.value()).unwrap();
    assert!(record["created_at"].is_i64(), "{record}");
    record["created_at"] = json!(now() - 3600);
    let old = Cookie::new(name, record.to_string());
    let reply = callback_with(&client, &response, old, true).await;
    assert_rejected_reply(&reply, 400, &provider, &seen);
    assert!(reply.body.contains("invalid_state"), "{}", reply.body);
    assert!(reply.body.contains("start again"), "{}", reply.body);
    assert_eq!(provider.hits().token, 0, "the code was used");
    assert_logged_out(&client, &provider).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn a6_tampered_pending_login_cookie() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let cookie_of = |response: &str| format!("{PENDING}{}", param(response, "state").unwrap());

    // A bit flipped in the encrypted cookie.
    let response = provider_response(&provider, &client, "/").await;
    let mut seen = secrets_of(&response);
    let name = cookie_of(&response);
    let sealed = client.cookies().get(&name).unwrap().value().to_owned();
    let tampered = Cookie::new(name, flipped(&sealed));
    let reply = callback_with(&client, &response, tampered, false).await;
    assert_rejected_reply(&reply, 400, &provider, &seen);
    assert!(reply.body.contains("invalid_state"), "{}", reply.body);

    // A genuine pending-login cookie under the name of another login's state.
    let first = provider_response(&provider, &client, "/").await;
    let second = provider_response(&provider, &client, "/").await;
    seen.extend(secrets_of(&first));
    seen.extend(secrets_of(&second));
    let first_sealed = client
        .cookies()
        .get(&cookie_of(&first))
        .unwrap()
        .value()
        .to_owned();
    let moved = Cookie::new(cookie_of(&second), first_sealed);
    let reply = callback_with(&client, &second, moved, false).await;
    assert_rejected_reply(&reply, 400, &provider, &seen);
    assert!(reply.body.contains("invalid_state"), "{}", reply.body);
    assert_eq!(provider.hits().token, 0, "a code was used");
    assert_logged_out(&client, &provider).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn a7_duplicated_state_or_code() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    for name in ["state", "code"] {
        let response = provider_response(&provider, &client, "/").await;
        let seen = secrets_of(&response);
        let value = param(&response, name).unwrap();
        let duplicated = format!("{response}&{name}={}", enc(&value));
        let attempt = provider.deliver(&client, &duplicated).await;
        assert_refused(&provider, &client, &attempt, 400, &seen).await;
        assert!(attempt.body.contains("more than once"), "{}", attempt.body);
    }
    assert_eq!(provider.hits().token, 0, "a code was used");
}

#[rocket::async_test]
async fn a8_iss_parameter_of_another_issuer() {
    let (provider, attempt) = refused(
        |p| p.configure(|b| b.iss_parameter = IssParameter::Value("https://evil.example".into())),
        400,
    )
    .await;
    assert!(attempt.body.contains("issuer_mismatch"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0, "the code was used");
}

#[rocket::async_test]
async fn a9_iss_parameter_missing_although_advertised() {
    let (provider, attempt) = refused(
        |p| p.configure(|b| b.iss_parameter = IssParameter::Omit),
        400,
    )
    .await;
    assert!(attempt.body.contains("issuer_mismatch"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0, "the code was used");
    // Not over-strict: a provider that does not advertise it may leave `iss` out.
    let provider = start().await;
    provider.configure(|b| {
        b.iss_parameter = IssParameter::Omit;
        b.advertise_iss_parameter = false;
    });
    let client = app(&provider, &[]).await;
    let seen = logged_in(&provider, &client).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn a10_mix_up_response_of_another_provider() {
    let default = start().await;
    let partner = start().await;
    let extra = [("oidc.providers.partner", partner.provider_table())];
    let client = app(&default, &extra).await;
    // The victim's login goes to `default`; the response comes from `partner` (the attacker's
    // code and issuer) with the victim's state.
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = location(&navigation);
    assert!(authorize.starts_with(default.issuer()), "{authorize}");
    let at_partner = authorize.replace(default.issuer(), partner.issuer());
    let response = partner.authorize(&at_partner).await;
    let seen = secrets_of(&response);
    let attempt = default.deliver(&client, &response).await;
    assert_refused(&default, &client, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("issuer_mismatch"), "{}", attempt.body);
    // The code went to no token endpoint, with nobody's credentials.
    assert_eq!(default.hits().token + partner.hits().token, 0);
}

#[rocket::async_test]
async fn a11_iss_parameter_differing_by_a_trailing_slash_or_case() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let variants = [
        format!("{}/", provider.issuer()),
        provider.issuer().to_uppercase(),
    ];
    for iss in variants {
        provider.configure(|b| b.iss_parameter = IssParameter::Value(iss));
        let attempt = expect_refusal(&provider, &client, 400).await;
        assert!(attempt.body.contains("issuer_mismatch"), "{}", attempt.body);
    }
    assert_eq!(provider.hits().token, 0, "a code was used");
}

#[rocket::async_test]
async fn a12_error_response_is_shown_escaped_and_ends_the_login() {
    // N2 (the pending login is consumed) is checked by `refused`.
    let (provider, attempt) = refused(
        |p| p.configure(|b| b.authorization_error = Some("access_denied".into())),
        400,
    )
    .await;
    let body = &attempt.body;
    assert!(body.contains("access_denied"), "{body}");
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.contains("&lt;script&gt;"), "{body}");
    assert_eq!(provider.hits().token, 0);
}

#[rocket::async_test]
async fn a13_error_response_with_a_wrong_or_missing_state() {
    let provider = start().await;
    provider.configure(|b| b.authorization_error = Some("access_denied".into()));
    let client = app(&provider, &[]).await;
    for state in [Some("A".repeat(43)), None] {
        let response = provider_response(&provider, &client, "/").await;
        let forged = replace_param(&response, "state", state.as_deref());
        let attempt = provider.deliver(&client, &forged).await;
        assert_refused(&provider, &client, &attempt, 400, &[]).await;
        // A generic error: not attributed to a login, the provider's words not shown.
        assert!(attempt.body.contains("invalid_state"), "{}", attempt.body);
        assert!(!attempt.body.contains("access_denied"), "{}", attempt.body);
    }
}

#[rocket::async_test]
async fn a14_code_and_error_together() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let response = provider_response(&provider, &client, "/").await;
    let seen = secrets_of(&response);
    let attempt = provider
        .deliver(&client, &format!("{response}&error=server_error"))
        .await;
    assert_consumed(&client, &response);
    assert_refused(&provider, &client, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("server_error"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0, "the code was used");
}

#[rocket::async_test]
async fn a15_code_flow_response_with_tokens_or_without_a_code() {
    // (The implicit and hybrid variants are in tests/front_channel.rs.)
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let changes: [fn(&str) -> String; 3] = [
        |r| format!("{r}&id_token=a.b.c"),
        |r| format!("{r}&access_token=an-access-token&token_type=Bearer"),
        |r| replace_param(r, "code", None),
    ];
    for (case, change) in changes.into_iter().enumerate() {
        let response = provider_response(&provider, &client, "/").await;
        let seen = secrets_of(&response);
        let attempt = provider.deliver(&client, &change(&response)).await;
        assert_consumed(&client, &response);
        assert_refused(&provider, &client, &attempt, 400, &seen).await;
        assert!(
            attempt.body.contains("invalid_request"),
            "case {case}: {}",
            attempt.body
        );
    }
    assert_eq!(provider.hits().token, 0, "a code was used");
}

#[rocket::async_test]
async fn a16_response_in_another_mode_than_requested() {
    let provider = start().await;
    // A query response POSTed as a form...
    let client = app(&provider, &[]).await;
    let response = provider_response(&provider, &client, "/").await;
    let seen = secrets_of(&response);
    let (action, query) = response.split_once('?').unwrap();
    let attempt = provider
        .deliver(&client, &format!("POST {action}\n{query}"))
        .await;
    assert_refused(&provider, &client, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("response mode"), "{}", attempt.body);

    // ...and a form_post response sent as a query.
    let extra = [("oidc.providers.default.response_mode", json!("form_post"))];
    let client = app(&provider, &extra).await;
    let response = provider_response(&provider, &client, "/").await;
    let seen = secrets_of(&response);
    let (action, body) = response
        .strip_prefix("POST ")
        .and_then(|r| r.split_once('\n'))
        .expect("a form_post response");
    let attempt = provider.deliver(&client, &format!("{action}?{body}")).await;
    assert_refused(&provider, &client, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("response mode"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0, "a code was used");
}

#[rocket::async_test]
async fn a17_injected_code_is_stopped_by_pkce_or_else_by_the_nonce() {
    for pkce in [true, false] {
        let provider = start().await;
        let figment = settings(&provider, &[("oidc.providers.default.pkce", json!(pkce))]);
        let victim = client_with(figment.clone()).await;
        let attacker = client_with(figment).await;
        // A code of the attacker's own login (bound to the attacker's verifier and nonce)...
        let stolen = provider_response(&provider, &attacker, "/").await;
        let mut seen = secrets_of(&stolen);
        let code = param(&stolen, "code").unwrap();
        // ...injected with the victim's valid state.
        let response = provider_response(&provider, &victim, "/").await;
        seen.extend(secrets_of(&response));
        let injected = replace_param(&response, "code", Some(code.as_str()));
        let attempt = provider.deliver(&victim, &injected).await;
        assert_refused(&provider, &victim, &attempt, 400, &seen).await;
        let why = if pkce { "invalid_grant" } else { "nonce" };
        assert!(attempt.body.contains(why), "pkce={pkce}: {}", attempt.body);
        assert_eq!(provider.hits().token, 1, "pkce={pkce}");
        assert_eq!(provider.hits().userinfo, 0, "pkce={pkce}: a token was used");
    }
}

#[rocket::async_test]
async fn a18_silent_login_returning_another_user() {
    let provider = start().await;
    provider.set_user("alice", json!({}));
    let extra = [("oidc.providers.default.session_refresh_interval", json!(1))];
    let client = app(&provider, &extra).await;
    let mut seen = logged_in(&provider, &client).await;
    // Silent re-authentications are at least 3 s apart (the interval is 1 s).
    sleep(3.1).await;
    provider.set_user("mallory", json!({}));
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(navigation.status(), Status::SeeOther);
    let silent = location(&navigation);
    assert!(silent.contains("prompt=none"), "{silent}");
    let response = provider.authorize(&silent).await;
    seen.extend(secrets_of(&response));
    let back = provider.deliver(&client, &response).await;
    assert_refused(&provider, &client, &back, 400, &seen).await;
    assert!(back.body.contains("subject_changed"), "{}", back.body);
}

#[rocket::async_test]
async fn a19_silent_login_answered_login_required() {
    let provider = start().await;
    provider.configure(|b| b.prompt_none_error = Some("login_required".into()));
    let extra = [("oidc.providers.default.session_refresh_interval", json!(1))];
    let client = app(&provider, &extra).await;
    let mut seen = logged_in(&provider, &client).await;
    sleep(3.1).await; // past the minimum gap between silent re-authentications
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let silent = location(&navigation);
    assert!(silent.contains("prompt=none"), "{silent}");
    let response = provider.authorize(&silent).await;
    assert!(response.contains("error=login_required"), "{response}");
    let back = provider.deliver(&client, &response).await;
    // No error page: on to one interactive login, the old session gone, no loop.
    assert_eq!(back.status, Status::SeeOther, "{}", back.body);
    let interactive = back.location.clone().unwrap_or_default();
    assert!(interactive.starts_with(provider.issuer()), "{interactive}");
    assert!(!interactive.contains("prompt=none"), "{interactive}");
    assert!(!back.session_created);
    assert_eq!(page(&client, "/").await.0, Status::Unauthorized);
    let response = provider.authorize(&interactive).await;
    seen.extend(secrets_of(&response));
    let done = provider.deliver(&client, &response).await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert!(done.session_created);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn a20_oversized_callback() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let huge = "A".repeat(100 * 1024);
    // A 100 KB state in the query...
    let response = provider_response(&provider, &client, "/").await;
    let seen = secrets_of(&response);
    let attempt = provider
        .deliver(
            &client,
            &replace_param(&response, "state", Some(huge.as_str())),
        )
        .await;
    assert_refused(&provider, &client, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("too large"), "{}", attempt.body);
    // ...and a 100 KB ID token in a form body.
    let (action, query) = response.split_once('?').unwrap();
    let attempt = provider
        .deliver(&client, &format!("POST {action}\n{query}&id_token={huge}"))
        .await;
    assert_refused(&provider, &client, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("too large"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0, "the code was used");
}

#[rocket::async_test]
async fn a21_parallel_logins_complete_and_their_number_is_capped() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let mut tabs = Vec::new();
    for tab in 1..=5 {
        let navigation = client
            .get(format!("/?tab={tab}"))
            .header(Accept::HTML)
            .dispatch()
            .await;
        tabs.push((tab, location(&navigation)));
    }
    assert_eq!(pending_logins(&client), 3, "the pending logins are capped");
    // Completed in reverse order: the three kept complete, each back to its own tab; the
    // evicted ones are refused. (Logins started within one second are evicted in an arbitrary
    // order, so which two is not asserted.)
    let (mut completed, mut evicted) = (0, 0);
    let mut seen = Vec::new();
    for (tab, authorize) in tabs.iter().rev() {
        let response = provider.authorize(authorize).await;
        seen.extend(secrets_of(&response));
        let done = provider.deliver(&client, &response).await;
        if done.status == Status::SeeOther {
            assert_eq!(done.location, Some(format!("/?tab={tab}")));
            assert!(done.session_created);
            completed += 1;
        } else {
            assert_rejected(&done, 400, &provider);
            assert!(done.body.contains("invalid_state"), "{}", done.body);
            evicted += 1;
        }
    }
    assert_eq!((completed, evicted), (3, 2));
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn a22_positive_form_post_callback() {
    let provider = start().await;
    let extra = [("oidc.providers.default.response_mode", json!("form_post"))];
    let client = app(&provider, &extra).await;
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let pending = navigation
        .cookies()
        .iter()
        .find(|c| c.name().starts_with(PENDING))
        .cloned()
        .expect("a pending login");
    // Sent with the provider's cross-site POST: SameSite=None, hence Secure.
    assert_eq!(pending.same_site(), Some(SameSite::None));
    assert_eq!(pending.secure(), Some(true));
    assert_eq!(pending.http_only(), Some(true));
    let response = provider.authorize(&location(&navigation)).await;
    assert!(response.starts_with("POST "), "{response}");
    let seen = secrets_of(&response);
    let done = provider.deliver(&client, &response).await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert!(done.session_created);
    assert_eq!(page(&client, "/").await.0, Status::Ok);
    assert_logs_clean(Some(&provider), &seen);
}

// ---------------------------------------------------------------------------------------------
// 4.2 Token endpoint response.

#[rocket::async_test]
async fn t1_token_endpoint_invalid_grant() {
    let (provider, attempt) = refused(
        |p| p.configure(|b| b.token_endpoint = TokenEndpoint::InvalidGrant),
        400,
    )
    .await;
    assert!(attempt.body.contains("invalid_grant"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 1, "no retry");
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn t2_token_endpoint_500_or_timeout() {
    let provider = start().await;
    let client = app(&provider, &[("oidc.http_timeout", json!(1))]).await;
    // An HTML error page: the provider answers wrongly (502).
    provider.configure(|b| b.token_endpoint = TokenEndpoint::Status(500));
    let attempt = expect_refusal(&provider, &client, 502).await;
    assert!(attempt.body.contains("provider_error"), "{}", attempt.body);
    // No answer within the timeout: the provider is unavailable (503).
    provider.configure(|b| b.token_endpoint = TokenEndpoint::Delay(Duration::from_millis(1500)));
    let attempt = expect_refusal(&provider, &client, 503).await;
    assert!(
        attempt.body.contains("temporarily_unavailable"),
        "{}",
        attempt.body
    );
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn t3_token_response_not_json_or_not_an_object() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let answers = [
        TokenEndpoint::NotJson,
        TokenEndpoint::Json(json!([])),
        TokenEndpoint::Json(json!("access_token")),
    ];
    for answer in answers {
        provider.configure(|b| b.token_endpoint = answer);
        let attempt = expect_refusal(&provider, &client, 502).await;
        assert!(attempt.body.contains("provider_error"), "{}", attempt.body);
    }
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn t4_token_response_without_id_token() {
    let (provider, attempt) = refused(
        |p| tweak_token_response(p, |body| drop(body.remove("id_token"))),
        400,
    )
    .await;
    assert!(
        attempt.body.contains("invalid_id_token"),
        "{}",
        attempt.body
    );
    assert!(attempt.body.contains("no id_token"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn t5_positive_mixed_case_token_type() {
    let provider = start().await;
    provider.configure(|b| b.token_type = "BeArEr".into());
    let client = app(&provider, &[]).await;
    let seen = logged_in(&provider, &client).await;
    let (status, body) = page(&client, "/").await;
    assert_eq!(status, Status::Ok);
    assert!(body["access_token"].is_string(), "{body}");
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn t6_unknown_token_type() {
    // Our design: an unusable token response is the provider's fault (502, not 400).
    let (provider, attempt) = refused(|p| p.configure(|b| b.token_type = "mac".into()), 502).await;
    assert!(
        attempt.body.contains("invalid_token_response"),
        "{}",
        attempt.body
    );
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn t7_positive_no_expires_in() {
    let provider = start().await;
    provider.configure(|b| b.expires_in = None);
    let client = app(&provider, &[]).await;
    let seen = logged_in(&provider, &client).await;
    // The expiry is unknown, and the token is used as it is.
    let (status, token) = page(&client, "/token").await;
    assert_eq!(status, Status::Ok, "{token}");
    assert_eq!(token["expires_at"], Value::Null);
    assert_eq!(provider.hits().refresh, 0);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn t8_expires_in_as_a_string_negative_or_absurd() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    // A string holding a number is read as the number...
    tweak_token_response(&provider, |body| {
        body.insert("expires_in".into(), json!("3600"));
    });
    let seen = logged_in(&provider, &client).await;
    let (status, token) = page(&client, "/token").await;
    assert_eq!(status, Status::Ok, "{token}");
    let expires_at = token["expires_at"].as_i64().unwrap_or_default();
    assert!(
        (now() + 3500..=now() + 3700).contains(&expires_at),
        "{token}"
    );
    client.get("/logout").dispatch().await;
    // ...anything else is refused, without a panic.
    for value in [json!(-5), json!(1e300), json!("soon")] {
        tweak_token_response(&provider, move |body| {
            body.insert("expires_in".into(), value.clone());
        });
        let attempt = expect_refusal(&provider, &client, 502).await;
        assert!(
            attempt.body.contains("invalid_token_response"),
            "{}",
            attempt.body
        );
    }
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn t9_token_endpoint_redirect_is_not_followed() {
    let (provider, attempt) = refused(
        |p| {
            // Somewhere that counts its requests: the provider's userinfo endpoint (POST).
            let elsewhere = format!("{}/userinfo", p.issuer());
            p.configure(|b| b.token_endpoint = TokenEndpoint::Redirect(elsewhere))
        },
        502,
    )
    .await;
    assert!(attempt.body.contains("provider_error"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 1);
    assert_eq!(
        provider.hits().userinfo,
        0,
        "the redirect was followed with the client's credentials"
    );
}

#[rocket::async_test]
async fn t10_plain_http_provider_is_refused_at_ignite() {
    // TLS certificate validation cannot be exercised against a loopback provider; what the
    // library decides is whether plain http is acceptable: only on loopback, or when allowed
    // explicitly. A remote plain-http issuer stops the application at ignite.
    let provider = start().await;
    let mut table = provider.provider_table();
    table["issuer"] = json!("http://op.example");
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default", table.clone()));
    let error = OidcConfig::from_figment(&figment)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("oidc.providers.default.issuer"), "{error}");
    assert!(error.contains("https"), "{error}");
    let rocket = rocket::custom(figment).attach(OpenIdConnect::fairing());
    let failure = Client::untracked(rocket).await.expect_err("it launched");
    assert!(matches!(
        failure.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
    // Allowed only explicitly (never in production).
    table["allow_insecure_http"] = json!(true);
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default", table));
    assert!(OidcConfig::from_figment(&figment).is_ok());
    assert_eq!(provider.hits().total(), 0, "the provider was called");
    assert_logs_clean(Some(&provider), &[]);
}

// ---------------------------------------------------------------------------------------------
// 4.3 ID token (from the token endpoint unless the row is about the front channel; more
// front-channel variants are in tests/front_channel.rs).

#[rocket::async_test]
async fn i1_wrong_iss() {
    let body = bad_id_token(|c| drop(c.insert("iss".into(), "https://evil.example".into()))).await;
    assert!(body.contains("issuer is wrong"), "{body}");
}

#[rocket::async_test]
async fn i2_missing_iss() {
    let body = bad_id_token(|c| drop(c.remove("iss"))).await;
    assert!(body.contains("issuer is wrong"), "{body}");
}

#[rocket::async_test]
async fn i3_wrong_aud() {
    let body = bad_id_token(|c| drop(c.insert("aud".into(), "someone-else".into()))).await;
    assert!(body.contains("audience is wrong"), "{body}");
}

#[rocket::async_test]
async fn i4_missing_aud() {
    let body = bad_id_token(|c| drop(c.remove("aud"))).await;
    assert!(body.contains("audience is wrong"), "{body}");
}

#[rocket::async_test]
async fn i5_extra_audience_without_azp() {
    // Also with `azp`: no other audience is trusted.
    bad_id_tokens([
        tweak(|c| drop(c.insert("aud".into(), json!(["test-client", "someone-else"])))),
        tweak(|c| {
            c.insert("aud".into(), json!(["test-client", "someone-else"]));
            c.insert("azp".into(), json!("test-client"));
        }),
    ])
    .await;
}

#[rocket::async_test]
async fn i6_positive_aud_as_one_element_array() {
    let provider = start().await;
    assert_eq!(provider.client_id(), "test-client");
    tweak_claims(&provider, |c| {
        drop(c.insert("aud".into(), json!(["test-client"])))
    });
    let client = app(&provider, &[]).await;
    let seen = logged_in(&provider, &client).await;
    assert_eq!(page(&client, "/").await.0, Status::Ok);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i7_azp_of_another_client() {
    let body = bad_id_token(|c| drop(c.insert("azp".into(), "someone-else".into()))).await;
    assert!(body.contains("authorized party is wrong"), "{body}");
}

#[rocket::async_test]
async fn i8_expired() {
    let body = bad_id_token(|c| drop(c.insert("exp".into(), json!(now() - 3600)))).await;
    assert!(body.contains("expired"), "{body}");
}

#[rocket::async_test]
async fn i9_exp_missing_string_negative_or_absurd() {
    bad_id_tokens([
        tweak(|c| drop(c.remove("exp"))),
        tweak(|c| drop(c.insert("exp".into(), json!((now() + 300).to_string())))),
        tweak(|c| drop(c.insert("exp".into(), json!(-1)))),
        tweak(|c| drop(c.insert("exp".into(), json!(-1e300)))),
        // Absurd: beyond the year 9999 (compared as a float, so no overflow either way).
        tweak(|c| drop(c.insert("exp".into(), json!(1e300)))),
        tweak(|c| drop(c.insert("exp".into(), json!(253_402_300_800_i64)))),
    ])
    .await;
}

#[rocket::async_test]
async fn i10_missing_iat() {
    let body = bad_id_token(|c| drop(c.remove("iat"))).await;
    assert!(body.contains("iat"), "{body}");
}

#[rocket::async_test]
async fn i11_iat_a_week_ago_or_in_the_future() {
    bad_id_tokens([
        tweak(|c| drop(c.insert("iat".into(), json!(now() - 7 * 86400)))),
        tweak(|c| drop(c.insert("iat".into(), json!(now() + 3600)))),
    ])
    .await;
}

#[rocket::async_test]
async fn i12_nbf_in_the_future() {
    let body = bad_id_token(|c| drop(c.insert("nbf".into(), json!(now() + 3600)))).await;
    assert!(body.contains("not valid yet"), "{body}");
}

#[rocket::async_test]
async fn i13_sub_missing_empty_or_not_a_string() {
    bad_id_tokens([
        tweak(|c| drop(c.remove("sub"))),
        tweak(|c| drop(c.insert("sub".into(), json!("")))),
        tweak(|c| drop(c.insert("sub".into(), json!(42)))),
    ])
    .await;
}

#[rocket::async_test]
async fn i14_wrong_nonce() {
    let body = bad_id_token(|c| drop(c.insert("nonce".into(), "not-the-nonce".into()))).await;
    assert!(body.contains("nonce is wrong"), "{body}");
}

#[rocket::async_test]
async fn i15_missing_nonce() {
    let body = bad_id_token(|c| drop(c.remove("nonce"))).await;
    assert!(body.contains("nonce is wrong"), "{body}");
}

#[rocket::async_test]
async fn i16_id_token_replayed_into_a_new_login() {
    let provider = start().await;
    // The first login's genuine ID token, as its token response carried it...
    let captured = Arc::new(Mutex::new(String::new()));
    let record = captured.clone();
    tweak_token_response(&provider, move |body| {
        if let Some(token) = body.get("id_token").and_then(Value::as_str) {
            *record.lock().unwrap_or_else(|e| e.into_inner()) = token.to_owned();
        }
    });
    let client = app(&provider, &[]).await;
    let mut seen = logged_in(&provider, &client).await;
    let first = captured.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(!first.is_empty());
    seen.push(first.clone());
    client.get("/logout").dispatch().await;
    // ...in the token response of a second login.
    tweak_token_response(&provider, move |body| {
        body.insert("id_token".into(), json!(first));
    });
    let (attempt, more) = login(&provider, &client).await;
    seen.extend(more);
    assert_refused(&provider, &client, &attempt, 400, &seen).await;
    assert!(attempt.body.contains("nonce"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 1, "userinfo of the second login");
}

#[rocket::async_test]
async fn i17_alg_none_from_the_token_endpoint() {
    let (provider, attempt) = refused(|p| p.configure(|b| b.signing = Signing::None), 400).await;
    assert!(attempt.body.contains("algorithm"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn i18_alg_none_in_the_front_channel() {
    for response_type in ["id_token", "code id_token"] {
        let (provider, attempt) = front_refused(response_type, |p| {
            p.configure(|b| b.signing = Signing::None)
        })
        .await;
        assert!(attempt.body.contains("algorithm"), "{}", attempt.body);
        assert_eq!(
            provider.hits().token,
            0,
            "{response_type}: the code was used"
        );
    }
}

#[rocket::async_test]
async fn i19_hs256_keyed_with_the_providers_public_key() {
    let provider = start().await;
    let jwks = reqwest::get(format!("{}/jwks", provider.issuer()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks: Value = serde_json::from_str(&jwks).unwrap();
    let public_key = jwks["keys"][0].to_string();
    let modulus = jwks["keys"][0]["n"].as_str().unwrap().to_owned();
    // RS256 is expected: HS256 is not allowed at all, whatever the key (even the client secret).
    let client = app(&provider, &[]).await;
    let client_secret = provider.client_secret().to_owned();
    for secret in [public_key, modulus.clone(), client_secret] {
        provider.configure(|b| b.signing = Signing::Hs256(secret));
        let attempt = expect_refusal(&provider, &client, 400).await;
        assert!(attempt.body.contains("algorithm"), "{}", attempt.body);
    }
    // With HS256 configured, the key is the client secret, never a key of the key set.
    let extra = [(
        "oidc.providers.default.id_token_signing_algs",
        json!(["HS256"]),
    )];
    let client = app(&provider, &extra).await;
    provider.configure(|b| b.signing = Signing::Hs256(modulus));
    let attempt = expect_refusal(&provider, &client, 400).await;
    assert!(attempt.body.contains("signature"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn i20_positive_hs256_when_configured() {
    let provider = start().await;
    let secret = provider.client_secret().to_owned();
    provider.configure(|b| b.signing = Signing::Hs256(secret));
    let extra = [(
        "oidc.providers.default.id_token_signing_algs",
        json!(["HS256"]),
    )];
    let client = app(&provider, &extra).await;
    let seen = logged_in(&provider, &client).await;
    assert_eq!(page(&client, "/").await.0, Status::Ok);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i21_hs256_with_the_wrong_secret() {
    let provider = start().await;
    provider.configure(|b| b.signing = Signing::Hs256("not-the-client-secret".into()));
    let extra = [(
        "oidc.providers.default.id_token_signing_algs",
        json!(["HS256"]),
    )];
    let client = app(&provider, &extra).await;
    let attempt = expect_refusal(&provider, &client, 400).await;
    assert!(attempt.body.contains("signature"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn i22_bad_rs256_or_es256_signature() {
    for alg in [Alg::Rs256, Alg::Es256] {
        let provider = start_with(alg).await;
        provider.configure(|b| b.signing = Signing::BadSignature);
        let client = app(&provider, &[]).await;
        let attempt = expect_refusal(&provider, &client, 400).await;
        assert!(
            attempt.body.contains("signature"),
            "{alg:?}: {}",
            attempt.body
        );
        assert_eq!(provider.hits().userinfo, 0, "{alg:?}");
    }
}

#[rocket::async_test]
async fn i23_validly_signed_with_another_alg_than_the_pinned_one() {
    let provider = start_with(Alg::Es256).await;
    // The ES256 tokens are fine as such...
    let client = app(&provider, &[]).await;
    let seen = logged_in(&provider, &client).await;
    // ...but not where RS256 is the configured algorithm.
    let extra = [(
        "oidc.providers.default.id_token_signing_algs",
        json!(["RS256"]),
    )];
    let client = app(&provider, &extra).await;
    let attempt = expect_refusal(&provider, &client, 400).await;
    assert!(attempt.body.contains("algorithm"), "{}", attempt.body);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i24_crit_header() {
    let (provider, attempt) = refused(
        |p| tweak_header(p, |h| drop(h.insert("crit".into(), json!(["exp"])))),
        400,
    )
    .await;
    assert!(attempt.body.contains("crit"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn i25_positive_no_kid_with_a_single_key() {
    let provider = start().await;
    provider.configure(|b| b.signing = Signing::NoKid);
    let client = app(&provider, &[]).await;
    let seen = logged_in(&provider, &client).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i26_no_kid_with_several_matching_keys() {
    let provider = start().await;
    provider.add_unused_key().await;
    provider.configure(|b| b.signing = Signing::NoKid);
    let client = app(&provider, &[]).await;
    let attempt = expect_refusal(&provider, &client, 400).await;
    assert!(attempt.body.contains("several keys"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn i27_positive_key_rotation_is_fetched_once() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let mut seen = logged_in(&provider, &client).await;
    let fetched = provider.hits().jwks;
    provider.rotate_keys().await;
    client.get("/logout").dispatch().await;
    seen.extend(logged_in(&provider, &client).await);
    assert_eq!(provider.hits().jwks, fetched + 1);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i28_random_kids_cause_at_most_one_refetch() {
    // 50 tokens instead of 1000: the property (one refetch per interval, 30 s by default) is the
    // same.
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let mut seen = logged_in(&provider, &client).await;
    client.get("/logout").dispatch().await;
    let before = provider.hits().jwks;
    for i in 0..50 {
        provider.configure(|b| b.signing = Signing::Kid(format!("random-kid-{i}")));
        let (attempt, more) = login(&provider, &client).await;
        assert_rejected(&attempt, 400, &provider);
        assert!(attempt.body.contains("no matching key"), "{}", attempt.body);
        seen.extend(more);
    }
    let refetches = provider.hits().jwks - before;
    assert!(refetches <= 1, "{refetches} key-set fetches");
    assert_eq!(
        provider.hits().userinfo,
        1,
        "userinfo after a refused token"
    );
    assert_logged_out(&client, &provider).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i29_keys_unfit_for_the_token_are_not_used() {
    let provider = start_with(Alg::Es256).await;
    let spoil_keys = |member: &'static str, value: &'static str| {
        provider.configure(|b| {
            b.jwks_document = Some(Arc::new(move |document: &mut Value| {
                if let Some(keys) = document["keys"].as_array_mut() {
                    for key in keys {
                        key[member] = json!(value);
                    }
                }
            }))
        })
    };
    // Control: the key set as it is verifies the tokens.
    let client = app(&provider, &[]).await;
    let seen = logged_in(&provider, &client).await;
    // The only key is for encryption; it is of another curve.
    let spoilt = [
        ("use", "enc", "no matching key"),
        ("crv", "P-384", "invalid_id_token"),
    ];
    for (member, value, why) in spoilt {
        spoil_keys(member, value);
        let client = app(&provider, &[]).await;
        let attempt = expect_refusal(&provider, &client, 400).await;
        assert!(
            attempt.body.contains("invalid_id_token"),
            "{}",
            attempt.body
        );
        assert!(attempt.body.contains(why), "{member}: {}", attempt.body);
    }
    // The token's alg names another key type (RSA) than the key of its `kid` (EC).
    provider.configure(|b| b.jwks_document = None);
    tweak_header(&provider, |h| drop(h.insert("alg".into(), "RS256".into())));
    let client = app(&provider, &[]).await;
    let attempt = expect_refusal(&provider, &client, 400).await;
    assert!(attempt.body.contains("no matching key"), "{}", attempt.body);
    assert_eq!(
        provider.hits().userinfo,
        1,
        "userinfo after a refused token"
    );
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i30_malformed_jwt() {
    fn part(token: &str, index: usize) -> &str {
        token.split('.').nth(index).unwrap_or_default()
    }
    let provider = start().await;
    let client = app(&provider, &[]).await;
    // `W10` is base64url of `[]`.
    let spoilers: [fn(&str) -> String; 7] = [
        |t| format!("{}.{}", part(t, 0), part(t, 1)),
        |t| format!("{}.!!!.{}", part(t, 0), part(t, 2)),
        |t| format!("W10.{}.{}", part(t, 1), part(t, 2)),
        |t| format!("{}.W10.{}", part(t, 0), part(t, 2)),
        |t| format!("{t}.trailing"),
        |t| format!("{t}=="),
        |_| String::new(),
    ];
    for (case, spoil) in spoilers.into_iter().enumerate() {
        tweak_token_response(&provider, move |body| {
            let raw = body
                .get("id_token")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            body.insert("id_token".into(), json!(spoil(&raw)));
        });
        let attempt = expect_refusal(&provider, &client, 400).await;
        assert!(
            attempt.body.contains("invalid_id_token"),
            "case {case}: {}",
            attempt.body
        );
    }
    assert_eq!(provider.hits().userinfo, 0);
    // No harm done: the next proper token is accepted.
    provider.configure(|b| b.token_response = None);
    let seen = logged_in(&provider, &client).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i31_jwe_when_encryption_is_not_configured() {
    let (provider, attempt) = refused(
        |p| {
            tweak_token_response(p, |body| {
                // A compact JWE: header {"alg":"RSA-OAEP","enc":"A256GCM"} and four parts.
                let jwe = concat!(
                    "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ",
                    ".a2V5.aXY.Y2lwaGVy.dGFn"
                );
                body.insert("id_token".into(), json!(jwe));
            })
        },
        400,
    )
    .await;
    assert!(attempt.body.contains("encrypted"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 0);
}

#[rocket::async_test]
async fn i32_encryption_negotiated_but_a_plain_jws_is_refused() {
    // With ID-token encryption configured, a signed-only ID token is refused (502, the error
    // view, no session): whoever could strip the encryption must not be believed. The signed
    // token itself is valid: only the missing encryption refuses it. (Every encrypted form,
    // and every way to get one wrong: tests/encryption.rs.)
    let provider = start().await;
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let keys = [support::key_file("matrix-i32", "ec.pem", &ec)];
    let client = app(
        &provider,
        &[
            ("oidc.encryption_keys", json!(keys)),
            (
                "oidc.providers.default.id_token_encrypted_response_alg",
                json!("ECDH-ES"),
            ),
        ],
    )
    .await;
    let before = support::logs::count("it is not encrypted (ECDH-ES with A128CBC-HS256");
    let attempt = expect_refusal(&provider, &client, 502).await;
    assert!(!attempt.session_created);
    assert_eq!(provider.hits().userinfo, 0);
    assert!(
        support::logs::count("it is not encrypted (ECDH-ES with A128CBC-HS256") > before,
        "the reason is logged"
    );
}

#[rocket::async_test]
async fn i33_hybrid_wrong_or_missing_c_hash() {
    let changes = [
        tweak(|c| drop(c.insert("c_hash".into(), "AAAAAAAAAAAAAAAAAAAAAA".into()))),
        tweak(|c| drop(c.remove("c_hash"))),
    ];
    for change in changes {
        let (provider, attempt) = front_refused("code id_token", |p| {
            p.configure(|b| b.id_token_claims = Some(change))
        })
        .await;
        assert!(attempt.body.contains("c_hash"), "{}", attempt.body);
        assert_eq!(provider.hits().token, 0, "the code was used");
    }
}

#[rocket::async_test]
async fn i34_wrong_or_missing_at_hash() {
    let changes = [
        tweak(|c| drop(c.insert("at_hash".into(), "AAAAAAAAAAAAAAAAAAAAAA".into()))),
        tweak(|c| drop(c.remove("at_hash"))),
    ];
    for change in changes {
        let (provider, attempt) = front_refused("id_token token", |p| {
            p.configure(|b| b.id_token_claims = Some(change))
        })
        .await;
        assert!(attempt.body.contains("at_hash"), "{}", attempt.body);
        assert_eq!(provider.hits().userinfo, 0, "the access token was used");
    }
}

#[rocket::async_test]
async fn i35_hybrid_wrong_s_hash() {
    let (provider, attempt) = front_refused("code id_token", |p| {
        tweak_claims(p, |c| {
            drop(c.insert("s_hash".into(), "AAAAAAAAAAAAAAAAAAAAAA".into()))
        })
    })
    .await;
    assert!(attempt.body.contains("s_hash"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 0, "the code was used");
}

#[rocket::async_test]
async fn i36_hybrid_id_tokens_about_different_users() {
    let (provider, attempt) = front_refused("code id_token", |p| {
        p.configure(|b| b.token_endpoint_sub = Some("mallory".into()))
    })
    .await;
    assert!(attempt.body.contains("another user"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 1);
    assert_eq!(provider.hits().userinfo, 0, "a token was used");
}

#[rocket::async_test]
async fn i37_token_endpoint_nonce_wrong_although_the_front_channel_is_right() {
    let (provider, attempt) = front_refused("code id_token", |p| {
        // A genuine ID token of the same user, for another nonce.
        let other = p.mint_id_token("test-user", "not-the-nonce");
        tweak_token_response(p, move |body| {
            body.insert("id_token".into(), json!(other));
        })
    })
    .await;
    assert!(attempt.body.contains("nonce"), "{}", attempt.body);
    assert_eq!(provider.hits().token, 1);
    assert_eq!(provider.hits().userinfo, 0, "a token was used");
}

#[rocket::async_test]
async fn i38_max_age_without_a_recent_auth_time() {
    let provider = start().await;
    let extra = [(
        "oidc.providers.default.auth_request_params",
        json!({"max_age": 60}),
    )];
    let client = app(&provider, &extra).await;
    let changes = [
        tweak(|c| drop(c.remove("auth_time"))),
        tweak(|c| drop(c.insert("auth_time".into(), json!(now() - 3600)))),
    ];
    for change in changes {
        provider.configure(|b| b.id_token_claims = Some(change));
        let attempt = expect_refusal(&provider, &client, 400).await;
        assert!(
            attempt.body.contains("authentication time"),
            "{}",
            attempt.body
        );
    }
    assert_eq!(provider.hits().userinfo, 0);
    // A fresh authentication is accepted.
    provider.configure(|b| b.id_token_claims = None);
    let seen = logged_in(&provider, &client).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn i39_logout_token_injected_as_an_id_token() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let events = json!({ "http://schemas.openid.net/event/backchannel-logout": {} });
    // Untyped, as most providers send them: no nonce.
    let logout_claims = events.clone();
    tweak_claims(&provider, move |c| {
        c.remove("nonce");
        c.remove("auth_time");
        c.insert("jti".into(), json!("a-logout-token"));
        c.insert("sid".into(), json!("a-session"));
        c.insert("events".into(), logout_claims.clone());
    });
    let attempt = expect_refusal(&provider, &client, 400).await;
    assert!(attempt.body.contains("nonce"), "{}", attempt.body);
    // Typed `logout+jwt`: not an ID token, even with the right nonce.
    tweak_claims(&provider, move |c| {
        c.insert("events".into(), events.clone());
    });
    tweak_header(&provider, |h| {
        drop(h.insert("typ".into(), "logout+jwt".into()))
    });
    let attempt = expect_refusal(&provider, &client, 400).await;
    assert!(
        attempt.body.contains("not typed as an ID token"),
        "{}",
        attempt.body
    );
    assert_eq!(provider.hits().userinfo, 0);
}

// ---------------------------------------------------------------------------------------------
// 4.4 UserInfo.

/// Setup: the userinfo endpoint answers 200 with `content_type` and `body`.
fn userinfo_body(content_type: &str, body: &str) -> impl FnOnce(&TestProvider) {
    let answer = UserinfoEndpoint::Body {
        content_type: content_type.to_owned(),
        body: body.to_owned(),
    };
    move |p: &TestProvider| p.configure(|b| b.userinfo = answer)
}

#[rocket::async_test]
async fn u1_userinfo_of_another_subject() {
    let (provider, attempt) = refused(
        |p| p.configure(|b| b.userinfo_sub = Some("mallory".into())),
        400,
    )
    .await;
    assert!(
        attempt.body.contains("invalid_userinfo"),
        "{}",
        attempt.body
    );
    assert_eq!(provider.hits().userinfo, 1);
}

#[rocket::async_test]
async fn u2_userinfo_without_sub() {
    let (provider, attempt) = refused(
        userinfo_body("application/json", r#"{"name": "Alice"}"#),
        400,
    )
    .await;
    assert!(
        attempt.body.contains("invalid_userinfo"),
        "{}",
        attempt.body
    );
    assert_eq!(provider.hits().userinfo, 1);
}

#[rocket::async_test]
async fn u3_userinfo_not_a_json_object() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let bodies = [
        ("application/json", "[]"),
        ("application/json", "}{ not json"),
        ("text/html", "<html><body>Welcome!</body></html>"),
    ];
    for (content_type, body) in bodies {
        userinfo_body(content_type, body)(&provider);
        let attempt = expect_refusal(&provider, &client, 502).await;
        assert!(
            attempt.body.contains("provider_error"),
            "{content_type} {body}: {}",
            attempt.body
        );
    }
}

#[rocket::async_test]
async fn u4_userinfo_401_invalid_token() {
    // At login there is no session to refresh: the login fails (502, the provider refused our
    // fresh token), with no refresh attempted and no session.
    let (provider, attempt) = refused(
        |p| p.configure(|b| b.userinfo = UserinfoEndpoint::InvalidToken),
        502,
    )
    .await;
    assert!(attempt.body.contains("provider_error"), "{}", attempt.body);
    assert!(attempt.body.contains("401"), "{}", attempt.body);
    assert_eq!(provider.hits().refresh, 0);
}

#[rocket::async_test]
async fn u5_signed_userinfo_is_refused() {
    // A client that did not ask for signed userinfo takes only JSON: a signed (JWT) response,
    // whatever its signature or claims, is refused rather than used unverified.
    let (provider, attempt) = refused(
        |p| {
            let jwt = p.mint_id_token("test-user", "a-nonce");
            userinfo_body("application/jwt", &jwt)(p)
        },
        502,
    )
    .await;
    assert!(attempt.body.contains("provider_error"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 1);
}

#[rocket::async_test]
async fn u6_signed_userinfo_expected_but_plain_json_is_refused() {
    // The other half of U5: a client that asks for signed userinfo
    // (`userinfo_signed_response_alg`) refuses a plain JSON answer (502, no session), and an
    // algorithm it cannot use is refused at ignite rather than ignored.
    let provider = start().await;
    let extra = [(
        "oidc.providers.default.userinfo_signed_response_alg",
        json!("RS256"),
    )];
    let client = app(&provider, &extra).await;
    let attempt = expect_refusal(&provider, &client, 502).await;
    assert!(attempt.body.contains("not signed"), "{}", attempt.body);
    assert_eq!(provider.hits().userinfo, 1);
    let error = config_error(&provider, "userinfo_signed_response_alg", json!("HS256"));
    assert!(error.contains("userinfo_signed_response_alg"), "{error}");
}

/// No header of `response` carries a claim value (nor the header a claim tries to inject).
fn assert_no_claim_in_headers(response: &LocalResponse<'_>) {
    assert!(response.headers().get_one("X-Injected").is_none());
    for header in response.headers().iter() {
        let line = format!("{}: {}", header.name(), header.value());
        assert!(!line.contains("X-Injected"), "{line}");
        assert!(!line.contains("marker-9f3a"), "{line}");
    }
}

#[rocket::async_test]
async fn u7_claims_are_never_forwarded_as_headers() {
    // The library never passes claims as headers (not to the application, not in responses);
    // claims with CR/LF or non-Latin-1 text go through the session untouched.
    let provider = start().await;
    let name = "Eve\r\nX-Injected: yes";
    let nickname = "marker-9f3a \u{263a}";
    provider.set_user("alice", json!({ "name": name, "nickname": nickname }));
    let client = app(&provider, &[]).await;
    let response = provider_response(&provider, &client, "/").await;
    let seen = secrets_of(&response);
    let done = client
        .get(local(&response))
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(done.status(), Status::SeeOther);
    assert_no_claim_in_headers(&done);
    let protected = client.get("/").header(Accept::JSON).dispatch().await;
    assert_eq!(protected.status(), Status::Ok);
    assert_no_claim_in_headers(&protected);
    let body: Value = serde_json::from_str(&protected.into_string().await.unwrap()).unwrap();
    assert_eq!(body["id_token"]["name"], name);
    assert_eq!(body["userinfo"]["nickname"], nickname);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn u8_access_token_goes_in_the_authorization_header() {
    // The test provider's userinfo endpoint reads the token from the `Authorization` header
    // only (never from the query or the body): userinfo arrives only if it was sent there.
    for method in ["get", "post"] {
        let provider = start().await;
        let extra = [("oidc.providers.default.userinfo_method", json!(method))];
        let client = app(&provider, &extra).await;
        provider.set_user("alice", json!({ "email": "alice@example.com" }));
        let seen = logged_in(&provider, &client).await;
        assert_eq!(provider.hits().userinfo, 1, "{method}");
        let (status, body) = page(&client, "/").await;
        assert_eq!(status, Status::Ok);
        assert_eq!(body["userinfo"]["email"], "alice@example.com", "{method}");
        assert_logs_clean(Some(&provider), &seen);
    }
}

// ---------------------------------------------------------------------------------------------
// 4.5 Discovery and key set.

/// A browser navigation to `/` that must fail with 502 before any login starts.
async fn assert_no_login_starts(provider: &TestProvider, client: &Client) {
    let reply = read_reply(client.get("/").header(Accept::HTML).dispatch().await).await;
    assert_rejected_reply(&reply, 502, provider, &[]);
    assert!(reply.body.contains("provider_error"), "{}", reply.body);
    assert!(reply.location.is_none(), "{:?}", reply.location);
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
}

#[rocket::async_test]
async fn d1_discovery_names_another_issuer() {
    let provider = start().await;
    provider.configure(|b| b.discovery_issuer = Some("https://evil.example".into()));
    let client = app(&provider, &[]).await;
    assert_no_login_starts(&provider, &client).await;
    assert_eq!(
        provider.hits().jwks,
        0,
        "the key set of a refused provider was fetched"
    );
    assert_logs_clean(Some(&provider), &[]);
}

#[rocket::async_test]
async fn d2_the_logins_provider_binds_every_endpoint() {
    // Endpoints on other hosts are taken as the issuer's own discovery document publishes them
    // (https is required, see D5); what must hold is that a login uses only the endpoints,
    // keys and credentials of the provider it was started for.
    let default = start().await;
    let partner = start().await;
    let extra = [
        ("oidc.providers.partner", partner.provider_table()),
        ("oidc.login_path", json!("/login")),
    ];
    let client = app(&default, &extra).await;
    let navigation = client
        .get("/login?provider=partner")
        .header(Accept::HTML)
        .dispatch()
        .await;
    let authorize = location(&navigation);
    assert!(authorize.starts_with(partner.issuer()), "{authorize}");
    let response = partner.authorize(&authorize).await;
    let seen = secrets_of(&response);
    let done = partner.deliver(&client, &response).await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert!(done.session_created);
    assert_eq!((partner.hits().token, partner.hits().userinfo), (1, 1));
    assert_eq!((default.hits().token, default.hits().userinfo), (0, 0));
    assert_logs_clean(Some(&partner), &seen);
    assert_logs_clean(Some(&default), &seen);
}

#[rocket::async_test]
async fn d3_key_set_unreachable_fails_closed() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let mut seen = logged_in(&provider, &client).await;
    client.get("/logout").dispatch().await;
    provider.configure(|b| b.jwks_status = 500);
    // The cached keys still verify tokens of the keys they hold...
    seen.extend(logged_in(&provider, &client).await);
    client.get("/logout").dispatch().await;
    // ...but a token of a new key cannot be checked: refused, never accepted unverified.
    provider.rotate_keys().await;
    let attempt = expect_refusal(&provider, &client, 502).await;
    assert!(attempt.body.contains("provider_error"), "{}", attempt.body);
    assert_eq!(
        provider.hits().userinfo,
        2,
        "userinfo after an unverified token"
    );
    // A provider whose key set cannot be fetched at all starts no login.
    let fresh = app(&provider, &[]).await;
    assert_no_login_starts(&provider, &fresh).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn d4_key_set_not_an_object_or_keys_not_an_array() {
    let provider = start().await;
    let documents = [
        json!([]),
        json!({ "keys": {} }),
        json!({ "keys": "none" }),
        json!({}),
    ];
    for document in documents {
        provider.configure(|b| {
            b.jwks_document = Some(Arc::new(move |served: &mut Value| {
                *served = document.clone();
            }))
        });
        let client = app(&provider, &[]).await;
        assert_no_login_starts(&provider, &client).await;
    }
    // The same provider with a proper key set: the refusals were about the documents.
    provider.configure(|b| b.jwks_document = None);
    let client = app(&provider, &[]).await;
    let seen = logged_in(&provider, &client).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn d5_plain_http_endpoints_are_refused() {
    capture_logs();
    let table = |token_endpoint: &str| {
        json!({
            "client_id": "app",
            "client_secret": "a-client-secret",
            "metadata": {
                "issuer": "https://op.example",
                "authorization_endpoint": "https://op.example/authorize",
                "token_endpoint": token_endpoint,
                "jwks_uri": "https://op.example/jwks",
            },
        })
    };
    let config = |provider_table: Value| {
        let figment = Figment::new().merge(("oidc.providers.default", provider_table));
        OidcConfig::from_figment(&figment).map(drop)
    };
    let error = config(table("http://op.example/token"))
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("oidc.providers.default.metadata.token_endpoint"),
        "{error}"
    );
    assert!(error.contains("https"), "{error}");
    assert!(config(table("https://op.example/token")).is_ok());
    // (A discovered document is held to the same rule for a remote issuer; only a loopback
    // issuer, like the test provider's, may use http.)
    assert_logs_clean(None, &[]);
}

#[rocket::async_test]
async fn d6_no_issuer_can_be_chosen_by_the_request() {
    // There is no webfinger or issuer input: a login names a configured provider, or fails.
    let provider = start().await;
    let client = app(&provider, &[("oidc.login_path", json!("/login"))]).await;
    let evil = enc("https://evil.example");
    let attempts = [
        format!("/login?provider={evil}"),
        "/login?provider=unknown".to_owned(),
        format!("/login?issuer={evil}"),
        format!("/login?iss={evil}"),
    ];
    for path in attempts {
        let reply = read_reply(
            client
                .get(path.clone())
                .header(Accept::HTML)
                .dispatch()
                .await,
        )
        .await;
        assert_rejected_reply(&reply, 400, &provider, &[]);
        assert!(reply.location.is_none(), "{path}");
        assert!(
            reply.set_cookies.is_empty(),
            "{path}: {:?}",
            reply.set_cookies
        );
    }
    // The configured provider, by its name.
    let navigation = client
        .get("/login?provider=default")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(navigation.status(), Status::SeeOther);
    assert!(location(&navigation).starts_with(provider.issuer()));
    assert_logs_clean(Some(&provider), &[]);
}

// ---------------------------------------------------------------------------------------------
// 4.6 Refresh.

/// Logs in and returns what the browser saw, including the access token the example app shows,
/// and the page of `/`.
async fn logged_in_with_page(provider: &TestProvider, client: &Client) -> (Vec<String>, Value) {
    let mut seen = logged_in(provider, client).await;
    let (status, body) = page(client, "/").await;
    assert_eq!(status, Status::Ok);
    seen.push(body["access_token"].as_str().unwrap_or_default().to_owned());
    (seen, body)
}

#[rocket::async_test]
async fn r1_refreshed_id_token_of_another_subject() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let (seen, _) = logged_in_with_page(&provider, &client).await;
    provider.configure(|b| b.refresh_sub = Some("mallory".into()));
    let reply = forced_refresh(&client).await;
    assert_rejected_reply(&reply, 400, &provider, &seen);
    assert!(reply.body.contains("subject_changed"), "{}", reply.body);
    assert_eq!(provider.hits().refresh, 1);
    assert_eq!(
        provider.hits().userinfo,
        1,
        "userinfo with the new access token"
    );
    // Policy: a refresh about another user ends the session.
    assert_logged_out(&client, &provider).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn r2_refreshed_id_token_of_another_issuer_or_audience() {
    let provider = start().await;
    provider.configure(|b| b.rotate_refresh_token = false);
    let client = app(&provider, &[]).await;
    let (seen, before) = logged_in_with_page(&provider, &client).await;
    let changes = [
        tweak(|c| drop(c.insert("iss".into(), "https://evil.example".into()))),
        tweak(|c| drop(c.insert("aud".into(), "someone-else".into()))),
    ];
    for change in changes {
        provider.configure(|b| b.id_token_claims = Some(change));
        let reply = forced_refresh(&client).await;
        assert_rejected_reply(&reply, 400, &provider, &seen);
        assert!(reply.body.contains("invalid_id_token"), "{}", reply.body);
        // Policy: the refresh is refused; the session keeps its claims and tokens.
        assert_eq!(page(&client, "/").await, (Status::Ok, before.clone()));
    }
    assert_eq!(provider.hits().refresh, 2);
    assert_eq!(
        provider.hits().userinfo,
        1,
        "userinfo with the new access token"
    );
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn r3_refreshed_id_token_with_a_bad_signature_or_expired() {
    let provider = start().await;
    provider.configure(|b| b.rotate_refresh_token = false);
    let client = app(&provider, &[]).await;
    let (seen, before) = logged_in_with_page(&provider, &client).await;
    provider.configure(|b| b.signing = Signing::BadSignature);
    let reply = forced_refresh(&client).await;
    assert_rejected_reply(&reply, 400, &provider, &seen);
    assert!(reply.body.contains("signature"), "{}", reply.body);
    assert_eq!(page(&client, "/").await, (Status::Ok, before.clone()));
    provider.configure(|b| {
        b.signing = Signing::Valid;
        b.id_token_claims = Some(tweak(|c| drop(c.insert("exp".into(), json!(now() - 3600)))));
    });
    let reply = forced_refresh(&client).await;
    assert_rejected_reply(&reply, 400, &provider, &seen);
    assert!(reply.body.contains("expired"), "{}", reply.body);
    assert_eq!(page(&client, "/").await, (Status::Ok, before));
    assert_eq!(
        provider.hits().userinfo,
        1,
        "userinfo with the new access token"
    );
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn r4_invalid_grant_on_refresh_ends_the_session() {
    let provider = start().await;
    provider.configure(|b| b.refresh_error = Some("invalid_grant".into()));
    let client = app(&provider, &[]).await;
    let (seen, _) = logged_in_with_page(&provider, &client).await;
    let reply = forced_refresh(&client).await;
    assert_rejected_reply(&reply, 401, &provider, &seen);
    assert!(reply.body.contains("session_ended"), "{}", reply.body);
    assert_eq!(provider.hits().refresh, 1, "no retry");
    assert_logged_out(&client, &provider).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn r5_concurrent_refreshes_make_one_call() {
    let provider = start().await;
    provider.configure(|b| b.expires_in = Some(5)); // inside the 30 s leeway: refresh due
    let client = app(&provider, &[]).await;
    let (mut seen, _) = logged_in_with_page(&provider, &client).await;
    let requests = (0..10).map(|_| client.get("/token").header(Accept::JSON).dispatch());
    let responses = rocket::futures::future::join_all(requests).await;
    let mut tokens = Vec::new();
    for response in responses {
        assert_eq!(response.status(), Status::Ok);
        let body = response.into_string().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        tokens.push(body["access_token"].as_str().unwrap_or_default().to_owned());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "all requests share the one refresh");
    assert_eq!(provider.hits().refresh, 1);
    seen.extend(tokens);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn r6_refresh_without_id_token_or_refresh_token_keeps_the_old_ones() {
    let provider = start().await;
    provider.configure(|b| {
        b.refresh_id_token = false;
        b.rotate_refresh_token = false;
    });
    let client = app(&provider, &[]).await;
    let (mut seen, before) = logged_in_with_page(&provider, &client).await;
    for round in 1..=2 {
        // The second round works only if the first kept the refresh token.
        let (status, token) = page(&client, "/token?force=true").await;
        assert_eq!(status, Status::Ok, "round {round}: {token}");
        seen.push(
            token["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(provider.hits().refresh, 2);
    let (status, after) = page(&client, "/").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        after["id_token"], before["id_token"],
        "the ID token is kept"
    );
    assert_ne!(after["access_token"], before["access_token"]);
    assert_logs_clean(Some(&provider), &seen);
}

// ---------------------------------------------------------------------------------------------
// 4.9 Session, cookies, return URL, API behaviour.

#[rocket::async_test]
async fn s1_a_planted_session_cookie_is_replaced_at_login() {
    let provider = start().await;
    let figment = settings(&provider, &[]);
    let attacker = client_with(figment.clone()).await;
    let victim = client_with(figment).await;
    provider.set_user("mallory", json!({}));
    let mut seen = logged_in(&provider, &attacker).await;
    let planted = cookies_named(&attacker, SESSION);
    assert!(!planted.is_empty());
    // The victim's login completes in a browser that carries the attacker's session cookie.
    provider.set_user("alice", json!({}));
    let response = provider_response(&provider, &victim, "/").await;
    seen.extend(secrets_of(&response));
    let done = victim
        .get(local(&response))
        .header(Accept::HTML)
        .cookies(planted.clone())
        .dispatch()
        .await;
    let done = read_reply(done).await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert!(done.session_created);
    // A new session value for the victim...
    let fresh = cookies_named(&victim, SESSION);
    let chunk = format!("{SESSION}0");
    assert_ne!(value_of(&fresh, &chunk), value_of(&planted, &chunk));
    let (status, body) = page(&victim, "/").await;
    assert_eq!(
        (status, &body["id_token"]["sub"]),
        (Status::Ok, &json!("alice"))
    );
    // ...and the planted one is still only the attacker's own.
    let (status, body) = page(&attacker, "/").await;
    assert_eq!(
        (status, &body["id_token"]["sub"]),
        (Status::Ok, &json!("mallory"))
    );
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s2_flipped_truncated_or_foreign_session_cookie_is_no_session() {
    let provider = start().await;
    let figment = settings(&provider, &[]);
    let client = client_with(figment.clone()).await;
    let mut seen = logged_in(&provider, &client).await;
    let session = cookies_named(&client, SESSION);
    let chunk = format!("{SESSION}0");
    let original = value_of(&session, &chunk);
    let probe = client_with(figment).await;
    assert_eq!(status_with(&probe, session.clone()).await, Status::Ok);
    // A session of another application (another secret key) with the same provider.
    let other = app(&provider, &[]).await;
    seen.extend(logged_in(&provider, &other).await);
    let foreign = value_of(&cookies_named(&other, SESSION), &chunk);
    let spoilt = [
        ("flipped", flipped(&original)),
        ("truncated", original[..original.len() / 2].to_owned()),
        ("emptied", String::new()),
        ("foreign", foreign),
    ];
    for (what, value) in spoilt {
        let cookies = replaced(&session, &chunk, &value);
        assert_eq!(
            status_with(&probe, cookies.clone()).await,
            Status::Unauthorized,
            "{what}"
        );
        // A navigation is sent to log in: no error page, no 500.
        let navigation = probe
            .get("/")
            .header(Accept::HTML)
            .cookies(cookies)
            .dispatch()
            .await;
        assert_eq!(navigation.status(), Status::SeeOther, "{what}");
        assert!(
            location(&navigation).starts_with(provider.issuer()),
            "{what}"
        );
    }
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s3_session_chunks_missing_reordered_duplicated_or_extra() {
    let provider = start().await;
    let groups: Vec<String> = (0..250).map(|i| format!("group-number-{i:04}")).collect();
    provider.set_user("bob", json!({ "groups": groups }));
    let figment = settings(&provider, &[]);
    let client = client_with(figment.clone()).await;
    let seen = logged_in(&provider, &client).await;
    let chunks = cookies_named(&client, SESSION);
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    let name = |index: usize| format!("{SESSION}{index}");
    let value = |index: usize| value_of(&chunks, &name(index));
    let probe = client_with(figment).await;
    assert_eq!(status_with(&probe, chunks.clone()).await, Status::Ok);

    let second = name(1);
    let missing: Vec<Cookie<'static>> = chunks
        .iter()
        .filter(|c| c.name() != second.as_str())
        .cloned()
        .collect();
    let reordered = replaced(&replaced(&chunks, &name(1), &value(2)), &name(2), &value(1));
    let duplicated = replaced(&chunks, &name(2), &value(1));
    let spoilt = [
        ("missing", missing),
        ("reordered", reordered),
        ("duplicated", duplicated),
    ];
    for (what, cookies) in spoilt {
        assert_eq!(
            status_with(&probe, cookies).await,
            Status::Unauthorized,
            "{what}"
        );
    }

    // Our design: a chunk past the end (`.9`) is never read, so it neither breaks nor extends
    // the session; the next write of the session removes it.
    let extra = Cookie::new(name(9), "a-stale-chunk");
    let mut with_extra = chunks.clone();
    with_extra.push(extra.clone());
    assert_eq!(status_with(&probe, with_extra).await, Status::Ok);
    let refresh = client
        .get("/token?force=true")
        .header(Accept::JSON)
        .cookie(extra)
        .dispatch()
        .await;
    assert_eq!(refresh.status(), Status::Ok);
    let set = set_cookies(&refresh);
    let removal = format!("{}=;", name(9));
    assert!(
        set.iter().any(|c| c.starts_with(removal.as_str())),
        "{set:?}"
    );
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s4_the_absolute_lifetime_ends_an_active_session() {
    let provider = start().await;
    let client = app(&provider, &[("oidc.session_lifetime", json!(2))]).await;
    let seen = logged_in(&provider, &client).await;
    assert_eq!(page(&client, "/").await.0, Status::Ok);
    sleep(2.2).await;
    assert_logged_out(&client, &provider).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s5_the_inactivity_timeout_ends_an_idle_session() {
    let provider = start().await;
    let extra = [("oidc.session_inactivity_timeout", json!(1))];
    let client = app(&provider, &extra).await;
    let seen = logged_in(&provider, &client).await;
    assert_eq!(page(&client, "/").await.0, Status::Ok);
    sleep(2.2).await;
    assert_logged_out(&client, &provider).await;
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s6_a_replayed_old_session_cookie_is_still_expired() {
    let provider = start().await;
    let figment = settings(&provider, &[("oidc.session_lifetime", json!(2))]);
    let client = client_with(figment.clone()).await;
    let seen = logged_in(&provider, &client).await;
    let copied = cookies_named(&client, SESSION);
    let probe = client_with(figment).await;
    assert_eq!(status_with(&probe, copied.clone()).await, Status::Ok);
    sleep(2.2).await;
    // The cookie is sent regardless of its `Expires`: the server-side time decides.
    assert_eq!(status_with(&probe, copied).await, Status::Unauthorized);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s7_a_cookie_of_another_secret_key_is_no_session() {
    // A cookie sealed with a key the app no longer has (neither `secret_key` nor one of
    // `oidc.previous_secret_keys`) is cleanly no session (anonymous, no 500), and the user
    // simply logs in again. Rotation itself (a previous key still accepted, the cookie
    // re-sealed under the new one): tests/key_rotation.rs.
    let provider = start().await;
    let before_rotation = app(&provider, &[]).await;
    let mut seen = logged_in(&provider, &before_rotation).await;
    let old = cookies_named(&before_rotation, SESSION);
    let rotated = app(&provider, &[]).await;
    assert_eq!(
        status_with(&rotated, old.clone()).await,
        Status::Unauthorized
    );
    let navigation = rotated
        .get("/")
        .header(Accept::HTML)
        .cookies(old)
        .dispatch()
        .await;
    assert_eq!(navigation.status(), Status::SeeOther);
    seen.extend(logged_in(&provider, &rotated).await);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s8_set_cookie_audit() {
    let provider = start().await;
    provider.allow_redirect_uri("https://app.example/redirect_uri");
    for base_url in ["http://127.0.0.1:8000", "https://app.example"] {
        let https = base_url.starts_with("https:");
        let client = app(&provider, &[("oidc.base_url", json!(base_url))]).await;
        let navigation = client.get("/").header(Accept::HTML).dispatch().await;
        let mut set = set_cookies(&navigation);
        let response = provider.authorize(&location(&navigation)).await;
        let seen = secrets_of(&response);
        let done = client
            .get(local(&response))
            .header(Accept::HTML)
            .dispatch()
            .await;
        assert_eq!(done.status(), Status::SeeOther, "{base_url}");
        set.extend(set_cookies(&done));
        assert!(
            set.iter().any(|c| c.contains("oidc_session.0=")),
            "{base_url}: {set:?}"
        );
        for cookie in &set {
            assert!(cookie.contains("; HttpOnly"), "{cookie}");
            assert!(cookie.contains("; SameSite=Lax"), "{cookie}");
            assert!(cookie.contains("; Path=/"), "{cookie}");
            assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
            assert_eq!(cookie.contains("; Secure"), https, "{cookie}");
            assert_eq!(cookie.starts_with("__Host-"), https, "{cookie}");
        }
        assert_logs_clean(Some(&provider), &seen);
    }
    // form_post: the pending login alone is `SameSite=None; Secure`.
    let extra = [("oidc.providers.default.response_mode", json!("form_post"))];
    let client = app(&provider, &extra).await;
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let set = set_cookies(&navigation);
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].starts_with(PENDING), "{set:?}");
    for attribute in ["; HttpOnly", "; SameSite=None", "; Secure", "; Path=/"] {
        assert!(set[0].contains(attribute), "{attribute}: {set:?}");
    }
}

#[rocket::async_test]
async fn s9_return_urls_that_leave_the_site_become_the_default() {
    let provider = start().await;
    let client = app(&provider, &[("oidc.login_path", json!("/login"))]).await;
    let long = format!("/{}", "a".repeat(10 * 1024));
    let cases = [
        ("//evil.com", "/"),
        ("/\\evil.com", "/"),
        ("\\/evil.com", "/"),
        ("https://evil.com", "/"),
        ("/%2f%2fevil.com", "/"),
        ("/%5cevil.com", "/"),
        ("/%09/evil.com", "/"),
        ("javascript:alert(1)", "/"),
        ("/%0d%0aSet-Cookie:x=y", "/"),
        (long.as_str(), "/"),
        // A same-origin path, though it looks like a URL.
        ("/https://evil.com", "/https://evil.com"),
        ("/orders?page=2", "/orders?page=2"),
    ];
    let mut seen = Vec::new();
    for (return_to, expected) in cases {
        let path = format!("/login?return_to={}", enc(return_to));
        let response = provider_response(&provider, &client, &path).await;
        seen.extend(secrets_of(&response));
        let done = provider.deliver(&client, &response).await;
        assert_eq!(
            done.status,
            Status::SeeOther,
            "{return_to:.40}: {}",
            done.body
        );
        assert_eq!(done.location.as_deref(), Some(expected), "{return_to:.40}");
    }
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s10_unauthenticated_fetch_gets_401_and_no_pending_login() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let cases = [
        vec![Header::new("Accept", "application/json")],
        vec![
            Header::new("Sec-Fetch-Mode", "cors"),
            Header::new("Accept", "*/*"),
        ],
        vec![
            Header::new("X-Requested-With", "XMLHttpRequest"),
            Header::new("Accept", "text/html"),
        ],
    ];
    for headers in cases {
        let mut request = client.get("/");
        for header in headers {
            request = request.header(header);
        }
        let reply = read_reply(request.dispatch().await).await;
        assert_rejected_reply(&reply, 401, &provider, &[]);
        assert!(reply.location.is_none(), "{:?}", reply.location);
        assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    }
    // A form POST to a protected route never starts a login either.
    let post = client
        .post("/")
        .header(rocket::http::ContentType::Form)
        .dispatch()
        .await;
    assert_ne!(post.status(), Status::SeeOther);
    assert_eq!(provider.hits().authorize, 0);
    assert_eq!(pending_logins(&client), 0);
    assert_logs_clean(Some(&provider), &[]);
}

#[rocket::async_test]
async fn s11_unauthenticated_navigation_goes_to_the_provider_with_a_fresh_state() {
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let authorize_endpoint = format!("{}/authorize?", provider.issuer());
    let mut states = Vec::new();
    for _ in 0..2 {
        let navigation = client.get("/").header(Accept::HTML).dispatch().await;
        assert_eq!(navigation.status(), Status::SeeOther);
        let authorize = location(&navigation);
        assert!(
            authorize.starts_with(authorize_endpoint.as_str()),
            "{authorize}"
        );
        let state = param(&authorize, "state").expect("a state");
        assert_eq!(state.len(), 43, "{state}");
        let set = set_cookies(&navigation);
        assert_eq!(set.len(), 1, "{set:?}");
        let name = format!("{PENDING}{state}=");
        assert!(set[0].starts_with(name.as_str()), "{set:?}");
        states.push(state);
    }
    assert_ne!(states[0], states[1]);
    assert_logs_clean(Some(&provider), &[]);
}

#[rocket::async_test]
async fn s12_many_navigations_keep_the_pending_logins_bounded() {
    // 50 navigations instead of 1000: the cap (3) holds from the fourth on.
    let provider = start().await;
    let client = app(&provider, &[]).await;
    for _ in 0..50 {
        client.get("/").header(Accept::HTML).dispatch().await;
    }
    assert!(pending_logins(&client) <= 3, "{}", pending_logins(&client));
    let header: usize = client
        .cookies()
        .iter()
        .map(|c| c.name().len() + c.value().len() + 3)
        .sum();
    assert!(header < 8 * 1024, "a Cookie header of {header} bytes");
    assert_logs_clean(Some(&provider), &[]);
}

#[rocket::async_test]
async fn s13_identity_headers_from_the_client_are_ignored() {
    // Claims are never passed as headers (see U7), and no request header is ever taken for an
    // identity: forged ones neither log anybody in nor change the logged-in user.
    let provider = start().await;
    provider.set_user("alice", json!({}));
    let client = app(&provider, &[]).await;
    let forged = || {
        [
            Header::new("X-Forwarded-User", "admin"),
            Header::new("X-Remote-User", "admin"),
            Header::new("Remote-User", "admin"),
            Header::new("OIDC_CLAIM_sub", "admin"),
            Header::new("X-Auth-Request-User", "admin"),
        ]
    };
    let mut request = client.get("/").header(Accept::JSON);
    for header in forged() {
        request = request.header(header);
    }
    assert_eq!(request.dispatch().await.status(), Status::Unauthorized);
    let seen = logged_in(&provider, &client).await;
    let mut request = client.get("/").header(Accept::JSON);
    for header in forged() {
        request = request.header(header);
    }
    let response = request.dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
    assert_eq!(body["id_token"]["sub"], "alice");
    assert_eq!(body["userinfo"]["sub"], "alice");
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s14_tokens_never_in_urls_pages_or_logs() {
    // Every token in the front channel too: code, ID token and access token.
    let provider = start().await;
    let extra = [(
        "oidc.providers.default.response_type",
        json!("code id_token token"),
    )];
    let client = app(&provider, &extra).await;
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize = location(&navigation);
    assert!(!authorize.contains(provider.client_secret()), "{authorize}");
    let response = provider.authorize(&authorize).await;
    let seen = secrets_of(&response);
    assert_eq!(seen.len(), 3, "{response}");
    // The relay page (the browser's GET, without the fragment) and the final redirect.
    let relay = read_reply(
        client
            .get("/redirect_uri")
            .header(Accept::HTML)
            .dispatch()
            .await,
    )
    .await;
    assert_eq!(relay.status, Status::Ok);
    assert_clean(&relay.body, relay.location.as_deref(), &seen);
    assert!(!relay.body.contains("eyJ"), "{}", relay.body);
    let done = provider.deliver(&client, &response).await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/"));
    // Nor are the tokens of the token response (its access token, its refresh token), which
    // the browser never saw.
    assert!(
        provider.issued_tokens().iter().any(|t| !seen.contains(t)),
        "the token response's tokens are checked too"
    );
    let issued = with_issued(Some(&provider), &seen);
    assert_clean(&done.body, done.location.as_deref(), &issued);
    // An error page neither.
    client.get("/logout").dispatch().await;
    provider.configure(|b| b.signing = Signing::BadSignature);
    let attempt = expect_refusal(&provider, &client, 400).await;
    assert!(attempt.body.contains("signature"), "{}", attempt.body);
    assert_logs_clean(Some(&provider), &seen);
}

#[rocket::async_test]
async fn s15_callback_and_error_pages_send_no_referrer() {
    fn assert_private(response: &LocalResponse<'_>, what: &str) {
        let header = |name: &str| response.headers().get_one(name).map(str::to_owned);
        assert_eq!(
            header("Referrer-Policy").as_deref(),
            Some("no-referrer"),
            "{what}"
        );
        assert_eq!(
            header("Cache-Control").as_deref(),
            Some("no-store"),
            "{what}"
        );
    }
    let provider = start().await;
    let client = app(&provider, &[]).await;
    let response = provider_response(&provider, &client, "/").await;
    let seen = secrets_of(&response);
    let done = client
        .get(local(&response))
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(done.status(), Status::SeeOther);
    assert_private(&done, "the callback");
    let again = client
        .get(local(&response))
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(again.status(), Status::BadRequest);
    assert_private(&again, "the error page");
    // The relay page of a fragment response.
    let extra = [("oidc.providers.default.response_type", json!("id_token"))];
    let implicit = app(&provider, &extra).await;
    implicit.get("/").header(Accept::HTML).dispatch().await;
    let relay = implicit
        .get("/redirect_uri")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(relay.status(), Status::Ok);
    assert_private(&relay, "the relay page");
    assert_logs_clean(Some(&provider), &seen);
}
