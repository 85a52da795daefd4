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

mod dpop;
mod endpoints;
mod jwe;
mod keys;
mod par;
#[cfg(feature = "redis")]
mod seeder;
mod state;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket::Shutdown;
use serde_json::{json, Map, Value};

pub use dpop::DpopTestKey;
pub use jwe::Encrypt;
use keys::SigningKey;
pub use keys::{Alg, Signing};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use seeder::SessionSeeder;
use state::{lock, random, ProviderState};

type ClaimsTweak = Arc<dyn Fn(&mut Map<String, Value>) + Send + Sync>;
type DocumentTweak = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// Whether the provider offers pushed authorization requests (RFC 9126).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParEndpoint {
    /// No PAR endpoint (the default).
    #[default]
    Off,
    /// A PAR endpoint, advertised; requests in the URL are taken too.
    Offered,
    /// A PAR endpoint, and `require_pushed_authorization_requests`: only pushed requests.
    Required,
}

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
    /// Answers 200 with this JSON value as the body (for example an array instead of an
    /// object).
    Json(Value),
    /// Answers `307 Temporary Redirect` to this URL (which a client must not follow with its
    /// credentials).
    Redirect(String),
    /// Answers with this status and this JSON body (an error response, say).
    Error(u16, Value),
}

/// What the userinfo endpoint does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserinfoEndpoint {
    /// Answers properly (the default).
    Normal,
    /// Answers 200 with this content type and body (a JSON array, HTML, a signed JWT...).
    Body {
        /// The `Content-Type`, e.g. `application/jwt`.
        content_type: String,
        /// The body.
        body: String,
    },
    /// Answers 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken,
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
    /// Changes the discovery document just before it is served.
    pub discovery_document: Option<DocumentTweak>,
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
    /// `prompt=none` requires an `id_token_hint` of the current user's session (some
    /// providers do): without one the answer is `invalid_request`, with another user's
    /// `login_required` (default `false`).
    pub require_id_token_hint: bool,
    /// The status of registration responses (default 201; others come with an error body).
    pub registration_status: u16,
    /// If set, registration requires this initial access token as a Bearer token.
    pub initial_access_token: Option<String>,
    /// Access tokens are JWTs (RFC 9068) instead of opaque strings (default `false`).
    pub jwt_access_tokens: bool,
    /// The `aud` of JWT access tokens (default: the client id).
    pub access_token_audience: Option<String>,
    /// The `typ` header of JWT access tokens (default `at+jwt`).
    pub access_token_typ: String,
    /// Changes the claims of the next JWT access tokens just before they are signed.
    pub access_token_claims: Option<ClaimsTweak>,
    /// Whether the introspection endpoint answers 503.
    pub introspection_down: bool,
    /// Whether the introspection endpoint answers a request that accepts
    /// `application/token-introspection+jwt` with a signed JWT (RFC 9701: `iss`, `aud` the
    /// client, `iat`, the answer in `token_introspection`, `typ: token-introspection+jwt`),
    /// signed as `signing` says (default `false`: plain JSON always).
    pub introspection_jwt: bool,
    /// Changes the claims, then the header (under the key `"header"` of the same map), of
    /// the next signed introspection answers just before they are signed.
    pub introspection_jwt_claims: Option<ClaimsTweak>,
    /// Codes can be redeemed more than once (a broken provider; default `false`).
    pub reusable_codes: bool,
    /// If set, the ID token of the token endpoint names this subject (a hybrid flow whose two
    /// ID tokens disagree).
    pub token_endpoint_sub: Option<String>,
    /// Changes the header of the next ID tokens just before they are signed (e.g. adds `crit`
    /// or another `typ`).
    pub id_token_header: Option<ClaimsTweak>,
    /// Changes the JSON object of successful token responses (code and refresh grants) just
    /// before it is sent (e.g. removes `id_token`).
    pub token_response: Option<ClaimsTweak>,
    /// What the userinfo endpoint does.
    pub userinfo: UserinfoEndpoint,
    /// If set, ID tokens are encrypted (after signing) as this says.
    pub id_token_encryption: Option<Encrypt>,
    /// If set, userinfo answers are `application/jwt`: the claims (a JSON object, or the
    /// signed JWT of them when `userinfo_signed` is set) encrypted as this says.
    pub userinfo_encryption: Option<Encrypt>,
    /// Whether an authorization request with a JWT `response_mode` (`jwt`, `query.jwt`,
    /// `fragment.jwt`, `form_post.jwt`) gets a JARM response: the parameters as claims of one
    /// JWT (`iss`, `aud` the client, `exp` in two minutes) signed as `signing` says, in a
    /// `response` parameter (default `true`; `false`: the plain parameters, as a provider that
    /// ignores the mode would).
    pub jarm_responses: bool,
    /// Changes the claims, then the header (under the key `"header"` of the same map), of the
    /// next JARM responses just before they are signed.
    pub jarm_claims: Option<ClaimsTweak>,
    /// If set, JARM responses are encrypted (after signing) as this says.
    pub authorization_encryption: Option<Encrypt>,
    /// Whether userinfo answers are a signed JWT of the claims (`application/jwt`; `iss`,
    /// `aud` the client; signed as `signing` says), encrypted when `userinfo_encryption` is
    /// set, rather than the JSON object (default `false`).
    pub userinfo_signed: bool,
    /// The status the key-set endpoint answers with (default 200; others come with an error
    /// body).
    pub jwks_status: u16,
    /// Changes the key-set document just before it is served (e.g. marks the keys `use: enc`,
    /// or replaces the whole document).
    pub jwks_document: Option<DocumentTweak>,
    /// If set, DPoP proofs at the token and userinfo endpoints must carry this server nonce:
    /// a proof without it gets `use_dpop_nonce` and the nonce in a `DPoP-Nonce` header.
    pub dpop_nonce: Option<String>,
    /// Whether a token request with a valid DPoP proof gets tokens bound to its key
    /// (`token_type` `DPoP`, `cnf.jkt` in JWT access tokens and introspection; default
    /// `true`). `false`: a provider that ignores proofs and issues Bearer tokens.
    pub dpop_binding: bool,
    /// Every DPoP proof is challenged with a new nonce, whatever it carries (a provider a
    /// client can never satisfy; default `false`).
    pub dpop_nonce_rotates: bool,
    /// Pushed authorization requests: off (the default), offered, or required.
    pub par: ParEndpoint,
    /// If set, the PAR endpoint answers with this status and body (JSON, or else HTML).
    pub par_answer: Option<(u16, String)>,
    /// The `expires_in` of pushed requests, in seconds (default 60; the `request_uri`
    /// expires then).
    pub par_expires_in: i64,
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
            discovery_document: None,
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
            require_id_token_hint: false,
            registration_status: 201,
            initial_access_token: None,
            jwt_access_tokens: false,
            access_token_audience: None,
            access_token_typ: "at+jwt".into(),
            access_token_claims: None,
            introspection_down: false,
            introspection_jwt: false,
            introspection_jwt_claims: None,
            reusable_codes: false,
            token_endpoint_sub: None,
            id_token_header: None,
            token_response: None,
            userinfo: UserinfoEndpoint::Normal,
            id_token_encryption: None,
            jarm_responses: true,
            jarm_claims: None,
            authorization_encryption: None,
            userinfo_encryption: None,
            userinfo_signed: false,
            jwks_status: 200,
            jwks_document: None,
            dpop_nonce: None,
            dpop_binding: true,
            dpop_nonce_rotates: false,
            par: ParEndpoint::Off,
            par_answer: None,
            par_expires_in: 60,
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
    /// Dynamic client registrations.
    pub registration: usize,
    /// Token introspections.
    pub introspection: usize,
    /// DPoP nonce challenges (`use_dpop_nonce`) sent, at any endpoint (not in `total`).
    pub dpop_challenges: usize,
    /// Pushed authorization requests.
    pub par: usize,
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
            + self.registration
            + self.introspection
            + self.par
    }
}

