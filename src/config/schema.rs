//! The schema of the `oidc` table: every key, its type and default. Each key is documented in
//! one place, docs/configuration.md (a test holds the two together); the field docs here say
//! what the field is for the API reader.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use openidconnect::ClientSecret;
use serde::Deserialize;
use url::Url;

use crate::protocol::dpop::DpopAlgorithm;
use crate::protocol::jwe::{ContentEncryption, Encryption, KeyManagement};
use crate::protocol::metadata::ProviderMetadata;
use crate::protocol::response::{ResponseMode, ResponseType};
use crate::util::url::is_loopback;

/// The whole `oidc` table.
///
/// # Example
///
/// ```
/// use figment::{Figment, providers::{Format, Toml}};
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
    /// A Redis Cluster (or Valkey cluster) instead of `redis_url` (feature `redis`): some of
    /// its nodes (`redis://127.0.0.1:7000`, `rediss://` for TLS); the others are discovered.
    /// Keys are spread over the cluster's slots by redis-rs's cluster client; a command on
    /// several keys is split by slot. Default: none.
    #[serde(default)]
    pub redis_cluster_nodes: Vec<String>,
    /// A near cache in front of Redis: what this instance read (a server-side session, the
    /// records of ended sessions) is reused for at most one second, so that a busy session
    /// is not a Redis round trip per request. An end of a session on another instance is then
    /// seen here within a second. Default `false`.
    #[serde(default)]
    pub near_cache: bool,
    /// PEM files of certificate authorities trusted for every provider (each file may hold
    /// several certificates): a private CA. A provider's own `ca_certificates` replace them.
    #[serde(default)]
    pub ca_certificates: Vec<PathBuf>,
    /// Whether providers' certificates may also chain to the public roots (Mozilla's list,
    /// built in, and the operating system's store). Default `true`; `false` trusts only
    /// `ca_certificates`.
    #[serde(default = "default_true")]
    pub use_system_roots: bool,
    /// A proxy for every call to a provider (`http://proxy.example:3128`). Default: the
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` environment variables.
    #[serde(default)]
    pub http_proxy: Option<String>,
    /// The relying party's private signing keys (PKCS#8 PEM files: EC P-256 for ES256, RSA of
    /// 2048 to 4096 bits for PS256, Ed25519 for EdDSA). The first signs (client assertions of
    /// `private_key_jwt`); all are published at `jwks_path`.
    #[serde(default)]
    pub signing_keys: Vec<PathBuf>,
    /// The relying party's private decryption keys (PEM files: RSA of 2048 to 4096 bits for
    /// `RSA-OAEP-256`, EC P-256 for `ECDH-ES`, `ECDH-ES+A128KW` and `ECDH-ES+A256KW`): what
    /// providers encrypt ID tokens and userinfo answers to (`id_token_encrypted_response_alg`
    /// and friends). Published at `jwks_path` with `use: enc`.
    #[serde(default)]
    pub encryption_keys: Vec<PathBuf>,
    /// Where the fairing serves the public keys of `signing_keys` (a JWK set), e.g.
    /// `/jwks.json`; registration then sends its URL as `jwks_uri`. Not served unless set.
    #[serde(default)]
    pub jwks_path: Option<String>,
    /// Older values of Rocket's `secret_key` (same format: 44 or 88 base64 characters, or 64
    /// hex digits), newest first: cookies and stored sessions sealed under them are still
    /// read, and re-sealed under the current key on their next use. For a key rotation
    /// without logging anyone out (docs/deployment.md). At most four.
    #[serde(default)]
    pub previous_secret_keys: Vec<PreviousSecretKey>,
    /// The application's APIs (`BearerToken`, `OidcAccess`) ask DPoP clients for a server
    /// nonce (RFC 9449 9): a proof without a current one gets 401 `use_dpop_nonce` and a
    /// `DPoP-Nonce` header. Nonces change every five minutes and are derived from
    /// `secret_key`, so every instance accepts every instance's. Default `false`.
    #[serde(default)]
    pub require_dpop_nonce: bool,
    /// The providers, by name. A guard `OidcUser<P>` uses the provider named `P::NAME`
    /// (`default` for a plain `OidcUser`).
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
}

/// A retired `secret_key` (`previous_secret_keys`): its `Debug` output never shows it.
///
/// # Example
///
/// ```
/// use figment::{Figment, providers::{Format, Toml}};
/// use rocket_openidconnect::OidcConfig;
///
/// let figment = Figment::from(Toml::string(r#"
///     [oidc]
///     previous_secret_keys = ["hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="]
///     [oidc.providers.default]
///     issuer = "https://op.example.com"
///     client_id = "my-app"
///     client_secret = "s3cret"
/// "#));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// assert_eq!(format!("{:?}", config.previous_secret_keys), "[PreviousSecretKey([redacted])]");
/// ```
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct PreviousSecretKey(String);

