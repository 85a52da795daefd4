//! An in-process OpenID Provider for tests (feature `testing`).
//!
//! [`TestProvider`] is a small but real OP on a loopback port: discovery, a key set, an
//! authorization endpoint that logs in a configurable user without asking, a token endpoint
//! (client authentication, single-use codes, PKCE S256) and userinfo. It signs real RS256 or
//! ES256 tokens, and can be told to misbehave in every way a hostile or broken provider does
//! ([`Behaviour`]), which no real provider does on request.
//!
//! **Not for production**: it authenticates anybody.
//!
//! # Example
//!
//! ```
//! use rocket::{get, routes};
//! use rocket::local::asynchronous::Client;
//! use rocket_openidconnect::{OidcUser, OpenIdConnect, testing::TestProvider};
//!
//! #[get("/")]
//! fn index(user: OidcUser) -> String {
//!     user.claims().subject().to_owned()
//! }
//!
//! # rocket::async_test(async {
//! let provider = TestProvider::start().await;
//! provider.set_user("alice", serde_json::json!({"email": "alice@example.com"}));
//! let rocket = rocket::custom(provider.app_figment())
//!     .attach(OpenIdConnect::fairing())
//!     .mount("/", routes![index]);
//! let client = Client::tracked(rocket).await.unwrap();
//!
//! let login = provider.login(&client, "/").await;
//! assert_eq!(login.status.code, 303);
//! assert_eq!(login.location.as_deref(), Some("/"));
//! let page = client.get("/").dispatch().await;
//! assert_eq!(page.into_string().await.as_deref(), Some("alice"));
//! # });
//! ```

mod keys;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rocket::figment::Figment;
use rocket::form::Form;
use rocket::http::{Accept, ContentType, Status};
use rocket::local::asynchronous::Client;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{Redirect, Responder};
use rocket::serde::json::Json;
use rocket::{get, post, routes, FromForm, Shutdown};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use keys::{make_jwt, SigningKey};
pub use keys::{Alg, Signing};

type ClaimsTweak = Arc<dyn Fn(&mut Map<String, Value>) + Send + Sync>;

/// What the token endpoint does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenEndpoint {
    /// Answers properly (the default).
    Normal,
    /// Answers with this HTTP status and an HTML body.
    Status(u16),
    /// Answers 200 with a body that is not JSON.
    NotJson,
    /// Answers 400 `{"error": "invalid_grant"}`.
    InvalidGrant,
    /// Waits this long before answering properly.
    Delay(Duration),
}

/// The `iss` parameter of authorization responses (RFC 9207).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssParameter {
    /// The provider's issuer (the default).
    Correct,
    /// No `iss` parameter.
    Omit,
    /// This value.
    Value(String),
}

/// How the provider behaves; change it with [`TestProvider::configure`]. The default is a
/// correct provider.
#[derive(Clone)]
#[non_exhaustive]
pub struct Behaviour {
    /// How ID tokens are signed.
    pub signing: Signing,
    /// Changes the claims of the next ID tokens just before they are signed.
    pub id_token_claims: Option<ClaimsTweak>,
    /// What the token endpoint does.
    pub token_endpoint: TokenEndpoint,
    /// The `token_type` of token responses (default `Bearer`).
    pub token_type: String,
    /// If set, userinfo answers with this `sub`.
    pub userinfo_sub: Option<String>,
    /// If set, the discovery document names this issuer.
    pub discovery_issuer: Option<String>,
    /// Whether discovery advertises `authorization_response_iss_parameter_supported`.
    pub advertise_iss_parameter: bool,
    /// The `iss` parameter of authorization responses.
    pub iss_parameter: IssParameter,
    /// If set, the authorization endpoint answers with this `error`.
    pub authorization_error: Option<String>,
    /// `expires_in` of access tokens (`None`: omitted).
    pub expires_in: Option<i64>,
    /// Whether a refresh token is issued.
    pub refresh_token: bool,
    /// Whether the whole provider answers 503 (an outage).
    pub down: bool,
    /// Whether discovery advertises the end-session and revocation endpoints.
    pub logout_endpoints: bool,
    /// If set, the end-session endpoint sends this `state` back instead of the one it got.
    pub logout_state: Option<String>,
    /// The status the revocation endpoint answers with (default 200).
    pub revocation_status: u16,
    /// If set, refresh requests get this `error` (e.g. `invalid_grant`).
    pub refresh_error: Option<String>,
    /// Whether a refresh returns a new ID token (default `true`).
    pub refresh_id_token: bool,
    /// If set, the ID token of a refresh names this subject.
    pub refresh_sub: Option<String>,
    /// Whether a refresh returns a new refresh token and retires the old one (default `true`).
    pub rotate_refresh_token: bool,
    /// If set, `prompt=none` requests get this `error` (e.g. `login_required`).
    pub prompt_none_error: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            signing: Signing::Valid,
            id_token_claims: None,
            token_endpoint: TokenEndpoint::Normal,
            token_type: "Bearer".into(),
            userinfo_sub: None,
            discovery_issuer: None,
            advertise_iss_parameter: true,
            iss_parameter: IssParameter::Correct,
            authorization_error: None,
            expires_in: Some(300),
            refresh_token: true,
            down: false,
            logout_endpoints: true,
            logout_state: None,
            revocation_status: 200,
            refresh_error: None,
            refresh_id_token: true,
            refresh_sub: None,
            rotate_refresh_token: true,
            prompt_none_error: None,
        }
    }
}