/// A running in-process OpenID Provider. Stops when dropped.
pub struct TestProvider {
    state: Arc<ProviderState>,
    client_secret: String,
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

impl TestProvider {
    /// Starts a provider signing with RS256 on a free loopback port.
    pub async fn start() -> TestProvider {
        TestProvider::start_with(Alg::Rs256).await
    }

    /// Starts a provider signing with `alg` on a free loopback port.
    pub async fn start_with(alg: Alg) -> TestProvider {
        TestProvider::launch(alg, false, 0).await
    }

    /// Starts the development provider of the demo on `port` (0: a free one): like
    /// [`start`](Self::start), but the authorization endpoint shows a login page where any user
    /// name and claims can be entered, and remembers the login in its own session cookie (so
    /// `prompt=none` works, and end-session ends it). **It logs in anybody: never use it in
    /// production.**
    #[cfg(feature = "dev-provider")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dev-provider")))]
    pub async fn start_interactive(port: u16) -> TestProvider {
        TestProvider::launch(Alg::Rs256, true, port).await
    }

    async fn launch(alg: Alg, interactive: bool, port: u16) -> TestProvider {
        let key = rocket::tokio::task::spawn_blocking(move || SigningKey::generate(alg, random(8)))
            .await
            .expect("key generation");
        let figment = Figment::from(rocket::Config::debug_default())
            .merge(("address", "127.0.0.1"))
            .merge(("port", port))
            .merge(("log_level", "off"))
            .merge(("cli_colors", false))
            .merge(("shutdown.ctrlc", false))
            .merge(("secret_key", STANDARD.encode(random(48))));
        let client_secret = random(24);
        let state = Arc::new(ProviderState::new(key, client_secret.clone(), interactive));
        let (port_tx, port_rx) = rocket::tokio::sync::oneshot::channel::<u16>();
        let port_tx = Mutex::new(Some(port_tx));
        let rocket = rocket::custom(figment)
            .manage(state.clone())
            .mount("/", endpoints::routes())
            .attach(rocket::fairing::AdHoc::on_liftoff("port", move |rocket| {
                let port = rocket.config().port;
                if let Some(tx) = lock(&port_tx).take() {
                    let _ = tx.send(port);
                }
                Box::pin(async {})
            }));
        let rocket = rocket.ignite().await.expect("test provider ignites");
        let shutdown = rocket.shutdown();
        rocket::tokio::spawn(rocket.launch());
        let port = port_rx.await.expect("test provider starts");
        let _ = state.issuer.set(format!("http://127.0.0.1:{port}"));
        TestProvider {
            state,
            client_secret,
            shutdown,
        }
    }

