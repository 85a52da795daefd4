//! Configuration: the `[default.oidc]` table of `Rocket.toml` (or the `ROCKET_OIDC` environment
//! variable holding the table, e.g. `ROCKET_OIDC='{base_url="https://app.example"}'`), read
//! through figment when the fairing ignites.
//!
//! Every value is checked at ignite. A missing or malformed key aborts launch with a message that
//! names the key (`oidc.providers.default.client_id: missing`), so a typo never becomes a login
//! failure in production.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use openidconnect::ClientSecret;
use rocket::figment::Figment;
use serde::Deserialize;
use url::Url;

use crate::error::ConfigError;
use crate::front_channel::{ResponseMode, ResponseType};
use crate::provider::ProviderMetadata;

/// The whole `oidc` table.
///
/// # Example
///
/// ```
/// use rocket::figment::{Figment, providers::{Format, Toml}};
/// use rocket_openidconnect::OidcConfig;
///
/// let figment = Figment::from(Toml::string(r#"
///     [oidc]
///     base_url = "https://app.example.com"
///     [oidc.providers.default]
///     issuer = "https://op.example.com"
///     client_id = "my-app"
///     client_secret = "s3cret"
/// "#));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// assert_eq!(config.redirect_path, "/redirect_uri");
/// assert!(config.providers.contains_key("default"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OidcConfig {
    /// External URL of the application root (scheme, host, port and an optional path prefix).
    /// Defaults to `http://<address>:<port>` from Rocket's own configuration.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Path of the redirect (callback) route. Default `/redirect_uri`.
    #[serde(default = "default_redirect_path")]
    pub redirect_path: String,
    /// Path of the logout route. Default `/logout`.
    #[serde(default = "default_logout_path")]
    pub logout_path: String,
    /// Path where providers POST logout tokens (OpenID Connect Back-Channel Logout 1.0).
    /// Default `/backchannel_logout`.
    #[serde(default = "default_backchannel_logout_path")]
    pub backchannel_logout_path: String,
    /// Path providers load in a hidden frame to end a session (OpenID Connect Front-Channel
    /// Logout 1.0). Default `/frontchannel_logout`.
    #[serde(default = "default_frontchannel_logout_path")]
    pub frontchannel_logout_path: String,
    /// `true` (default): the session cookie outlives the browser for `session_lifetime`;
    /// `false`: a browser-session cookie. The server enforces `session_lifetime` either way.
    #[serde(default = "default_true")]
    pub session_permanent: bool,
    /// Absolute session lifetime in seconds (default 604800, one week).
    #[serde(default = "default_session_lifetime")]
    pub session_lifetime: u64,
    /// Idle timeout in seconds: a session unused for longer ends (rolling; off by default).
    #[serde(default)]
    pub session_inactivity_timeout: Option<u64>,
    /// End the session when the ID token expires (default `false`).
    #[serde(default)]
    pub session_expires_with_id_token: bool,
    /// Allowed clock difference with the provider, in seconds (default 60).
    #[serde(default = "default_clock_skew")]
    pub clock_skew: u64,
    /// Timeout of every call to a provider, in seconds (default 10).
    #[serde(default = "default_http_timeout")]
    pub http_timeout: u64,
    /// Path of a login route that starts a login with per-request parameters
    /// (`?provider=NAME&return_to=/path&login_hint=...`); not mounted unless set.
    #[serde(default)]
    pub login_path: Option<String>,
    /// Where the fairing's logout route sends the browser when the logout is complete (a path
    /// of this application); default: a built-in "logged out" page.
    #[serde(default)]
    pub post_logout_path: Option<String>,
    /// How long a started login may take, in seconds (default 600).
    #[serde(default = "default_login_timeout")]
    pub login_timeout: u64,
    /// Base name of the session cookies (default `oidc_session`). On https the `__Host-` prefix is
    /// added.
    #[serde(default = "default_cookie_name")]
    pub cookie_name: String,
    /// Where sessions are kept: `cookie` (the default: encrypted cookies, nothing on the
    /// server), `memory` (this process) or `redis` (the server of `redis_url`). With `memory`
    /// and `redis` the cookie holds only a random session id; the session, encrypted with a
    /// key derived from Rocket's `secret_key`, is on the server, where it can be listed and
    /// ended ([`OidcSessions`](crate::OidcSessions)).
    #[serde(default)]
    pub session_store: SessionStoreKind,
    /// A Redis (or Valkey) server shared by every instance of the application (feature
    /// `redis`): `redis://host:6379/0`, `rediss://` for TLS. Used `state`/`nonce` values,
    /// logout tokens and ended sessions are kept there, so that a login may complete on any
    /// instance and a logout on one ends the session on all. Default: in this process only.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// The providers, by name. A guard `OidcUser<P>` uses the provider named `P::NAME`
    /// (`default` for a plain `OidcUser`).
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
}

