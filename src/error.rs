//! Errors, one enum per layer. None of them ever carries a token, a code or a secret, and
//! their messages escape whatever text came from a provider or a browser (control characters
//! as escapes, length bounded): they are safe to log and (through [`AuthError::description`])
//! to show.

use thiserror::Error;

use crate::util::params::ParamError;
use crate::util::text::for_log;

/// Longest piece of outside text in an error message.
const SHOWN: usize = 200;

/// A configuration problem found at ignite. The message names the key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// figment could not read the table (missing key, wrong type, unknown key).
    #[error("invalid OpenID Connect configuration: {0}")]
    Figment(Box<figment::Error>),
    /// A required key is missing.
    #[error("{}: missing", for_log(.0, SHOWN))]
    Missing(String),
    /// A key has a value that cannot work.
    #[error("{}: {}", for_log(.key, SHOWN), for_log(.reason, SHOWN))]
    Invalid {
        /// The full key, e.g. `oidc.providers.default.issuer`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    /// The error of a `key` whose value is wrong, and why.
    pub(crate) fn invalid(key: &str, why: impl std::fmt::Display) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            reason: why.to_string(),
        }
    }
}

/// A failure talking to a provider (discovery, key set, token or userinfo endpoint).
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum ProviderError {
    /// The provider could not be reached (connection refused, DNS, timeout).
    #[error("{endpoint} is unreachable: {}", for_log(.reason, SHOWN))]
    Unreachable {
        /// Which endpoint.
        endpoint: &'static str,
        /// Why (never contains request data).
        reason: String,
    },
    /// The provider answered with an unexpected HTTP status.
    #[error("{endpoint} answered HTTP {status}")]
    Status {
        /// Which endpoint.
        endpoint: &'static str,
        /// The status code.
        status: u16,
    },
    /// The provider's answer could not be used.
    #[error("{endpoint} sent an invalid response: {}", for_log(.reason, SHOWN))]
    InvalidResponse {
        /// Which endpoint.
        endpoint: &'static str,
        /// What was wrong (never contains the body).
        reason: String,
    },
    /// The discovery document names another issuer than the configured one.
    #[error(
        "discovery document names issuer `{}`, expected `{}`",
        for_log(.found, SHOWN),
        for_log(.expected, SHOWN)
    )]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's issuer.
        found: String,
    },
    /// The provider has no endpoint needed for the flow.
    #[error("the provider has no {0}")]
    MissingEndpoint(&'static str),
    /// The client could not authenticate itself (its assertion could not be made).
    #[error("the client assertion could not be made: {}", for_log(.0, SHOWN))]
    ClientAuthentication(String),
    /// The application asked for a client-authenticated call to a URL that is not at the
    /// provider (the origin of none of its endpoints): the client's credentials never go
    /// elsewhere.
    #[error("{} is not at the provider: the client's credentials go only to its endpoints", for_log(.0, SHOWN))]
    ForeignEndpoint(String),
    /// A DPoP proof could not be made (the session's key cannot be read).
    #[error("a DPoP proof could not be made: {}", for_log(.0, SHOWN))]
    DpopProof(String),
    /// A TLS failure: the provider's certificate was refused (not trusted, expired, for
    /// another host name), or the provider refused the handshake. A configuration problem
    /// (shown as 502), never retried as an outage.
    #[error(
        "provider `{}`: TLS failure at the {endpoint}: {}",
        for_log(.provider, SHOWN),
        for_log(.reason, SHOWN)
    )]
    Tls {
        /// The provider's name in the configuration.
        provider: String,
        /// Which endpoint.
        endpoint: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl ProviderError {
    /// `true` when the provider could not be reached or says it is unavailable (shown as 503),
    /// as opposed to answering wrongly (502).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ProviderError::Unreachable { .. }
                | ProviderError::Status {
                    status: 502..=504,
                    ..
                }
        )
    }
}