    /// The issuer URL (`http://127.0.0.1:<port>`).
    pub fn issuer(&self) -> &str {
        self.state.issuer()
    }

    /// The client id registered at this provider.
    pub fn client_id(&self) -> &str {
        &self.state.default_client_id
    }

    /// The client secret registered at this provider.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    fn change_client(&self, change: impl FnOnce(&mut state::RegisteredClient)) {
        let mut clients = lock(&self.state.clients);
        if let Some(client) = clients.get_mut(&self.state.default_client_id) {
            change(client);
        }
    }

    /// Registers another redirect URI for the client (`http://127.0.0.1:8000/redirect_uri`, the
    /// callback of [`app_figment`](Self::app_figment), is registered from the start). The
    /// authorization endpoint refuses any other, like a real provider.
    pub fn allow_redirect_uri(&self, uri: &str) {
        self.change_client(|c| c.redirect_uris.push(uri.to_owned()));
    }

    /// Registers another post-logout redirect URI (`http://127.0.0.1:8000/logout` is registered
    /// from the start). The end-session endpoint refuses any other.
    pub fn allow_post_logout_redirect_uri(&self, uri: &str) {
        self.change_client(|c| c.post_logout_redirect_uris.push(uri.to_owned()));
    }

    /// The tokens revoked so far (RFC 7009), in order.
    pub fn revoked_tokens(&self) -> Vec<String> {
        lock(&self.state.revoked).clone()
    }