/// Where sessions are kept (`session_store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionStoreKind {
    /// In encrypted cookies (chunked when large): nothing on the server. The default.
    #[default]
    Cookie,
    /// On the server, in this process: the cookie holds only a session id.
    Memory,
    /// On the server, in Redis (`redis_url`), shared by every instance.
    Redis,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 2.3.1). The default.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: no secret; PKCE protects the code.
    None,
}

/// How (and whether) the userinfo endpoint is called after login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum UserinfoMethod {
    /// `GET` with the access token as a Bearer header (the default).
    Get,
    /// `POST` with the access token as a Bearer header.
    Post,
    /// Never call the userinfo endpoint.
    None,
}

/// One `[oidc.providers.NAME]` table.
///
/// # Example
///
/// ```
/// use rocket::figment::{Figment, providers::{Format, Toml}};
/// use rocket_openidconnect::{OidcConfig, UserinfoMethod};
///
/// let figment = Figment::from(Toml::string(r#"
///     [oidc.providers.default]
///     issuer = "https://op.example.com"
///     client_id = "my-app"
///     client_secret = "s3cret"
///     scope = ["openid", "email"]
///     userinfo_method = "post"
/// "#));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// let provider = &config.providers["default"];
/// assert_eq!(provider.userinfo_method, UserinfoMethod::Post);
/// assert_eq!(provider.scope, ["openid", "email"]);
/// // Secrets never show in debug output:
/// assert!(!format!("{provider:?}").contains("s3cret"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The issuer identifier; its discovery document is fetched from
    /// `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Static provider metadata, used instead of discovery.
    #[serde(default)]
    pub metadata: Option<ProviderMetadata>,
    /// The client identifier registered at the provider (absent with a `registration` table).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Dynamic client registration instead of `client_id`/`client_secret`: the client metadata
    /// to register (`client_name`, `contacts`, ...) and an optional `initial_access_token`.
    #[serde(default)]
    pub registration: Option<RegistrationConfig>,
    /// Where the result of a dynamic registration is kept (a JSON file, mode 0600), so that a
    /// restart or another instance reuses the client instead of registering a new one.
    #[serde(default)]
    pub registration_store: Option<std::path::PathBuf>,
    /// This provider's own callback path (default: the global `redirect_path`). Providers that
    /// share a callback path must send the RFC 9207 `iss` parameter, or their logins are
    /// refused (mix-up defence); give each provider its own path when they do not.
    #[serde(default)]
    pub redirect_path: Option<String>,
    /// The client secret (absent for public clients).
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// Scopes to request; must contain `openid`. A list or a space-separated string.
    #[serde(default = "default_scope", deserialize_with = "deserialize_scope")]
    pub scope: Vec<String>,
    /// What the authorization response carries: `code` (the default), `id_token`,
    /// `id_token token`, `code id_token`, `code token` or `code id_token token`.
    #[serde(default)]
    pub response_type: ResponseType,
    /// How it is delivered: `query`, `fragment` or `form_post`. Default: `query` for `code`,
    /// `fragment` for the types that carry tokens (which must never be in a query).
    #[serde(default)]
    pub response_mode: Option<ResponseMode>,
    /// Extra authorization request parameters (for example `{ prompt = "login" }`).
    #[serde(default, deserialize_with = "deserialize_params")]
    pub auth_request_params: BTreeMap<String, String>,
    /// `get` (default), `post` or `none`.
    #[serde(default = "default_userinfo_method")]
    pub userinfo_method: UserinfoMethod,
    /// `client_secret_basic` (default), `client_secret_post` or `none` (a public client).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// ID token signature algorithms to accept. Default: the asymmetric algorithms the provider
    /// advertises (RS256 if it advertises none). `none` is never accepted; `HS256`/`HS384`/`HS512`
    /// only when listed here and a client secret is configured.
    #[serde(default)]
    pub id_token_signing_algs: Option<Vec<String>>,
    /// PKCE with S256 (default `true`).
    #[serde(default = "default_true")]
    pub pkce: bool,
    /// Allow plain `http` provider URLs that are not on loopback. Never do this in production.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Where the provider sends the browser back after RP-initiated logout (default: the
    /// logout route that started it). Must be registered at the provider.
    #[serde(default)]
    pub post_logout_redirect_uri: Option<String>,
    /// Revoke the refresh and access tokens (RFC 7009) at logout (default `false`).
    #[serde(default)]
    pub revoke_tokens_on_logout: bool,
    /// Seconds after which a browser navigation silently re-authenticates the session with
    /// `prompt=none` (Flask-pyoidc `session_refresh_interval_seconds`; off by default).
    #[serde(default)]
    pub session_refresh_interval: Option<u64>,
    /// What happens when a silent refresh answers `login_required` (or another interaction
    /// error): `login` (default) starts an interactive login, `error` shows the error view.
    #[serde(default)]
    pub silent_refresh_failure: SilentRefreshFailure,
    /// Authorization request parameters a login through `login_path` may set per request
    /// (e.g. `["login_hint", "ui_locales", "acr_values", "max_age", "kc_idp_hint"]`; default
    /// none).
    #[serde(default)]
    pub login_params: Vec<String>,
    /// How bearer tokens of APIs are validated: `jwt` (locally, RFC 9068), `introspection`
    /// (RFC 7662) or `auto` (default: JWTs locally, anything else by introspection).
    #[serde(default)]
    pub access_token_validation: AccessTokenValidation,
    /// Audiences a bearer token must name (one of them); default: the client id.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Algorithms JWT access tokens may be signed with (asymmetric only). Default: the
    /// asymmetric algorithms the provider advertises for ID tokens, plus RS256.
    #[serde(default)]
    pub access_token_signing_algs: Option<Vec<String>>,
    /// Require `typ: at+jwt` in JWT access tokens (RFC 9068). Default `false`, as many
    /// providers do not set it; but without configured `audiences` it is always required, so
    /// that an ID token (whose audience is the client id too) is never taken for an access
    /// token.
    #[serde(default)]
    pub require_access_token_typ: bool,
    /// Seconds an introspection result is reused at most (also never past the token's `exp`;
    /// default 300).
    #[serde(default = "default_introspection_cache_max_age")]
    pub introspection_cache_max_age: u64,
    /// An access token is refreshed when it expires within this many seconds (default 30).
    #[serde(default = "default_access_token_leeway")]
    pub access_token_leeway: u64,
    /// Minimum seconds between two key-set refetches caused by an unknown `kid` (default 30).
    #[serde(default = "default_jwks_refetch_interval")]
    pub jwks_refetch_interval: u64,
}