/// Why an ID token was rejected (OpenID Connect Core 3.1.3.7).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed signed JWT with the required claims.
    #[error("malformed ID token: {}", for_log(.0, SHOWN))]
    Malformed(String),
    /// The `alg` is `none`, not allowed for this provider, or unsupported.
    #[error("ID token algorithm rejected: {}", for_log(.0, SHOWN))]
    Algorithm(String),
    /// No key of the provider matches the token's `kid`/`alg`.
    #[error("no matching key for the ID token: {}", for_log(.0, SHOWN))]
    UnknownKey(String),
    /// The token has no `kid` and several of the provider's keys could have signed it.
    #[error("the ID token has no `kid` and several keys match")]
    AmbiguousKey,
    /// The signature does not verify.
    #[error("ID token signature is invalid")]
    Signature,
    /// `iss` is not the provider's issuer.
    #[error("ID token issuer is wrong: {}", for_log(.0, SHOWN))]
    Issuer(String),
    /// `aud` does not contain the client, or contains untrusted audiences.
    #[error("ID token audience is wrong: {}", for_log(.0, SHOWN))]
    Audience(String),
    /// `azp` is missing with several audiences, or is not the client.
    #[error("ID token authorized party is wrong: {}", for_log(.0, SHOWN))]
    AuthorizedParty(String),
    /// `exp` is in the past (beyond the clock skew).
    #[error("ID token expired")]
    Expired,
    /// `iat` is in the future, or before the login started (beyond the clock skew).
    #[error("ID token issue time is out of range")]
    IssuedAt,
    /// `nbf` is in the future.
    #[error("ID token is not valid yet")]
    NotYetValid,
    /// `nonce` missing or not the one sent.
    #[error("ID token nonce is wrong: {}", for_log(.0, SHOWN))]
    Nonce(String),
    /// `sub` missing or empty.
    #[error("ID token subject is missing")]
    Subject,
    /// `max_age` was requested and `auth_time` is missing or too old.
    #[error("ID token authentication time is missing or too old")]
    AuthTime,
    /// `acr_values` were requested and `acr` is missing or not one of them.
    #[error("ID token authentication context class is not one requested")]
    AuthContext,
    /// The ID token is not encrypted as configured (`id_token_encrypted_response_alg`), or
    /// does not decrypt with the relying party's keys.
    #[error("ID token encryption: {}", for_log(.0, SHOWN))]
    Encryption(String),
    /// A hash of a value returned with the ID token (`c_hash` of the code, `at_hash` of the
    /// access token, `s_hash` of the state) is wrong, or missing where required.
    #[error("ID token `{0}` is missing or does not match")]
    Hash(&'static str),
}

/// The store of shared state (one-time values, ended sessions) failed.
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or did not answer in time.
    #[error("the session store is unavailable: {}", for_log(.0, SHOWN))]
    Unavailable(String),
}