    /// Every code and token this provider issued, oldest first (at most the last 10,000):
    /// authorization codes, ID tokens, access tokens (JWT or opaque) and refresh tokens, from
    /// the front channel, the token endpoint and [`issue_access_token`](Self::issue_access_token)
    /// alike. For leak checks: none of them may appear in a page, a header or a log line of the
    /// application, except where the protocol puts it.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.state.issued).iter().cloned().collect()
    }

    /// Sets the user the next logins authenticate: its `sub` and extra claims (in the ID
    /// token and in userinfo).
    pub fn set_user(&self, sub: &str, claims: Value) {
        let claims = match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        *lock(&self.state.user) = (sub.to_owned(), claims);
    }

    /// Changes how the provider behaves.
    pub fn configure(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut lock(&self.state.behaviour));
    }

    /// Replaces the signing key by a new one with a new `kid` (key rotation). The key set then
    /// holds only the new key.
    pub async fn rotate_keys(&self) {
        let key = self.new_key().await;
        *lock(&self.state.keys) = vec![Arc::new(key)];
    }

    /// Replaces the signing key by an RSA key of `bits` bits with a new `kid` (for a provider
    /// signing with RS256): a weak key (512, 1024 bits) that a relying party must refuse.
    pub async fn rotate_to_rsa_key(&self, bits: usize) {
        let key =
            rocket::tokio::task::spawn_blocking(move || SigningKey::generate_rsa(bits, random(8)))
                .await
                .expect("key generation");
        *lock(&self.state.keys) = vec![Arc::new(key)];
    }

    /// The `kid` of the key the provider signs with now.
    pub fn current_kid(&self) -> String {
        self.state.current_key().kid().to_owned()
    }

    /// Adds a second key of the same kind to the key set, without using it.
    pub async fn add_unused_key(&self) {
        let key = self.new_key().await;
        lock(&self.state.keys).insert(0, Arc::new(key));
    }

    async fn new_key(&self) -> SigningKey {
        let alg = self.state.current_key().alg();
        rocket::tokio::task::spawn_blocking(move || SigningKey::generate(alg, random(8)))
            .await
            .expect("key generation")
    }

    /// Requests served so far, per endpoint.
    pub fn hits(&self) -> Hits {
        let c = &self.state.counters;
        let load = |counter: &std::sync::atomic::AtomicUsize| counter.load(Ordering::SeqCst);
        Hits {
            discovery: load(&c.discovery),
            jwks: load(&c.jwks),
            authorize: load(&c.authorize),
            token: load(&c.token),
            userinfo: load(&c.userinfo),
            end_session: load(&c.end_session),
            revocation: load(&c.revocation),
            refresh: load(&c.refresh),
            registration: load(&c.registration),
            introspection: load(&c.introspection),
            dpop_challenges: load(&c.dpop_challenges),
            par: load(&c.par),
        }
    }

    /// Issues an access token for the default client with `scope` (a JWT or an opaque token,
    /// as [`Behaviour::jwt_access_tokens`] says), as its token endpoint would; for testing APIs.
    pub fn issue_access_token(&self, sub: &str, scope: &str) -> String {
        let behaviour = lock(&self.state.behaviour).clone();
        let account = (sub.to_owned(), Map::new());
        self.state
            .access_token(&account, self.client_id(), scope, &behaviour, None)
    }

    /// [`issue_access_token`](Self::issue_access_token), bound to the DPoP key whose
    /// thumbprint is `jkt` (see [`DpopTestKey::thumbprint`]): `cnf.jkt` in a JWT and in the
    /// introspection answer.
    pub fn issue_dpop_bound_access_token(&self, sub: &str, scope: &str, jkt: &str) -> String {
        let behaviour = lock(&self.state.behaviour).clone();
        let account = (sub.to_owned(), Map::new());
        self.state
            .access_token(&account, self.client_id(), scope, &behaviour, Some(jkt))
    }

    /// A signed ID token for `sub` with `nonce` and the current user's claims, as the token
    /// endpoint would issue it to the default client (for benchmarks of ID-token validation).
    #[doc(hidden)]
    pub fn mint_id_token(&self, sub: &str, nonce: &str) -> String {
        let behaviour = lock(&self.state.behaviour).clone();
        let claims = lock(&self.state.user).1.clone();
        self.state.id_token(
            self.client_id(),
            &(sub.to_owned(), claims),
            Some(nonce),
            &behaviour,
        )
    }

    /// A session of the user `sub` with this provider, as a login would make it for the
    /// provider named `provider` of an application: an ID token and an access token of this
    /// provider (the user's claims as [`set_user`](Self::set_user) last set them), valid for
    /// a day.
    pub fn session_for(&self, provider: &str, sub: &str) -> crate::UserSession {
        let id_token = self.mint_id_token(sub, "seeded");
        let claims =
            crate::protocol::id_token::Claims::from_trusted_jwt(&id_token).unwrap_or_default();
        crate::UserSession::new(crate::session::model::NewSession {
            provider: provider.to_owned(),
            issuer: self.issuer().to_owned(),
            client_id: self.client_id().to_owned(),
            id_token: crate::protocol::secret::IdTokenJwt::new(id_token),
            claims,
            access_token: Some(openidconnect::AccessToken::new(
                self.issue_access_token(sub, "openid"),
            )),
            expires_in: Some(86_400),
            refresh_token: None,
            userinfo: None,
            now: crate::util::clock::unix_now(),
            lifetime: 86_400,
            dpop_key: None,
        })
    }

    /// The parameters of the last authorization request this provider received.
    pub fn last_authorization_request(&self) -> Vec<(String, String)> {
        let query = lock(&self.state.last_authorize).clone().unwrap_or_default();
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The client metadata of the last dynamic registration this provider received.
    pub fn last_registration(&self) -> Option<Value> {
        lock(&self.state.last_registration).clone()
    }

    /// A logout token (OpenID Connect Back-Channel Logout 1.0) from this provider for the
    /// default client: `iss`, `aud`, `iat`, `exp` (in 2 minutes), a fresh `jti`, the logout
    /// event and `typ: logout+jwt`, signed as the behaviour says (`signing`), then encrypted
    /// as its ID tokens are (`id_token_encryption`, as Back-Channel Logout 2.6 says). Add `sub` or
    /// `sid` (and anything else) with `change`; `header` members replace the defaults (`null`
    /// removes one).
    pub fn logout_token(
        &self,
        header: Map<String, Value>,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> String {
        let behaviour = lock(&self.state.behaviour).clone();
        let now = crate::util::clock::unix_now();
        let mut claims = Map::new();
        claims.insert("iss".into(), self.issuer().into());
        claims.insert("aud".into(), self.client_id().into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + 120).into());
        claims.insert("jti".into(), random(16).into());
        claims.insert(
            "events".into(),
            json!({ "http://schemas.openid.net/event/backchannel-logout": {} }),
        );
        change(&mut claims);
        let mut full_header = Map::new();
        full_header.insert("typ".into(), "logout+jwt".into());
        full_header.extend(header);
        let signed = keys::make_jwt(
            &self.state.current_key(),
            &behaviour.signing,
            full_header,
            &claims,
        );
        match &behaviour.id_token_encryption {
            Some(encrypt) => encrypt.apply(signed.as_bytes()),
            None => signed,
        }
    }

    /// Validates `raw` like a login callback does (with this provider's current keys), and
    /// returns whether it passed. For benchmarks.
    #[doc(hidden)]
    pub fn bench_validate_id_token(&self, raw: &str, nonce: &str) -> bool {
        let keys: Vec<serde_json::Value> = lock(&self.state.keys).iter().map(|k| k.jwk()).collect();
        let jwks: openidconnect::core::CoreJsonWebKeySet =
            serde_json::from_value(json!({ "keys": keys })).expect("a key set");
        let algs = [
            openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ];
        let now = crate::util::clock::unix_now();
        let expect = crate::protocol::id_token::Expectations {
            issuer: crate::protocol::issuer::IssuerRule::Exact(self.issuer()),
            client_id: self.client_id(),
            client_secret: None,
            allowed_algs: &algs,
            nonce: crate::protocol::id_token::NonceCheck::Required(nonce),
            issued_after: now - 60,
            now,
            skew: 60,
            max_age: None,
            acr_values: None,
            hashes: &[],
        };
        crate::protocol::id_token::validate_id_token(raw, &jwks, &expect).is_ok()
    }

    /// Revokes an access token: introspection then reports it inactive.
    pub fn revoke_access_token(&self, token: &str) {
        lock(&self.state.access_tokens).remove(token);
    }

    /// The `[oidc.providers.<name>].metadata` table describing this provider (static metadata
    /// instead of discovery).
    pub fn metadata_table(&self) -> Value {
        let base = self.issuer();
        json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "jwks_uri": format!("{base}/jwks"),
            "registration_endpoint": format!("{base}/register"),
            "end_session_endpoint": format!("{base}/end_session"),
        })
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
    /// the application's callback. Returns the application's answer to the callback; a
    /// successful login is a 303 to `path`.
    ///
    /// # Panics
    ///
    /// If the application does not send the browser to this provider (it answers `path` with a
    /// page, an error or a redirect elsewhere): no callback is sent then, and that first answer
    /// is never handed back as if the callback had been refused. A test that expects such an
    /// answer requests `path` itself.
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
            _ => {
                let first = LoginAttempt::read(start).await;
                panic!(
                    "TestProvider::login: the application answered {path} with {} (Location: \
                     {:?}) instead of sending the browser to the provider, so no callback was \
                     sent; its body: {}",
                    first.status, first.location, first.body
                );
            }
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

    /// Calls the authorization endpoint like a browser and returns where it sends the browser
    /// back to: the application's callback URL with the response in the query or the fragment,
    /// or, for a `form_post` response, `POST <callback URL>`, a newline and the form body.
    /// [`deliver`](Self::deliver) takes any of the three.
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
        if let Some(location) = response.headers().get("location") {
            return location.to_str().expect("a Location").to_owned();
        }
        let page = response.text().await.expect("a form_post page");
        let (action, body) = read_form_post(&page).expect("a redirect or a form_post page");
        format!("POST {action}\n{body}")
    }

    /// Sends an authorization response (as returned by [`authorize`](Self::authorize)) to the
    /// application like a browser: a GET with the query; for a response in the fragment, the
    /// GET (which must answer with the relay page), then the relay page's POST of the
    /// fragment; for `form_post`, the POST.
    pub async fn deliver(&self, client: &Client, callback_url: &str) -> LoginAttempt {
        if let Some((action, body)) = callback_url
            .strip_prefix("POST ")
            .and_then(|rest| rest.split_once('\n'))
        {
            return post_form(client, local_path(action), body.to_owned()).await;
        }
        if let Some((page_url, fragment)) = callback_url.split_once('#') {
            let relay = client
                .get(local_path(page_url))
                .header(Accept::HTML)
                .dispatch()
                .await;
            let page = LoginAttempt::read(relay).await;
            let Some(action) = relay_action(&page.body) else {
                return page;
            };
            return post_form(client, action, fragment.to_owned()).await;
        }
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

/// The path and query of `url` (what a local client requests).
fn local_path(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| {
            format!(
                "{}{}",
                u.path(),
                u.query().map(|q| format!("?{q}")).unwrap_or_default()
            )
        })
        .unwrap_or_else(|_| url.to_owned())
}