fn default_redirect_path() -> String {
    "/redirect_uri".into()
}
fn default_backchannel_logout_path() -> String {
    "/backchannel_logout".into()
}
fn default_frontchannel_logout_path() -> String {
    "/frontchannel_logout".into()
}
fn default_logout_path() -> String {
    "/logout".into()
}
fn default_true() -> bool {
    true
}
fn default_session_lifetime() -> u64 {
    604_800
}
fn default_clock_skew() -> u64 {
    60
}
fn default_http_timeout() -> u64 {
    10
}
fn default_login_timeout() -> u64 {
    600
}
fn default_cookie_name() -> String {
    "oidc_session".into()
}
fn default_scope() -> Vec<String> {
    vec!["openid".into()]
}
fn default_userinfo_method() -> UserinfoMethod {
    UserinfoMethod::Get
}
fn default_jwks_refetch_interval() -> u64 {
    30
}
fn default_access_token_leeway() -> u64 {
    30
}
fn default_introspection_cache_max_age() -> u64 {
    300
}

/// How bearer access tokens are validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AccessTokenValidation {
    /// JWTs locally, anything else by introspection (the default).
    #[default]
    Auto,
    /// Locally, as JWTs (RFC 9068) signed with the provider's keys.
    Jwt,
    /// By the provider's introspection endpoint (RFC 7662), cached.
    Introspection,
}