impl PreviousSecretKey {
    /// The key as configured: for the code that derives the cipher keys, never for a log.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PreviousSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreviousSecretKey([redacted])")
    }
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
    /// On the server, in Redis (`redis_url` or `redis_cluster_nodes`), shared by every
    /// instance.
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
    /// A JWT signed with HS256 under the client secret (RFC 7523, OpenID Connect Core 9).
    ClientSecretJwt,
    /// A JWT signed with the relying party's first `signing_keys` key (RFC 7523): no client
    /// secret.
    PrivateKeyJwt,
    /// Mutual TLS with a certificate of a CA the provider trusts (RFC 8705 2.1): the
    /// provider's `tls_client_certificate`, no client secret.
    TlsClientAuth,
    /// Mutual TLS with a self-signed certificate the provider knows from the client's
    /// registered keys (RFC 8705 2.2): the provider's `tls_client_certificate`, no secret.
    SelfSignedTlsClientAuth,
}

impl ClientAuthMethod {
    /// The method's registered name (`client_secret_basic`, `private_key_jwt`, ...).
    ///
    /// # Example
    ///
    /// ```
    /// use rocket_openidconnect::ClientAuthMethod;
    ///
    /// assert_eq!(ClientAuthMethod::PrivateKeyJwt.name(), "private_key_jwt");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretJwt => "client_secret_jwt",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
            ClientAuthMethod::TlsClientAuth => "tls_client_auth",
            ClientAuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// Whether the FAPI 2.0 Security Profile allows the method: `private_key_jwt` or mutual
    /// TLS.
    pub(crate) fn suits_fapi2(self) -> bool {
        self == ClientAuthMethod::PrivateKeyJwt || self.is_mtls()
    }

    /// Whether the client authenticates by mutual TLS (its certificate, no secret).
    pub(crate) fn is_mtls(self) -> bool {
        matches!(
            self,
            ClientAuthMethod::TlsClientAuth | ClientAuthMethod::SelfSignedTlsClientAuth
        )
    }

    /// The method of a registered name, if it is one this crate speaks.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::None,
            ClientAuthMethod::ClientSecretJwt,
            ClientAuthMethod::PrivateKeyJwt,
            ClientAuthMethod::TlsClientAuth,
            ClientAuthMethod::SelfSignedTlsClientAuth,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// Whether authorization requests are pushed to the provider first (RFC 9126,
/// `pushed_authorization`): the parameters go server to server, authenticated as the client,
/// and the browser carries only `client_id` and `request_uri`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PushedAuthorization {
    /// When the provider has a `pushed_authorization_request_endpoint` (the default).
    #[default]
    Auto,
    /// Always: a provider without the endpoint is an error.
    Required,
    /// Never: parameters in the browser's URL (a provider that requires PAR is an error).
    Off,
}

/// A security profile (`profile`): a set of rules the provider's settings must follow, checked
/// at launch and applied at every login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum Profile {
    /// The FAPI 2.0 Security Profile: code flow through PAR with PKCE S256, the `iss`
    /// response parameter required, `private_key_jwt` client authentication, DPoP-bound
    /// tokens (a Bearer answer is refused), ID tokens signed with PS256, ES256 or EdDSA only.
    #[serde(rename = "fapi2")]
    Fapi2,
}