/// How many requests each endpoint of the provider has served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hits {
    /// Discovery document.
    pub discovery: usize,
    /// Key set.
    pub jwks: usize,
    /// Authorization endpoint.
    pub authorize: usize,
    /// Token endpoint.
    pub token: usize,
    /// Userinfo endpoint.
    pub userinfo: usize,
    /// End-session (RP-initiated logout) endpoint.
    pub end_session: usize,
    /// Revocation endpoint.
    pub revocation: usize,
    /// Refresh-token grants (also counted in `token`).
    pub refresh: usize,
}

impl Hits {
    /// All requests together.
    pub fn total(&self) -> usize {
        self.discovery
            + self.jwks
            + self.authorize
            + self.token
            + self.userinfo
            + self.end_session
            + self.revocation
    }
}

#[derive(Default)]
struct Counters {
    discovery: AtomicUsize,
    jwks: AtomicUsize,
    authorize: AtomicUsize,
    token: AtomicUsize,
    userinfo: AtomicUsize,
    end_session: AtomicUsize,
    revocation: AtomicUsize,
    refresh: AtomicUsize,
}

struct IssuedCode {
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    sub: String,
}

struct ProviderState {
    issuer: String,
    client_id: String,
    client_secret: String,
    keys: Mutex<Vec<Arc<SigningKey>>>,
    behaviour: Mutex<Behaviour>,
    user: Mutex<(String, Map<String, Value>)>,
    codes: Mutex<HashMap<String, IssuedCode>>,
    access_tokens: Mutex<HashMap<String, String>>,
    refresh_tokens: Mutex<HashMap<String, String>>,
    redirect_uris: Mutex<Vec<String>>,
    post_logout_redirect_uris: Mutex<Vec<String>>,
    revoked: Mutex<Vec<String>>,
    counters: Counters,
}

impl ProviderState {
    fn behaviour(&self) -> Behaviour {
        self.behaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn current_key(&self) -> Arc<SigningKey> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.last().cloned().expect("the provider has a key")
    }
}