/// The `[oidc.providers.NAME.registration]` table: OpenID Connect Dynamic Client Registration.
///
/// # Example
///
/// ```
/// use rocket::figment::{Figment, providers::{Format, Toml}};
/// use rocket_openidconnect::OidcConfig;
///
/// let figment = Figment::from(Toml::string(r#"
///     [oidc.providers.default]
///     issuer = "https://op.example.com"
///     registration_store = "/var/lib/my-app/oidc-client.json"
///     [oidc.providers.default.registration]
///     client_name = "My app"
///     contacts = ["ops@example.com"]
///     initial_access_token = "..."
/// "#));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// let registration = config.providers["default"].registration.as_ref().unwrap();
/// assert_eq!(registration.metadata["client_name"], "My app");
/// ```
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct RegistrationConfig {
    /// Sent as a Bearer token to the registration endpoint, if the provider requires one.
    #[serde(default)]
    pub initial_access_token: Option<ClientSecret>,
    /// Any further client metadata to register. `redirect_uris`, `response_types` and
    /// `grant_types` are set by the library; `post_logout_redirect_uris` defaults to the
    /// provider's `post_logout_redirect_uri`, else the fairing's logout route.
    #[serde(flatten)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl RegistrationConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        for reserved in ["redirect_uris", "response_types", "grant_types"] {
            if self.metadata.contains_key(reserved) {
                return Err(invalid(
                    &format!("{key}.{reserved}"),
                    "is set by the library and cannot be configured",
                ));
            }
        }
        Ok(())
    }
}

/// What a failed silent refresh (`login_required` and friends) leads to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SilentRefreshFailure {
    /// The session is dropped and an interactive login starts (the default).
    #[default]
    Login,
    /// The session is dropped and the error view is shown.
    Error,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeValue {
    List(Vec<String>),
    Text(String),
}