/// How the authorization parameters travel (`request_object`, RFC 9101).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestObject {
    /// In a request object signed with the first `signing_keys` key, and encrypted to the
    /// provider when it publishes a key for that (`use: enc`) with an algorithm it advertises
    /// for request objects.
    Signed,
    /// Signed, and always encrypted to the provider: a login fails (502) when the provider
    /// publishes no key and algorithm to encrypt to.
    SignedAndEncrypted,
}

/// What the introspection endpoint answers (see
/// [`ProviderConfig::introspection_response`]).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::IntrospectionResponse;
///
/// let signed: IntrospectionResponse = serde_json::from_str("\"jwt\"").unwrap();
/// assert_eq!(signed, IntrospectionResponse::Jwt);
/// assert_eq!(IntrospectionResponse::default(), IntrospectionResponse::Json);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IntrospectionResponse {
    /// A JSON object (RFC 7662): the default.
    #[default]
    Json,
    /// A signed JWT whose `token_introspection` claim holds the answer (RFC 9701).
    Jwt,
}

impl ProviderConfig {
    /// How ID tokens must be encrypted, if they must (after the launch checks, which refuse
    /// names that do not parse).
    pub(crate) fn id_token_encryption(&self) -> Option<Encryption> {
        encryption(
            self.id_token_encrypted_response_alg.as_deref(),
            self.id_token_encrypted_response_enc.as_deref(),
        )
    }

    /// How JARM responses must be encrypted, if they must.
    pub(crate) fn authorization_encryption(&self) -> Option<Encryption> {
        encryption(
            self.authorization_encrypted_response_alg.as_deref(),
            self.authorization_encrypted_response_enc.as_deref(),
        )
    }

    /// The algorithm signed answers (JARM responses, introspection answers) have by default:
    /// `PS256` under the fapi2 profile, else `RS256`.
    fn default_answer_alg(&self) -> &'static str {
        if self.is_fapi2() {
            "PS256"
        } else {
            "RS256"
        }
    }

    /// The algorithm JARM responses are signed with, if the response mode is JARM.
    pub(crate) fn authorization_signing_alg(&self) -> Option<&str> {
        self.response_mode().is_jwt().then(|| {
            self.authorization_signed_response_alg
                .as_deref()
                .unwrap_or(self.default_answer_alg())
        })
    }

    /// How userinfo answers must be encrypted, if they must.
    pub(crate) fn userinfo_encryption(&self) -> Option<Encryption> {
        encryption(
            self.userinfo_encrypted_response_alg.as_deref(),
            self.userinfo_encrypted_response_enc.as_deref(),
        )
    }

    /// The algorithm signed introspection answers must have, if they must be signed.
    pub(crate) fn introspection_alg(&self) -> Option<&str> {
        match self.introspection_response {
            IntrospectionResponse::Json => None,
            IntrospectionResponse::Jwt => Some(
                self.introspection_signed_response_alg
                    .as_deref()
                    .unwrap_or(self.default_answer_alg()),
            ),
        }
    }
}