/// A running in-process OpenID Provider. Stops when dropped.
pub struct TestProvider {
    state: Arc<ProviderState>,
    shutdown: Shutdown,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

/// The outcome of [`TestProvider::login`]: the last response of the application.
#[derive(Debug)]
#[non_exhaustive]
pub struct LoginAttempt {
    /// Its status.
    pub status: Status,
    /// Its `Location` header.
    pub location: Option<String>,
    /// Its body.
    pub body: String,
    /// Whether it set a session cookie.
    pub session_created: bool,
    /// Names of the cookies it set or removed.
    pub cookies: Vec<String>,
}

fn random(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn unix_now() -> i64 {
    crate::flow::unix_now()
}

impl TestProvider {
    /// Starts a provider signing with RS256 on a free loopback port.
    pub async fn start() -> TestProvider {
        TestProvider::start_with(Alg::Rs256).await
    }

    /// Starts a provider signing with `alg` on a free loopback port.
    pub async fn start_with(alg: Alg) -> TestProvider {
        let key = rocket::tokio::task::spawn_blocking(move || SigningKey::generate(alg, random(8)))
            .await
            .expect("key generation");
        let figment = Figment::from(rocket::Config::debug_default())
            .merge(("address", "127.0.0.1"))
            .merge(("port", 0))
            .merge(("log_level", "off"))
            .merge(("cli_colors", false))
            .merge(("shutdown.ctrlc", false))
            .merge(("secret_key", STANDARD.encode(random(48))));
        let (port_tx, port_rx) = rocket::tokio::sync::oneshot::channel::<u16>();
        let port_tx = Mutex::new(Some(port_tx));
        let state = Arc::new(ProviderState {
            issuer: String::new(),
            client_id: "test-client".into(),
            client_secret: random(24),
            keys: Mutex::new(vec![Arc::new(key)]),
            behaviour: Mutex::new(Behaviour::default()),
            user: Mutex::new(("test-user".into(), Map::new())),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            redirect_uris: Mutex::new(vec!["http://127.0.0.1:8000/redirect_uri".into()]),
            post_logout_redirect_uris: Mutex::new(vec!["http://127.0.0.1:8000/logout".into()]),
            revoked: Mutex::new(Vec::new()),
            counters: Counters::default(),
        });
        let shared: Arc<Mutex<Option<Arc<ProviderState>>>> = Arc::new(Mutex::new(None));
        let rocket = rocket::custom(figment)
            .manage(shared.clone())
            .mount(
                "/",
                routes![
                    discovery,
                    jwks,
                    authorize,
                    token,
                    userinfo_get,
                    userinfo_post,
                    end_session,
                    revoke
                ],
            )
            .attach(rocket::fairing::AdHoc::on_liftoff("port", move |rocket| {
                let port = rocket.config().port;
                if let Some(tx) = port_tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = tx.send(port);
                }
                Box::pin(async {})
            }));
        let rocket = rocket.ignite().await.expect("test provider ignites");
        let shutdown = rocket.shutdown();
        rocket::tokio::spawn(rocket.launch());
        let port = port_rx.await.expect("test provider starts");
        let state = Arc::new(ProviderState {
            issuer: format!("http://127.0.0.1:{port}"),
            ..Arc::into_inner(state).expect("not shared yet")
        });
        *shared.lock().unwrap_or_else(|e| e.into_inner()) = Some(state.clone());
        TestProvider { state, shutdown }
    }

    /// The issuer URL (`http://127.0.0.1:<port>`).
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The client id registered at this provider.
    pub fn client_id(&self) -> &str {
        &self.state.client_id
    }

    /// The client secret registered at this provider.
    pub fn client_secret(&self) -> &str {
        &self.state.client_secret
    }

    /// Registers another redirect URI for the client (`http://127.0.0.1:8000/redirect_uri`, the
    /// callback of [`app_figment`](Self::app_figment), is registered from the start). The
    /// authorization endpoint refuses any other, like a real provider.
    pub fn allow_redirect_uri(&self, uri: &str) {
        self.state
            .redirect_uris
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(uri.to_owned());
    }

    /// Registers another post-logout redirect URI (`http://127.0.0.1:8000/logout` is registered
    /// from the start). The end-session endpoint refuses any other.
    pub fn allow_post_logout_redirect_uri(&self, uri: &str) {
        self.state
            .post_logout_redirect_uris
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(uri.to_owned());
    }

    /// The tokens revoked so far (RFC 7009), in order.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.state
            .revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the user the next logins authenticate: its `sub` and extra claims (in the ID
    /// token and in userinfo).
    pub fn set_user(&self, sub: &str, claims: Value) {
        let claims = match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        *self.state.user.lock().unwrap_or_else(|e| e.into_inner()) = (sub.to_owned(), claims);
    }

    /// Changes how the provider behaves.
    pub fn configure(&self, change: impl FnOnce(&mut Behaviour)) {
        change(
            &mut self
                .state
                .behaviour
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
    }

    /// Replaces the signing key by a new one with a new `kid` (key rotation). The key set then
    /// holds only the new key.
    pub async fn rotate_keys(&self) {
        let alg = self.state.current_key().alg();
        let key = rocket::tokio::task::spawn_blocking(move || SigningKey::generate(alg, random(8)))
            .await
            .expect("key generation");
        *self.state.keys.lock().unwrap_or_else(|e| e.into_inner()) = vec![Arc::new(key)];
    }

    /// Adds a second key of the same kind to the key set, without using it.
    pub async fn add_unused_key(&self) {
        let alg = self.state.current_key().alg();
        let key = rocket::tokio::task::spawn_blocking(move || SigningKey::generate(alg, random(8)))
            .await
            .expect("key generation");
        self.state
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(0, Arc::new(key));
    }

    /// Requests served so far, per endpoint.
    pub fn hits(&self) -> Hits {
        let c = &self.state.counters;
        Hits {
            discovery: c.discovery.load(Ordering::SeqCst),
            jwks: c.jwks.load(Ordering::SeqCst),
            authorize: c.authorize.load(Ordering::SeqCst),
            token: c.token.load(Ordering::SeqCst),
            userinfo: c.userinfo.load(Ordering::SeqCst),
            end_session: c.end_session.load(Ordering::SeqCst),
            revocation: c.revocation.load(Ordering::SeqCst),
            refresh: c.refresh.load(Ordering::SeqCst),
        }
    }

    /// The `[oidc.providers.<name>]` table for an application using this provider.
    pub fn provider_table(&self) -> Value {
        json!({
            "issuer": self.issuer(),
            "client_id": self.client_id(),
            "client_secret": self.client_secret(),
            "scope": ["openid", "profile", "email"],
        })
    }

    /// A Rocket figment for an application whose `default` provider is this one: a random
    /// `secret_key`, `base_url = "http://127.0.0.1:8000"`, logging off.
    pub fn app_figment(&self) -> Figment {
        Figment::from(rocket::Config::debug_default())
            .merge(("log_level", "off"))
            .merge(("cli_colors", false))
            .merge(("secret_key", STANDARD.encode(random(48))))
            .merge(("oidc.base_url", "http://127.0.0.1:8000"))
            .merge(("oidc.providers.default", self.provider_table()))
    }

    /// Logs the `client` in like a browser would: requests `path`, follows the redirect to this
    /// provider (which authenticates the current user without asking) and the redirect back to
    /// the application's callback. Returns the application's last response; a successful login
    /// is a 303 to `path`.
    pub async fn login(&self, client: &Client, path: &str) -> LoginAttempt {
        let start = client
            .get(path.to_owned())
            .header(Accept::HTML)
            .dispatch()
            .await;
        let location = start.headers().get_one("Location").map(str::to_owned);
        let authorize_url = match location {
            Some(url) if start.status() == Status::SeeOther && url.starts_with(self.issuer()) => {
                url
            }
            _ => return LoginAttempt::read(start).await,
        };
        let callback = self.authorize(&authorize_url).await;
        self.deliver(client, &callback).await
    }

    /// Logs the `client` out like a browser would: requests `path` (a logout route), follows
    /// the redirect to this provider's end-session endpoint, if any, and the redirect back.
    /// Returns the application's last response.
    pub async fn logout(&self, client: &Client, path: &str) -> LoginAttempt {
        let start = client
            .get(path.to_owned())
            .header(Accept::HTML)
            .dispatch()
            .await;
        let location = start.headers().get_one("Location").map(str::to_owned);
        match location {
            Some(url) if start.status() == Status::SeeOther && url.starts_with(self.issuer()) => {
                let back = self.authorize(&url).await;
                self.deliver(client, &back).await
            }
            _ => LoginAttempt::read(start).await,
        }
    }

    /// Calls the authorization endpoint like a browser and returns where it redirects to (the
    /// application's callback URL with `code` and `state`, or an error).
    pub async fn authorize(&self, authorize_url: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        let response = http
            .get(authorize_url)
            .send()
            .await
            .expect("authorization endpoint");
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("the authorization endpoint redirects")
    }

    /// Sends a callback URL (as returned by [`authorize`](Self::authorize)) to the
    /// application.
    pub async fn deliver(&self, client: &Client, callback_url: &str) -> LoginAttempt {
        let local = url::Url::parse(callback_url)
            .map(|u| {
                format!(
                    "{}{}",
                    u.path(),
                    u.query().map(|q| format!("?{q}")).unwrap_or_default()
                )
            })
            .unwrap_or_else(|_| callback_url.to_owned());
        let response = client.get(local).header(Accept::HTML).dispatch().await;
        LoginAttempt::read(response).await
    }
}

impl LoginAttempt {
    async fn read(response: rocket::local::asynchronous::LocalResponse<'_>) -> LoginAttempt {
        let status = response.status();
        let location = response.headers().get_one("Location").map(str::to_owned);
        let cookies: Vec<String> = response
            .cookies()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let session_created = response
            .cookies()
            .iter()
            .any(|c| c.name().contains("oidc_session.") && !c.value().is_empty());
        let body = response.into_string().await.unwrap_or_default();
        LoginAttempt {
            status,
            location,
            body,
            session_created,
            cookies,
        }
    }
}

// ---- the provider's endpoints ----

struct Op(Arc<ProviderState>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Op {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let shared = req
            .rocket()
            .state::<Arc<Mutex<Option<Arc<ProviderState>>>>>();
        let state = shared.and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).clone());
        match state {
            Some(state) if !state.behaviour().down => Outcome::Success(Op(state)),
            _ => Outcome::Error((Status::ServiceUnavailable, ())),
        }
    }
}

#[get("/.well-known/openid-configuration")]
fn discovery(op: Op) -> Json<Value> {
    let s = &op.0;
    s.counters.discovery.fetch_add(1, Ordering::SeqCst);
    let behaviour = s.behaviour();
    let issuer = behaviour
        .discovery_issuer
        .unwrap_or_else(|| s.issuer.clone());
    let base = &s.issuer;
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": behaviour.advertise_iss_parameter,
    });
    if behaviour.logout_endpoints {
        document["end_session_endpoint"] = format!("{base}/end_session").into();
        document["revocation_endpoint"] = format!("{base}/revoke").into();
    }
    Json(document)
}