fn deserialize_scope<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match ScopeValue::deserialize(d)? {
        ScopeValue::List(list) => list,
        ScopeValue::Text(text) => text.split_whitespace().map(str::to_owned).collect(),
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ParamValue {
    Text(String),
    Int(i64),
    Bool(bool),
}

fn deserialize_params<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, ParamValue>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                ParamValue::Text(s) => s,
                ParamValue::Int(i) => i.to_string(),
                ParamValue::Bool(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// Authorization request parameters the library sets itself; configuring them is an error.
const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "nonce",
    "scope",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "request",
    "request_uri",
];

impl OidcConfig {
    /// Reads and validates the `oidc` table of `figment`.
    ///
    /// Errors name the key that is missing or wrong. See the type's example.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let config: OidcConfig = figment
            .extract_inner("oidc")
            .map_err(|e| ConfigError::Figment(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values that the schema alone cannot (URLs, paths, provider consistency).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(base) = &self.base_url {
            let url = Url::parse(base).map_err(|e| invalid("oidc.base_url", e))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(invalid("oidc.base_url", "must be an absolute http(s) URL"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(invalid(
                    "oidc.base_url",
                    "must not have a query or fragment",
                ));
            }
        }
        check_path("oidc.redirect_path", &self.redirect_path)?;
        check_path("oidc.logout_path", &self.logout_path)?;
        if let Some(path) = &self.post_logout_path {
            if crate::return_to::safe_return_path(path).is_none() {
                return Err(invalid(
                    "oidc.post_logout_path",
                    "must be a path of this application, like `/goodbye`",
                ));
            }
        }
        if let Some(path) = &self.login_path {
            check_path("oidc.login_path", path)?;
            if *path == self.redirect_path || *path == self.logout_path {
                return Err(invalid(
                    "oidc.login_path",
                    "must differ from oidc.redirect_path and oidc.logout_path",
                ));
            }
        }
        if self.redirect_path == self.logout_path {
            return Err(invalid(
                "oidc.logout_path",
                "must differ from oidc.redirect_path",
            ));
        }
        if self.session_store == SessionStoreKind::Redis && self.redis_url.is_none() {
            return Err(invalid(
                "oidc.session_store",
                "`redis` needs oidc.redis_url (the Redis server to keep the sessions in)",
            ));
        }
        if let Some(url) = &self.redis_url {
            if !cfg!(feature = "redis") {
                return Err(invalid(
                    "oidc.redis_url",
                    "needs the `redis` feature of rocket_openidconnect",
                ));
            }
            match Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "unix" | "redis+unix") => {}
                _ => {
                    return Err(invalid(
                        "oidc.redis_url",
                        "must be a redis://, rediss:// or unix:// URL",
                    ))
                }
            }
        }
        for (key, path) in [
            (
                "oidc.backchannel_logout_path",
                &self.backchannel_logout_path,
            ),
            (
                "oidc.frontchannel_logout_path",
                &self.frontchannel_logout_path,
            ),
        ] {
            check_path(key, path)?;
            let others = [
                Some(&self.redirect_path),
                Some(&self.logout_path),
                self.login_path.as_ref(),
            ];
            if others.into_iter().flatten().any(|other| other == path)
                || self.backchannel_logout_path == self.frontchannel_logout_path
            {
                return Err(invalid(
                    key,
                    "must differ from the other paths of oidc (redirect, logout, login and the \
                     other logout channel)",
                ));
            }
        }
        if self.session_lifetime == 0 {
            return Err(invalid(
                "oidc.session_lifetime",
                "must be at least 1 second",
            ));
        }
        if self.http_timeout == 0 || self.http_timeout > 300 {
            return Err(invalid(
                "oidc.http_timeout",
                "must be between 1 and 300 seconds",
            ));
        }
        if self.clock_skew > 600 {
            return Err(invalid("oidc.clock_skew", "must be at most 600 seconds"));
        }
        if !(10..=3600).contains(&self.login_timeout) {
            return Err(invalid(
                "oidc.login_timeout",
                "must be between 10 and 3600 seconds",
            ));
        }
        let mut stores = std::collections::HashSet::new();
        for (name, provider) in &self.providers {
            let key = format!("oidc.providers.{name}");
            if let Some(store) = &provider.registration_store {
                if provider.registration.is_none() {
                    return Err(invalid(
                        &format!("{key}.registration_store"),
                        "needs a registration table",
                    ));
                }
                if !stores.insert(store) {
                    return Err(invalid(
                        &format!("{key}.registration_store"),
                        "is the store of another provider",
                    ));
                }
            }
            if !provider.login_params.is_empty() && self.login_path.is_none() {
                return Err(invalid(
                    &format!("{key}.login_params"),
                    "needs oidc.login_path (the route that takes them)",
                ));
            }
            if self.login_path.is_some() && provider.redirect_path == self.login_path {
                return Err(invalid(
                    &format!("{key}.redirect_path"),
                    "must differ from oidc.login_path",
                ));
            }
            if provider.session_refresh_interval == Some(0) {
                return Err(invalid(
                    &format!("oidc.providers.{name}.session_refresh_interval"),
                    "must be at least 1 second (leave it out to turn it off)",
                ));
            }
        }
        if self.session_inactivity_timeout == Some(0) {
            return Err(invalid(
                "oidc.session_inactivity_timeout",
                "must be at least 1 second (leave it out to turn it off)",
            ));
        }
        if self.session_lifetime > 10 * 365 * 86_400 {
            return Err(invalid(
                "oidc.session_lifetime",
                "must be at most ten years",
            ));
        }
        if self.cookie_name.is_empty()
            || !self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "oidc.cookie_name",
                "must be non-empty and use only letters, digits, `_` and `-`",
            ));
        }
        if self.providers.is_empty() {
            return Err(ConfigError::Missing("oidc.providers".into()));
        }
        for (name, provider) in &self.providers {
            let key = format!("oidc.providers.{name}");
            provider.validate(&key)?;
            if let Some(path) = &provider.redirect_path {
                check_path(&format!("{key}.redirect_path"), path)?;
                if *path == self.logout_path {
                    return Err(invalid(
                        &format!("{key}.redirect_path"),
                        "must differ from oidc.logout_path",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The callback path of `provider`: its own `redirect_path`, else the global one.
    pub fn redirect_path_of<'a>(&'a self, provider: &'a ProviderConfig) -> &'a str {
        provider
            .redirect_path
            .as_deref()
            .unwrap_or(&self.redirect_path)
    }

    /// The clock skew as a duration.
    pub fn clock_skew(&self) -> Duration {
        Duration::from_secs(self.clock_skew)
    }
}

impl ProviderConfig {
    /// The effective client authentication method: the configured one, else
    /// `client_secret_basic`. A public client must say `token_endpoint_auth_method = "none"`,
    /// so that a forgotten secret is a configuration error, not a silent downgrade.
    pub fn client_auth_method(&self) -> ClientAuthMethod {
        self.token_endpoint_auth_method
            .unwrap_or(ClientAuthMethod::ClientSecretBasic)
    }

    /// The response mode used: the configured one, else the response type's default.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket::figment::{Figment, providers::{Format, Toml}};
    /// use rocket_openidconnect::{OidcConfig, ResponseMode};
    ///
    /// let figment = Figment::from(Toml::string(r#"
    ///     [oidc.providers.default]
    ///     issuer = "https://op.example.com"
    ///     client_id = "my-app"
    ///     client_secret = "s3cret"
    /// "#));
    /// let config = OidcConfig::from_figment(&figment).unwrap();
    /// assert_eq!(config.providers["default"].response_mode(), ResponseMode::Query);
    /// ```
    pub fn response_mode(&self) -> ResponseMode {
        self.response_mode
            .unwrap_or_else(|| self.response_type.default_mode())
    }

    /// Whether http is acceptable for this provider's URLs: when explicitly allowed, or when the
    /// configured issuer itself is on loopback (a development provider). A remote provider's
    /// discovery document can never point the client at a plain-http endpoint.
    pub(crate) fn http_allowed(&self) -> bool {
        self.allow_insecure_http
            || Url::parse(self.issuer())
                .map(|u| u.scheme() == "http" && is_loopback(&u))
                .unwrap_or(false)
    }

    /// The issuer: the configured one or the static metadata's.
    pub fn issuer(&self) -> &str {
        self.issuer
            .as_deref()
            .or(self.metadata.as_ref().map(|m| m.issuer.as_str()))
            .unwrap_or_default()
    }

    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match (&self.issuer, &self.metadata) {
            (None, None) => {
                return Err(ConfigError::Missing(format!(
                    "{key}.issuer (or a {key}.metadata table)"
                )))
            }
            (Some(issuer), Some(md)) if *issuer != md.issuer => {
                return Err(invalid(
                    &format!("{key}.metadata.issuer"),
                    format!("`{}` differs from {key}.issuer `{issuer}`", md.issuer),
                ))
            }
            _ => {}
        }
        check_provider_url(
            &format!("{key}.issuer"),
            self.issuer(),
            self.allow_insecure_http,
        )?;
        if self.response_type != ResponseType::Code && self.response_mode() == ResponseMode::Query {
            return Err(invalid(
                &format!("{key}.response_mode"),
                format!(
                    "`query` cannot be used with response_type `{}`: tokens must never be in a \
                     URL query (use `fragment` or `form_post`)",
                    self.response_type
                ),
            ));
        }
        if let Some(md) = &self.metadata {
            if md.token_endpoint.is_none() && self.response_type.has_code() {
                return Err(ConfigError::Missing(format!(
                    "{key}.metadata.token_endpoint"
                )));
            }
            md.check_urls(self.http_allowed())
                .map_err(|(field, why)| invalid(&format!("{key}.metadata.{field}"), why))?;
        }
        if let Some(uri) = &self.post_logout_redirect_uri {
            match Url::parse(uri) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => {}
                _ => {
                    return Err(invalid(
                        &format!("{key}.post_logout_redirect_uri"),
                        "must be an absolute http(s) URL without a fragment",
                    ))
                }
            }
        }
        match (&self.client_id, &self.registration) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &format!("{key}.registration"),
                    "is for providers without a client_id: remove one of the two",
                ))
            }
            (None, None) => {
                return Err(ConfigError::Missing(format!(
                    "{key}.client_id (or a {key}.registration table)"
                )))
            }
            (Some(id), None) if id.is_empty() => {
                return Err(invalid(&format!("{key}.client_id"), "must not be empty"))
            }
            (Some(_), None) => match (self.client_auth_method(), &self.client_secret) {
                (ClientAuthMethod::None, _) => {}
                // No token endpoint: the implicit flow authenticates no client.
                _ if !self.response_type.has_code() => {}
                (_, Some(secret)) if !secret.secret().is_empty() => {}
                _ => {
                    return Err(ConfigError::Missing(format!(
                        "{key}.client_secret (required by {key}.token_endpoint_auth_method)"
                    )))
                }
            },
            (None, Some(registration)) => {
                if self.client_secret.is_some() {
                    return Err(invalid(
                        &format!("{key}.client_secret"),
                        "comes from the registration: remove it",
                    ));
                }
                registration.validate(&format!("{key}.registration"))?;
            }
        }
        if self.jwks_refetch_interval == 0 {
            return Err(invalid(
                &format!("{key}.jwks_refetch_interval"),
                "must be at least 1 second (it rate-limits key-set fetches)",
            ));
        }
        if let Some(algs) = &self.access_token_signing_algs {
            check_algs(&format!("{key}.access_token_signing_algs"), algs, None)?;
        }
        if self.introspection_cache_max_age > 86_400 {
            return Err(invalid(
                &format!("{key}.introspection_cache_max_age"),
                "must be at most 86400 seconds",
            ));
        }
        if self.access_token_leeway > 3600 {
            return Err(invalid(
                &format!("{key}.access_token_leeway"),
                "must be at most 3600 seconds",
            ));
        }
        if !self.scope.iter().any(|s| s == "openid") {
            return Err(invalid(&format!("{key}.scope"), "must contain \"openid\""));
        }
        for param in &self.login_params {
            if RESERVED_PARAMS.contains(&param.as_str())
                || matches!(param.as_str(), "provider" | "return_to")
            {
                return Err(invalid(
                    &format!("{key}.login_params"),
                    format!("`{param}` cannot be set per request"),
                ));
            }
        }
        for param in self.auth_request_params.keys() {
            if RESERVED_PARAMS.contains(&param.as_str()) {
                return Err(invalid(
                    &format!("{key}.auth_request_params.{param}"),
                    "is set by the library and cannot be configured",
                ));
            }
        }
        if let Some(algs) = &self.id_token_signing_algs {
            let secret = Some(self.client_secret.is_some());
            check_algs(&format!("{key}.id_token_signing_algs"), algs, secret)?;
        }
        Ok(())
    }
}