/// The user's claims do not fit the application's type (see
/// [`UserSession::claims_as`](crate::UserSession::claims_as)).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("claim `{}`: {}", for_log(.claim, SHOWN), for_log(.reason, SHOWN))]
#[non_exhaustive]
pub struct ClaimsError {
    /// The path of the claim (`groups[2]`, `address.country`; `.` for the whole set).
    pub claim: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A failed login or callback: what the error view receives.
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum AuthError {
    /// The callback has no `state`, or no pending login matches it (forged, replayed, expired,
    /// or from another browser).
    #[error("the login could not be matched to this browser ({0})")]
    InvalidState(&'static str),
    /// A parameter appears more than once, or the callback is malformed.
    #[error("malformed callback: {}", for_log(.0, SHOWN))]
    InvalidCallback(String),
    /// The `iss` response parameter (RFC 9207) does not match, or is missing though advertised.
    #[error("the response comes from another issuer")]
    IssuerMismatch,
    /// The provider returned an error response (`error=...`).
    #[error("the provider refused the login: {}", for_log(.error, SHOWN))]
    ProviderRefused {
        /// The `error` code, e.g. `access_denied`.
        error: String,
        /// The `error_description`, if any (plain text; escape it before showing).
        description: Option<String>,
    },
    /// The token endpoint refused the code (`invalid_grant` and friends).
    #[error("the token endpoint refused the code: {}", for_log(.0, SHOWN))]
    TokenRejected(String),
    /// The token response is unusable (wrong token_type, no id_token, ...).
    #[error("the token response is unusable: {}", for_log(.0, SHOWN))]
    TokenResponse(String),
    /// The ID token failed validation.
    #[error(transparent)]
    IdToken(#[from] TokenError),
    /// The userinfo `sub` differs from the ID token's, or is missing.
    #[error("the userinfo subject does not match the ID token")]
    UserinfoSubject,
    /// A silent re-authentication or a refresh returned another user than the session's.
    #[error("the provider returned another user than the session's")]
    SubjectChanged,
    /// The session ended: its refresh token was refused, or it has none to refresh with.
    #[error("the session has ended: {}", for_log(.0, SHOWN))]
    SessionEnded(String),
    /// A refresh was asked for, but the session has no refresh token.
    #[error("the session has no refresh token")]
    NoRefreshToken,
    /// A token request the application made cannot be sent as it is (a resource that is not
    /// an absolute URI, a parameter that is the grant's own): a programming error, 500.
    #[error("the token request is invalid: {}", for_log(.0, SHOWN))]
    InvalidTokenRequest(String),
    /// The login was started for a provider that is not configured (any more).
    #[error("the provider `{}` is not configured", for_log(.0, SHOWN))]
    UnknownProvider(String),
    /// No session, and the request is not a browser navigation that could be sent to log in.
    #[error("login required")]
    LoginRequired,
    /// The session does not fit in the cookies (the provider's tokens are too large).
    #[error("the session is too large to be stored")]
    SessionTooLarge,
    /// A provider endpoint failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The store of shared state failed (shown as 503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user is logged in but may not do this (a requirement of the route denies it: 403).
    #[error("this user may not do this")]
    Forbidden,
    /// The route asks for a stronger authentication than the session's (RFC 9470): a request
    /// that is not a browser navigation gets 401 with a `WWW-Authenticate` challenge naming
    /// what to ask the provider for.
    #[error("a stronger authentication is required")]
    InsufficientUserAuthentication {
        /// The `acr_values` to ask for, if any.
        acr_values: Option<String>,
        /// The `max_age` to ask for, if any.
        max_age: Option<u64>,
    },
    /// A step-up login came back without what it asked for (another `acr`, an older
    /// authentication, or another user): 403, never another redirect.
    #[error(
        "the provider did not give the stronger authentication asked for: {}",
        for_log(.0, SHOWN)
    )]
    StepUpRefused(String),
    /// Too many private-key decryptions are running at once (a flood of encrypted messages):
    /// 503, try again.
    #[error("too many encrypted messages at once: try again")]
    Overloaded,
    /// The application's login hook (`OpenIdConnect::on_login`) refused the login: 403
    /// `access_denied`, the hook's reason as the description.
    #[error("the application refused the login: {}", for_log(.0, SHOWN))]
    LoginRefused(String),
}

impl AuthError {
    /// The HTTP status this error is shown with: 400 for a bad callback, 502 when the provider
    /// answers wrongly, 503 when it cannot be reached.
    pub fn status_code(&self) -> u16 {
        match self {
            AuthError::LoginRequired | AuthError::SessionEnded(_) | AuthError::NoRefreshToken => {
                401
            }
            AuthError::SessionTooLarge | AuthError::InvalidTokenRequest(_) => 500,
            AuthError::Forbidden | AuthError::StepUpRefused(_) | AuthError::LoginRefused(_) => 403,
            AuthError::InsufficientUserAuthentication { .. } => 401,
            AuthError::Provider(e) if e.is_unreachable() => 503,
            AuthError::Store(_) | AuthError::Overloaded => 503,
            AuthError::Provider(_) | AuthError::TokenResponse(_) => 502,
            AuthError::IdToken(TokenError::Encryption(_)) => 502,
            _ => 400,
        }
    }

    /// A short machine-readable code, like an OAuth `error` value.
    pub fn error_code(&self) -> &str {
        match self {
            AuthError::InvalidState(_) => "invalid_state",
            AuthError::InvalidCallback(_) => "invalid_request",
            AuthError::IssuerMismatch => "issuer_mismatch",
            AuthError::ProviderRefused { error, .. } => error,
            AuthError::TokenRejected(_) => "invalid_grant",
            AuthError::TokenResponse(_) => "invalid_token_response",
            AuthError::IdToken(_) => "invalid_id_token",
            AuthError::UserinfoSubject => "invalid_userinfo",
            AuthError::LoginRequired => "login_required",
            AuthError::SubjectChanged => "subject_changed",
            AuthError::NoRefreshToken => "no_refresh_token",
            AuthError::SessionEnded(_) => "session_ended",
            AuthError::UnknownProvider(_) => "unknown_provider",
            AuthError::SessionTooLarge => "session_too_large",
            AuthError::InvalidTokenRequest(_) => "invalid_token_request",
            AuthError::Provider(e) if e.is_unreachable() => "temporarily_unavailable",
            AuthError::Provider(_) => "provider_error",
            AuthError::Store(_) | AuthError::Overloaded => "temporarily_unavailable",
            AuthError::Forbidden => "forbidden",
            AuthError::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            AuthError::StepUpRefused(_) => "insufficient_user_authentication",
            AuthError::LoginRefused(_) => "access_denied",
        }
    }