/// A form POST to the application, as a browser submits it.
async fn post_form(client: &Client, path: String, body: String) -> LoginAttempt {
    let response = client
        .post(path)
        .header(rocket::http::ContentType::Form)
        .header(Accept::HTML)
        .body(body)
        .dispatch()
        .await;
    LoginAttempt::read(response).await
}

/// The `data-action` of the application's fragment relay page, if `page` is one.
fn relay_action(page: &str) -> Option<String> {
    let start = page.find("id=\"relay\"")?;
    let rest = &page[start..];
    let value = rest.split("data-action=\"").nth(1)?.split('"').next()?;
    Some(html_escape::decode_html_entities(value).into_owned())
}

/// The action and the form-encoded fields of a `form_post` page.
fn read_form_post(page: &str) -> Option<(String, String)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let value = tag.split(&format!("{name}=\"")).nth(1)?.split('"').next()?;
        Some(html_escape::decode_html_entities(value).into_owned())
    };
    let form = page.split("<form").nth(1)?;
    let action = attribute(form.split('>').next()?, "action")?;
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    for input in form.split("<input").skip(1) {
        let tag = input.split('>').next()?;
        body.append_pair(&attribute(tag, "name")?, &attribute(tag, "value")?);
    }
    Some((action, body.finish()))
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