/// A configured list of signature algorithms: not empty, every name supported, `none` never.
/// HMAC algorithms only where `hmac_with_secret` is `Some` (ID tokens), and then only with a
/// client secret; `None` means asymmetric only (access tokens).
fn check_algs(
    key: &str,
    algs: &[String],
    hmac_with_secret: Option<bool>,
) -> Result<(), ConfigError> {
    if algs.is_empty() {
        return Err(invalid(key, "must list at least one algorithm"));
    }
    for alg in algs {
        let parsed = crate::token::parse_alg(alg).ok_or_else(|| {
            invalid(
                key,
                format!("`{alg}` is not a supported signature algorithm"),
            )
        })?;
        match (crate::token::is_symmetric(&parsed), hmac_with_secret) {
            (false, _) | (true, Some(true)) => {}
            (true, Some(false)) => {
                return Err(invalid(key, format!("`{alg}` needs a client_secret")))
            }
            (true, None) => {
                return Err(invalid(
                    key,
                    format!("`{alg}` is not a supported asymmetric signature algorithm"),
                ))
            }
        }
    }
    Ok(())
}

fn invalid(key: &str, why: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        reason: why.to_string(),
    }
}

fn check_path(key: &str, path: &str) -> Result<(), ConfigError> {
    let ok = path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b))
        && !path.contains("//");
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!(
                "`{path}` must be an absolute path like `/callback` (letters, digits, `/-_.~`)"
            ),
        ))
    }
}