    /// The reason of a failure in the metrics: [`error_code`](Self::error_code) when it is one
    /// of a fixed list (this crate's codes, and OAuth's and OpenID Connect's `error` values a
    /// provider may send), else `other`: a label never holds what a provider or a browser made
    /// up.
    pub(crate) fn metric_reason(&self) -> &'static str {
        const KNOWN: &[&str] = &[
            "invalid_state",
            "invalid_request",
            "issuer_mismatch",
            "invalid_grant",
            "invalid_token_response",
            "invalid_id_token",
            "invalid_userinfo",
            "login_required",
            "subject_changed",
            "no_refresh_token",
            "session_ended",
            "unknown_provider",
            "session_too_large",
            "invalid_token_request",
            "temporarily_unavailable",
            "provider_error",
            "forbidden",
            "insufficient_user_authentication",
            // OAuth 2.0 (RFC 6749 4.1.2.1) and OpenID Connect Core 3.1.2.6.
            "unauthorized_client",
            "access_denied",
            "unsupported_response_type",
            "invalid_scope",
            "server_error",
            "interaction_required",
            "account_selection_required",
            "consent_required",
            "invalid_request_uri",
            "invalid_request_object",
            "request_not_supported",
            "request_uri_not_supported",
            "registration_not_supported",
            "invalid_client",
        ];
        let code = self.error_code();
        KNOWN
            .iter()
            .find(|k| **k == code)
            .copied()
            .unwrap_or("other")
    }

    /// A human-readable description, free of tokens and secrets.
    pub fn description(&self) -> String {
        match self {
            AuthError::ProviderRefused {
                description: Some(d),
                ..
            } => for_log(d, SHOWN * 2),
            other => other.to_string(),
        }
    }
}

impl AuthError {
    /// The RFC 9470 challenge of [`AuthError::InsufficientUserAuthentication`]: the value of a
    /// `WWW-Authenticate` header.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket_openidconnect::AuthError;
    ///
    /// let error = AuthError::InsufficientUserAuthentication {
    ///     acr_values: Some("urn:example:acr:mfa".into()),
    ///     max_age: None,
    /// };
    /// assert_eq!(
    ///     error.www_authenticate().as_deref(),
    ///     Some(r#"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:example:acr:mfa""#)
    /// );
    /// ```
    pub fn www_authenticate(&self) -> Option<String> {
        let AuthError::InsufficientUserAuthentication {
            acr_values,
            max_age,
        } = self
        else {
            return None;
        };
        let quote = |s: &str| -> String {
            s.chars()
                .filter(|c| !matches!(c, '\\' | '"') && !c.is_control())
                .collect()
        };
        let mut value = String::from(
            "Bearer error=\"insufficient_user_authentication\", \
             error_description=\"A different authentication level is required\"",
        );
        if let Some(acr) = acr_values {
            value.push_str(&format!(", acr_values=\"{}\"", quote(acr)));
        }
        if let Some(max_age) = max_age {
            value.push_str(&format!(", max_age={max_age}"));
        }
        Some(value)
    }
}

impl From<ParamError> for AuthError {
    fn from(error: ParamError) -> Self {
        AuthError::InvalidCallback(error.to_string())
    }
}