/// The encryption of an `alg`/`enc` pair of settings (`enc` defaults to `A128CBC-HS256`).
pub(crate) fn encryption(alg: Option<&str>, enc: Option<&str>) -> Option<Encryption> {
    Some(Encryption {
        alg: KeyManagement::parse(alg?).ok()?,
        enc: ContentEncryption::parse(enc.unwrap_or("A128CBC-HS256")).ok()?,
    })
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
/// use figment::{Figment, providers::{Format, Toml}};
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
    /// How it is delivered: `query`, `fragment` or `form_post`, or as a signed JWT (JARM):
    /// `jwt`, `query.jwt`, `fragment.jwt` or `form_post.jwt`. Default: `query` for `code`,
    /// `fragment` for the types that carry tokens (which must never be in a query, unless in
    /// an encrypted `query.jwt`).
    #[serde(default)]
    pub response_mode: Option<ResponseMode>,
    /// The algorithm the provider signs JARM responses with (`RS256`, the default, `PS256`,
    /// `ES256`, `EdDSA`, ...; asymmetric only). Needs a `.jwt` `response_mode`.
    #[serde(default)]
    pub authorization_signed_response_alg: Option<String>,
    /// JARM responses encrypted to the relying party (signed, then encrypted): the key
    /// management, as `id_token_encrypted_response_alg`. A response that is not encrypted is
    /// then refused. Needs a `.jwt` `response_mode` and a key in `oidc.encryption_keys`.
    #[serde(default)]
    pub authorization_encrypted_response_alg: Option<String>,
    /// The content encryption of encrypted JARM responses (default `A128CBC-HS256`).
    #[serde(default)]
    pub authorization_encrypted_response_enc: Option<String>,
    /// Extra authorization request parameters (for example `{ prompt = "login" }`).
    #[serde(default, deserialize_with = "deserialize_params")]
    pub auth_request_params: BTreeMap<String, String>,
    /// `get` (default), `post` or `none`.
    #[serde(default = "default_userinfo_method")]
    pub userinfo_method: UserinfoMethod,
    /// The algorithm the provider signs userinfo answers with (`RS256`, `PS256`, `ES256`,
    /// `EdDSA`, ...): answers must then be signed JWTs (`application/jwt`) from the provider's
    /// issuer for this client; a plain JSON answer fails the login. Registration asks for it.
    /// Default: none (plain JSON answers).
    #[serde(default)]
    pub userinfo_signed_response_alg: Option<String>,
    /// The key management the provider encrypts ID tokens with: `RSA-OAEP-256`, `ECDH-ES`,
    /// `ECDH-ES+A128KW` or `ECDH-ES+A256KW` (needs a key of that kind in
    /// `oidc.encryption_keys`). ID tokens must then be encrypted (a plain one fails the login);
    /// the signed token inside is validated as usual. Registration asks for it. `RSA1_5` and
    /// `dir` are refused. Default: none (signed ID tokens).
    #[serde(default)]
    pub id_token_encrypted_response_alg: Option<String>,
    /// The content encryption of encrypted ID tokens: `A128CBC-HS256` (the default, as in
    /// OpenID Connect registration), `A128GCM` or `A256GCM`. Needs
    /// `id_token_encrypted_response_alg`.
    #[serde(default)]
    pub id_token_encrypted_response_enc: Option<String>,
    /// As `id_token_encrypted_response_alg`, for userinfo answers (`application/jwt`, holding
    /// the claims, or a signed JWT of them when `userinfo_signed_response_alg` is set too).
    #[serde(default)]
    pub userinfo_encrypted_response_alg: Option<String>,
    /// As `id_token_encrypted_response_enc`, for userinfo answers.
    #[serde(default)]
    pub userinfo_encrypted_response_enc: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post`, `client_secret_jwt`,
    /// `private_key_jwt`, `tls_client_auth`, `self_signed_tls_client_auth` or `none` (a
    /// public client).
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
    /// Pushed authorization requests (RFC 9126): `auto` (the default: when the provider
    /// offers them), `required`, or `off`.
    #[serde(default)]
    pub pushed_authorization: PushedAuthorization,
    /// Sender-constrained tokens with DPoP (RFC 9449): a key per session, its thumbprint
    /// sent as `dpop_jkt`, a proof with every token, userinfo and revocation request
    /// (default `false`).
    #[serde(default)]
    pub dpop: bool,
    /// The algorithm of the sessions' DPoP keys: `ES256` (the default) or `EdDSA`.
    #[serde(default)]
    pub dpop_signing_alg: DpopAlgorithm,
    /// `signed`: the authorization parameters go in a request object (RFC 9101, JAR) signed
    /// with the first `signing_keys` key, pushed or by value; outside it only `client_id`,
    /// `response_type` and `scope`; encrypted to the provider when it publishes an encryption
    /// key. `signed_and_encrypted`: always encrypted too. Default: none (plain parameters).
    #[serde(default)]
    pub request_object: Option<RequestObject>,
    /// Resource indicators (RFC 8707): the APIs the user grants access to, all sent on the
    /// authorization request (absolute URIs without a fragment); the session's access token
    /// is for the first (sent on the code exchange), tokens for the others come from
    /// `OidcUser::valid_access_token_for`.
    #[serde(default)]
    pub resource: Vec<String>,
    /// A security profile whose rules this provider's settings must follow: `fapi2` (the
    /// FAPI 2.0 Security Profile). Default: none.
    #[serde(default)]
    pub profile: Option<Profile>,
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
    /// What the introspection endpoint is asked to answer: `"json"` (RFC 7662, the default)
    /// or `"jwt"` (RFC 9701): a JWT signed by the provider, asked for with `Accept:
    /// application/token-introspection+jwt`, verified with the provider's keys and
    /// [`introspection_signed_response_alg`](Self::introspection_signed_response_alg), from
    /// its issuer, for this client; a plain JSON answer is then refused.
    #[serde(default)]
    pub introspection_response: IntrospectionResponse,
    /// The algorithm of signed introspection answers (`introspection_response = "jwt"`);
    /// default `RS256` (RFC 9701). Registration asks for it.
    #[serde(default)]
    pub introspection_signed_response_alg: Option<String>,
    /// An access token is refreshed when it expires within this many seconds (default 30).
    #[serde(default = "default_access_token_leeway")]
    pub access_token_leeway: u64,
    /// Minimum seconds between two key-set refetches caused by an unknown `kid` (default 30).
    #[serde(default = "default_jwks_refetch_interval")]
    pub jwks_refetch_interval: u64,
    /// Certificate authorities for this provider only (PEM files), instead of the global
    /// `ca_certificates`.
    #[serde(default)]
    pub ca_certificates: Option<Vec<PathBuf>>,
    /// Whether this provider's certificate may chain to the public roots (default: the
    /// global `use_system_roots`).
    #[serde(default)]
    pub use_system_roots: Option<bool>,
    /// A client certificate (PEM, with its chain) for mutual TLS with this provider; needs
    /// `tls_client_key`.
    #[serde(default)]
    pub tls_client_certificate: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) of `tls_client_certificate`.
    #[serde(default)]
    pub tls_client_key: Option<PathBuf>,
    /// A proxy for this provider's calls, instead of the global `http_proxy`.
    #[serde(default)]
    pub http_proxy: Option<String>,
    /// A multi-tenant provider (Microsoft Entra ID style): the tenants (`tid` claims) whose
    /// users may log in, or `["*"]` for any; the discovered issuer may then be a template
    /// with `{tenantid}`, which the token's `tid` fills in.
    #[serde(default)]
    pub allowed_tenants: Option<Vec<String>>,
    /// The claim that holds the user's roles (a path: `realm_access.roles`,
    /// `resource_access.my-client.roles`, `https://example.com/roles`): `OidcUser::roles()` and
    /// the `HasRole` requirement read it.
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// Seconds between background re-reads of the discovery document (default 86400, one
    /// day; 0: never).
    #[serde(default = "default_metadata_refresh_interval")]
    pub metadata_refresh_interval: u64,
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
fn default_metadata_refresh_interval() -> u64 {
    86_400
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
/// use figment::{Figment, providers::{Format, Toml}};
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

impl OidcConfig {
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
    /// use figment::{Figment, providers::{Format, Toml}};
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
            .resolved(self.response_type)
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

    /// Whether this is a multi-tenant provider (`allowed_tenants`).
    pub fn is_multi_tenant(&self) -> bool {
        self.allowed_tenants.is_some()
    }

    /// The issuer: the configured one or the static metadata's.
    pub fn issuer(&self) -> &str {
        self.issuer
            .as_deref()
            .or(self.metadata.as_ref().map(|m| m.issuer.as_str()))
            .unwrap_or_default()
    }
}