/// `https`, or `http` to a loopback host, or `http` anywhere with `allow_insecure_http`.
pub(crate) fn check_provider_url(
    key: &str,
    value: &str,
    allow_http: bool,
) -> Result<(), ConfigError> {
    let loopback = Url::parse(value).map(|u| is_loopback(&u)).unwrap_or(false);
    check_url(value, allow_http || loopback)
        .map(drop)
        .map_err(|why| invalid(key, why))
}

/// The URL rule shared by configuration and discovered metadata.
pub(crate) fn check_url(value: &str, allow_http: bool) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("`{value}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => {
            return Err(format!(
                "`{value}` must use https (http is allowed only on loopback or with allow_insecure_http = true)"
            ))
        }
    }
    if url.host_str().is_none() || url.fragment().is_some() {
        return Err(format!(
            "`{value}` must be an absolute URL without a fragment"
        ));
    }
    Ok(url)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::figment::providers::{Format, Toml};

    fn load(toml: &str) -> Result<OidcConfig, String> {
        OidcConfig::from_figment(&Figment::from(Toml::string(toml))).map_err(|e| match e {
            ConfigError::Figment(f) => (*f)
                .clone()
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        })
    }

    const GOOD: &str = r#"
        [oidc.providers.default]
        issuer = "https://op.example"
        client_id = "app"
        client_secret = "s"
    "#;

    #[test]
    fn defaults_follow_the_documented_schema() {
        let c = load(GOOD).unwrap();
        assert_eq!(
            (c.redirect_path.as_str(), c.logout_path.as_str()),
            ("/redirect_uri", "/logout")
        );
        assert!(c.session_permanent);
        assert_eq!(
            (c.session_lifetime, c.clock_skew, c.http_timeout),
            (604_800, 60, 10)
        );
        let p = &c.providers["default"];
        assert_eq!(p.scope, ["openid"]);
        assert_eq!(p.userinfo_method, UserinfoMethod::Get);
        assert_eq!(p.client_auth_method(), ClientAuthMethod::ClientSecretBasic);
        assert!(p.pkce);
    }

    #[test]
    fn every_documented_key_is_read() {
        let c = load(
            r#"
            [oidc]
            base_url = "http://127.0.0.1:8000"
            redirect_path = "/cb"
            logout_path = "/bye"
            session_permanent = false
            session_lifetime = 3600
            clock_skew = 5
            http_timeout = 3
            [oidc.providers.default]
            issuer = "https://op.example"
            client_id = "app"
            client_secret = "s"
            scope = "openid profile"
            auth_request_params = { prompt = "login", max_age = 0 }
            userinfo_method = "none"
            [oidc.providers.static]
            client_id = "app2"
            client_secret = "s2"
            token_endpoint_auth_method = "client_secret_post"
            [oidc.providers.static.metadata]
            issuer = "https://other.example"
            authorization_endpoint = "https://other.example/auth"
            token_endpoint = "https://other.example/token"
            jwks_uri = "https://other.example/jwks"
            userinfo_endpoint = "https://other.example/userinfo"
            end_session_endpoint = "https://other.example/logout"
        "#,
        )
        .unwrap();
        assert_eq!(c.redirect_path, "/cb");
        assert!(!c.session_permanent);
        let p = &c.providers["default"];
        assert_eq!(p.scope, ["openid", "profile"]);
        assert_eq!(p.auth_request_params["max_age"], "0");
        assert_eq!(p.auth_request_params["prompt"], "login");
        let s = &c.providers["static"];
        assert_eq!(s.issuer(), "https://other.example");
        assert_eq!(s.client_auth_method(), ClientAuthMethod::ClientSecretPost);
        assert_eq!(
            s.metadata.as_ref().unwrap().end_session_endpoint.as_deref(),
            Some("https://other.example/logout")
        );
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let cases = [
            (
                r#"[oidc.providers.default]
                issuer = "https://op.example"
                client_secret = "s""#,
                "client_id",
            ),
            (
                r#"[oidc]
                http_timeout = "soon"
                [oidc.providers.default]
                issuer = "https://op.example"
                client_id = "a""#,
                "http_timeout",
            ),
            (
                r#"[oidc.providers.default]
                client_id = "a"
                client_secret = "s""#,
                "oidc.providers.default.issuer",
            ),
            (
                r#"[oidc.providers.default]
                issuer = "http://op.example"
                client_id = "a"
                client_secret = "s""#,
                "oidc.providers.default.issuer",
            ),
            (
                r#"[oidc.providers.default]
                issuer = "https://op.example"
                client_id = "a""#,
                "oidc.providers.default.client_secret",
            ),
            (
                r#"[oidc.providers.default]
                issuer = "https://op.example"
                client_id = "a"
                client_secret = "s"
                scope = ["profile"]"#,
                "oidc.providers.default.scope",
            ),
            (
                r#"[oidc.providers.default]
                issuer = "https://op.example"
                client_id = "a"
                client_secret = "s"
                auth_request_params = { state = "fixed" }"#,
                "oidc.providers.default.auth_request_params.state",
            ),
            (
                r#"[oidc.providers.default]
                issuer = "https://op.example"
                client_id = "a"
                client_secret = "s"
                id_token_signing_algs = ["none"]"#,
                "oidc.providers.default.id_token_signing_algs",
            ),
            (
                r#"[oidc.providers.default]
                issuer = "https://op.example"
                client_id = "a"
                client_secret = "s"
                userinfo_method = "put""#,
                "userinfo_method",
            ),
            (
                r#"[oidc.providers.default]
                issuer = "https://op.example"
                client_id = "a"
                client_secret = "s"
                cliend_id = "typo""#,
                "cliend_id",
            ),
            (
                r#"[oidc]
                redirect_path = "callback"
                [oidc.providers.default]
                issuer = "https://op.example"
                client_id = "a"
                client_secret = "s""#,
                "oidc.redirect_path",
            ),
            (
                r#"[oidc]
                base_url = "not a url""#,
                "oidc.base_url",
            ),
            ("[oidc]", "oidc.providers"),
            ("", "oidc"),
        ];
        for (toml, key) in cases {
            let error = load(toml).expect_err(toml);
            assert!(error.contains(key), "`{error}` should name `{key}`");
        }
    }

    #[test]
    fn http_is_allowed_on_loopback_or_when_asked() {
        let loopback = |url: &str| check_provider_url("k", url, false).is_ok();
        assert!(loopback("http://127.0.0.1:9000"));
        assert!(loopback("http://localhost:9000"));
        assert!(loopback("http://[::1]:9000"));
        assert!(!loopback("http://keycloak:8080"));
        // A remote provider's metadata may not point at plain http, not even on loopback.
        assert!(check_url("http://127.0.0.1:9000", false).is_err());
        assert!(check_url("http://keycloak:8080", false).is_err());
        assert!(check_url("http://keycloak:8080", true).is_ok());
        assert!(check_url("ftp://op.example", true).is_err());
    }
}