/// Why a bearer token was refused (RFC 6750). Every one is a responder with the right status
/// and `WWW-Authenticate` header.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::BearerError;
///
/// let error = BearerError::InsufficientScope(vec!["api".into()]);
/// assert_eq!(error.status_code(), 403);
/// assert_eq!(
///     error.www_authenticate("api"),
///     r#"Bearer realm="api", error="insufficient_scope", scope="api""#
/// );
/// ```
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("malformed authorization header")]
    Malformed,
    /// The token is invalid, expired, revoked, or for someone else.
    #[error("invalid token: {}", for_log(.0, SHOWN))]
    Invalid(String),
    /// The token lacks scopes the route requires.
    #[error("insufficient scope: {}", for_log(&.0.join(" "), SHOWN))]
    InsufficientScope(Vec<String>),
    /// The provider (key set, introspection) cannot be reached.
    #[error(transparent)]
    Unavailable(#[from] ProviderError),
    /// The token's user authenticated less strongly than the route requires (RFC 9470): 401
    /// with a challenge naming what to ask the provider for.
    #[error("a stronger authentication is required")]
    InsufficientUserAuthentication {
        /// The `acr_values` to ask for, if any.
        acr_values: Option<String>,
        /// The `max_age` to ask for, if any.
        max_age: Option<u64>,
    },
    /// The `DPoP` proof of a request with a DPoP-bound token (RFC 9449) is missing, not one
    /// header, malformed, not signed by its key, for another method, URL or token, too old,
    /// from the future, or used before: 401 `DPoP error="invalid_dpop_proof"`.
    #[error("invalid DPoP proof: {}", for_log(.0, SHOWN))]
    InvalidDpopProof(String),
    /// A token sent as `Authorization: DPoP` is invalid, expired, or bound to another key
    /// than the proof's: 401 `DPoP error="invalid_token"`.
    #[error("invalid DPoP-bound token: {}", for_log(.0, SHOWN))]
    InvalidDpopToken(String),
    /// The application asks DPoP clients for a server nonce (`require_dpop_nonce`) and the
    /// proof had none, or an old one: 401 `DPoP error="use_dpop_nonce"` with this nonce in
    /// the `DPoP-Nonce` header (RFC 9449 9).
    #[error("a DPoP server nonce is required")]
    UseDpopNonce {
        /// The nonce to use.
        nonce: String,
    },
    /// The store of one-time values (the proofs' `jti`) cannot be reached: 503.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The algorithms a DPoP proof sent to the application's APIs may use (the `algs` of a DPoP
/// challenge; `protocol::dpop` accepts exactly these).
pub(crate) const DPOP_PROOF_ALGS: &str = "ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA";

impl BearerError {
    /// The HTTP status: 401, 403 for missing scopes, 503 when the provider is unavailable.
    pub fn status_code(&self) -> u16 {
        match self {
            BearerError::InsufficientScope(_) => 403,
            BearerError::Malformed => 400,
            BearerError::Unavailable(e) if e.is_unreachable() => 503,
            BearerError::Unavailable(_) => 502,
            BearerError::Store(_) => 503,
            _ => 401,
        }
    }

    /// The RFC 6750 `error` code, if any.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            BearerError::Missing => None,
            BearerError::Malformed => Some("invalid_request"),
            BearerError::Invalid(_) => Some("invalid_token"),
            BearerError::InsufficientScope(_) => Some("insufficient_scope"),
            BearerError::Unavailable(_) => None,
            BearerError::InsufficientUserAuthentication { .. } => {
                Some("insufficient_user_authentication")
            }
            BearerError::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            BearerError::InvalidDpopToken(_) => Some("invalid_token"),
            BearerError::UseDpopNonce { .. } => Some("use_dpop_nonce"),
            BearerError::Store(_) => None,
        }
    }

    /// The `WWW-Authenticate` header value for `realm`.
    pub fn www_authenticate(&self, realm: &str) -> String {
        // Quoted strings of the header: no quote, backslash or control character gets in.
        let quote = |s: &str| -> String {
            s.chars()
                .filter(|c| !matches!(c, '\\' | '"') && !c.is_control())
                .collect()
        };
        // RFC 9449 7.1: the errors of DPoP requests in a DPoP challenge, with the algorithms
        // a proof may use.
        let dpop = matches!(
            self,
            BearerError::InvalidDpopProof(_)
                | BearerError::InvalidDpopToken(_)
                | BearerError::UseDpopNonce { .. }
        );
        let mut value = if dpop {
            format!(
                "DPoP realm=\"{}\", algs=\"{}\"",
                quote(realm),
                DPOP_PROOF_ALGS
            )
        } else {
            format!("Bearer realm=\"{}\"", quote(realm))
        };
        if let Some(code) = self.error_code() {
            value.push_str(&format!(", error=\"{code}\""));
        }
        if let BearerError::InsufficientScope(scopes) = self {
            value.push_str(&format!(", scope=\"{}\"", quote(&scopes.join(" "))));
        }
        if let BearerError::InsufficientUserAuthentication {
            acr_values,
            max_age,
        } = self
        {
            if let Some(acr) = acr_values {
                value.push_str(&format!(", acr_values=\"{}\"", quote(acr)));
            }
            if let Some(max_age) = max_age {
                value.push_str(&format!(", max_age={max_age}"));
            }
        }
        value
    }
}

impl From<TokenError> for BearerError {
    fn from(error: TokenError) -> Self {
        BearerError::Invalid(error.to_string())
    }
}