#[get("/jwks")]
fn jwks(op: Op) -> Json<Value> {
    op.0.counters.jwks.fetch_add(1, Ordering::SeqCst);
    let keys = op.0.keys.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }))
}

#[derive(FromForm)]
struct AuthorizeParams {
    client_id: String,
    redirect_uri: String,
    response_type: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
}

#[get("/authorize?<params..>")]
fn authorize(op: Op, params: AuthorizeParams) -> Result<Redirect, (Status, &'static str)> {
    let s = &op.0;
    s.counters.authorize.fetch_add(1, Ordering::SeqCst);
    if params.client_id != s.client_id || params.response_type != "code" {
        return Err((
            Status::BadRequest,
            "unknown client or unsupported response_type",
        ));
    }
    if params.code_challenge.is_some() && params.code_challenge_method.as_deref() != Some("S256") {
        return Err((Status::BadRequest, "only S256 PKCE is supported"));
    }
    let registered = s
        .redirect_uris
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&params.redirect_uri);
    if !registered {
        return Err((Status::BadRequest, "unregistered redirect_uri"));
    }
    let behaviour = s.behaviour();
    let mut target = url::Url::parse(&params.redirect_uri)
        .map_err(|_| (Status::BadRequest, "invalid redirect_uri"))?;
    {
        let mut query = target.query_pairs_mut();
        let prompt_none_error = behaviour
            .prompt_none_error
            .as_ref()
            .filter(|_| params.prompt.as_deref() == Some("none"));
        if let Some(error) = prompt_none_error {
            query.append_pair("error", error);
        } else if let Some(error) = &behaviour.authorization_error {
            query.append_pair("error", error);
            query.append_pair(
                "error_description",
                "<script>alert('the provider said no')</script>",
            );
        } else {
            let code = random(24);
            let sub = s.user.lock().unwrap_or_else(|e| e.into_inner()).0.clone();
            s.codes.lock().unwrap_or_else(|e| e.into_inner()).insert(
                code.clone(),
                IssuedCode {
                    redirect_uri: params.redirect_uri.clone(),
                    nonce: params.nonce.clone(),
                    code_challenge: params.code_challenge.clone(),
                    sub,
                },
            );
            query.append_pair("code", &code);
        }
        if let Some(state) = &params.state {
            query.append_pair("state", state);
        }
        match &behaviour.iss_parameter {
            IssParameter::Correct => {
                query.append_pair("iss", &s.issuer);
            }
            IssParameter::Value(v) => {
                query.append_pair("iss", v);
            }
            IssParameter::Omit => {}
        }
    }
    Ok(Redirect::to(String::from(target)))
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
}

/// The `Authorization` header, if any.
struct AuthorizationHeader(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthorizationHeader {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(AuthorizationHeader(
            req.headers().get_one("Authorization").map(str::to_owned),
        ))
    }
}

/// A JSON or raw response with a status.
#[derive(Responder)]
enum TokenReply {
    Json((Status, Json<Value>)),
    Raw((Status, (ContentType, String))),
}

fn token_error(status: Status, error: &str) -> TokenReply {
    TokenReply::Json((status, Json(json!({ "error": error }))))
}

fn client_authenticated(
    s: &ProviderState,
    header: &AuthorizationHeader,
    form: &TokenParams,
) -> bool {
    let decode = |v: &str| {
        percent_encoding::percent_decode_str(&v.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    if let Some(basic) = header.0.as_deref().and_then(|h| h.strip_prefix("Basic ")) {
        let Ok(decoded) = STANDARD.decode(basic) else {
            return false;
        };
        let text = String::from_utf8_lossy(&decoded).into_owned();
        return match text.split_once(':') {
            Some((id, secret)) => decode(id) == s.client_id && decode(secret) == s.client_secret,
            None => false,
        };
    }
    form.client_id.as_deref() == Some(s.client_id.as_str())
        && form.client_secret.as_deref() == Some(s.client_secret.as_str())
}

#[post("/token", data = "<form>")]
async fn token(op: Op, auth: AuthorizationHeader, form: Form<TokenParams>) -> TokenReply {
    let s = op.0.clone();
    s.counters.token.fetch_add(1, Ordering::SeqCst);
    let behaviour = s.behaviour();
    match &behaviour.token_endpoint {
        TokenEndpoint::Status(code) => {
            let status = Status::from_code(*code).unwrap_or(Status::InternalServerError);
            return TokenReply::Raw((status, (ContentType::HTML, "<h1>oops</h1>".into())));
        }
        TokenEndpoint::NotJson => {
            return TokenReply::Raw((
                Status::Ok,
                (ContentType::HTML, "<html>not json</html>".into()),
            ))
        }
        TokenEndpoint::InvalidGrant => return token_error(Status::BadRequest, "invalid_grant"),
        TokenEndpoint::Delay(d) => rocket::tokio::time::sleep(*d).await,
        TokenEndpoint::Normal => {}
    }
    if !client_authenticated(&s, &auth, &form) {
        return token_error(Status::Unauthorized, "invalid_client");
    }
    if form.grant_type == "refresh_token" {
        return refresh(&s, &form, &behaviour);
    }
    if form.grant_type != "authorization_code" {
        return token_error(Status::BadRequest, "unsupported_grant_type");
    }
    let issued = form
        .code
        .as_deref()
        .and_then(|c| s.codes.lock().unwrap_or_else(|e| e.into_inner()).remove(c));
    let Some(issued) = issued else {
        return token_error(Status::BadRequest, "invalid_grant");
    };
    if form.redirect_uri.as_deref() != Some(issued.redirect_uri.as_str()) {
        return token_error(Status::BadRequest, "invalid_grant");
    }
    if let Some(challenge) = &issued.code_challenge {
        let verifier = form.code_verifier.as_deref().unwrap_or_default();
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
            return token_error(Status::BadRequest, "invalid_grant");
        }
    }
    let id_token = s.id_token(&issued, &behaviour);
    let body = s.token_body(
        &issued.sub,
        Some(id_token),
        behaviour.refresh_token,
        &behaviour,
    );
    TokenReply::Json((Status::Ok, Json(body)))
}

/// The refresh-token grant.
fn refresh(s: &ProviderState, form: &TokenParams, behaviour: &Behaviour) -> TokenReply {
    s.counters.refresh.fetch_add(1, Ordering::SeqCst);
    if let Some(error) = &behaviour.refresh_error {
        return token_error(Status::BadRequest, error);
    }
    let presented = form.refresh_token.as_deref().unwrap_or_default();
    let sub = {
        let mut tokens = s.refresh_tokens.lock().unwrap_or_else(|e| e.into_inner());
        if behaviour.rotate_refresh_token {
            tokens.remove(presented)
        } else {
            tokens.get(presented).cloned()
        }
    };
    let Some(sub) = sub else {
        return token_error(Status::BadRequest, "invalid_grant");
    };
    let id_token = behaviour.refresh_id_token.then(|| {
        let issued = IssuedCode {
            redirect_uri: String::new(),
            nonce: None,
            code_challenge: None,
            sub: behaviour.refresh_sub.clone().unwrap_or_else(|| sub.clone()),
        };
        s.id_token(&issued, behaviour)
    });
    let body = s.token_body(&sub, id_token, behaviour.rotate_refresh_token, behaviour);
    TokenReply::Json((Status::Ok, Json(body)))
}

impl ProviderState {
    /// A token response: a new access token for `sub`, the ID token, and a new refresh token
    /// if `new_refresh_token`.
    fn token_body(
        &self,
        sub: &str,
        id_token: Option<String>,
        new_refresh_token: bool,
        behaviour: &Behaviour,
    ) -> Value {
        let access_token = random(32);
        {
            let mut tokens = self.access_tokens.lock().unwrap_or_else(|e| e.into_inner());
            if tokens.len() > 10_000 {
                tokens.clear();
            }
            tokens.insert(access_token.clone(), sub.to_owned());
        }
        let mut body = json!({ "access_token": access_token, "token_type": behaviour.token_type });
        if let Some(id_token) = id_token {
            body["id_token"] = id_token.into();
        }
        if let Some(expires_in) = behaviour.expires_in {
            body["expires_in"] = expires_in.into();
        }
        if new_refresh_token {
            let refresh_token = random(32);
            let mut tokens = self
                .refresh_tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if tokens.len() > 10_000 {
                tokens.clear();
            }
            tokens.insert(refresh_token.clone(), sub.to_owned());
            body["refresh_token"] = refresh_token.into();
        }
        body
    }

    fn id_token(&self, issued: &IssuedCode, behaviour: &Behaviour) -> String {
        let now = unix_now();
        let mut claims = Map::new();
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("sub".into(), issued.sub.clone().into());
        claims.insert("aud".into(), self.client_id.clone().into());
        claims.insert("exp".into(), (now + 300).into());
        claims.insert("iat".into(), now.into());
        claims.insert("auth_time".into(), now.into());
        if let Some(nonce) = &issued.nonce {
            claims.insert("nonce".into(), nonce.clone().into());
        }
        let extra = self
            .user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone();
        claims.extend(extra);
        if let Some(tweak) = &behaviour.id_token_claims {
            tweak(&mut claims);
        }
        make_jwt(&self.current_key(), &behaviour.signing, Map::new(), &claims)
    }
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

fn userinfo(op: &Op, bearer: Bearer) -> (Status, Json<Value>) {
    let s = &op.0;
    s.counters.userinfo.fetch_add(1, Ordering::SeqCst);
    let sub = bearer.0.and_then(|t| {
        s.access_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&t)
            .cloned()
    });
    let Some(sub) = sub else {
        return (
            Status::Unauthorized,
            Json(json!({ "error": "invalid_token" })),
        );
    };
    let mut claims = s.user.lock().unwrap_or_else(|e| e.into_inner()).1.clone();
    let sub = s.behaviour().userinfo_sub.unwrap_or(sub);
    claims.insert("sub".into(), sub.into());
    (Status::Ok, Json(Value::Object(claims)))
}

#[get("/userinfo")]
fn userinfo_get(op: Op, bearer: Bearer) -> (Status, Json<Value>) {
    userinfo(&op, bearer)
}

#[post("/userinfo")]
fn userinfo_post(op: Op, bearer: Bearer) -> (Status, Json<Value>) {
    userinfo(&op, bearer)
}

#[derive(FromForm)]
struct EndSessionParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

#[get("/end_session?<params..>")]
fn end_session(op: Op, params: EndSessionParams) -> Result<Redirect, (Status, &'static str)> {
    let s = &op.0;
    s.counters.end_session.fetch_add(1, Ordering::SeqCst);
    if params.client_id.as_deref() != Some(s.client_id.as_str()) || params.id_token_hint.is_none() {
        return Err((
            Status::BadRequest,
            "client_id and id_token_hint are required",
        ));
    }
    let uri = params
        .post_logout_redirect_uri
        .ok_or((Status::BadRequest, "post_logout_redirect_uri is required"))?;
    let registered = s
        .post_logout_redirect_uris
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&uri);
    if !registered {
        return Err((Status::BadRequest, "unregistered post_logout_redirect_uri"));
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
    let as_token_form = TokenParams {
        grant_type: String::new(),
        code: None,
        refresh_token: None,
        redirect_uri: None,
        code_verifier: None,
        client_id: form.client_id.clone(),
        client_secret: form.client_secret.clone(),
    };
    if !client_authenticated(s, &auth, &as_token_form) {
        return Status::Unauthorized;
    }
    let status = s.behaviour().revocation_status;
    if status == 200 {
        s.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(form.token.clone());
    }
    Status::from_code(status).unwrap_or(Status::InternalServerError)
}
