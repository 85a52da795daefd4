//! Errors, one enum per layer. None of them ever carries a token, a code or a secret: they are
//! safe to log and (through [`AuthError::description`]) to show.

use thiserror::Error;

/// A configuration problem found at ignite. The message names the key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// figment could not read the table (missing key, wrong type, unknown key).
    #[error("invalid OpenID Connect configuration: {0}")]
    Figment(Box<rocket::figment::Error>),
    /// A required key is missing.
    #[error("{0}: missing")]
    Missing(String),
    /// A key has a value that cannot work.
    #[error("{key}: {reason}")]
    Invalid {
        /// The full key, e.g. `oidc.providers.default.issuer`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A failure talking to a provider (discovery, key set, token or userinfo endpoint).
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum ProviderError {
    /// The provider could not be reached (connection refused, DNS, timeout).
    #[error("{endpoint} is unreachable: {reason}")]
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
    #[error("{endpoint} sent an invalid response: {reason}")]
    InvalidResponse {
        /// Which endpoint.
        endpoint: &'static str,
        /// What was wrong (never contains the body).
        reason: String,
    },
    /// The discovery document names another issuer than the configured one.
    #[error("discovery document names issuer `{found}`, expected `{expected}`")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The document's issuer.
        found: String,
    },
    /// The provider has no endpoint needed for the flow.
    #[error("the provider has no {0}")]
    MissingEndpoint(&'static str),
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
    #[error("malformed ID token: {0}")]
    Malformed(String),
    /// The `alg` is `none`, not allowed for this provider, or unsupported.
    #[error("ID token algorithm rejected: {0}")]
    Algorithm(String),
    /// No key of the provider matches the token's `kid`/`alg`.
    #[error("no matching key for the ID token: {0}")]
    UnknownKey(String),
    /// The token has no `kid` and several of the provider's keys could have signed it.
    #[error("the ID token has no `kid` and several keys match")]
    AmbiguousKey,
    /// The signature does not verify.
    #[error("ID token signature is invalid")]
    Signature,
    /// `iss` is not the provider's issuer.
    #[error("ID token issuer is wrong: {0}")]
    Issuer(String),
    /// `aud` does not contain the client, or contains untrusted audiences.
    #[error("ID token audience is wrong: {0}")]
    Audience(String),
    /// `azp` is missing with several audiences, or is not the client.
    #[error("ID token authorized party is wrong: {0}")]
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
    #[error("ID token nonce is wrong: {0}")]
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
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
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
    #[error("malformed callback: {0}")]
    InvalidCallback(String),
    /// The `iss` response parameter (RFC 9207) does not match, or is missing though advertised.
    #[error("the response comes from another issuer")]
    IssuerMismatch,
    /// The provider returned an error response (`error=...`).
    #[error("the provider refused the login: {error}")]
    ProviderRefused {
        /// The `error` code, e.g. `access_denied`.
        error: String,
        /// The `error_description`, if any (plain text; escape it before showing).
        description: Option<String>,
    },
    /// The token endpoint refused the code (`invalid_grant` and friends).
    #[error("the token endpoint refused the code: {0}")]
    TokenRejected(String),
    /// The token response is unusable (wrong token_type, no id_token, ...).
    #[error("the token response is unusable: {0}")]
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
    #[error("the session has ended: {0}")]
    SessionEnded(String),
    /// A refresh was asked for, but the session has no refresh token.
    #[error("the session has no refresh token")]
    NoRefreshToken,
    /// The login was started for a provider that is not configured (any more).
    #[error("the provider `{0}` is not configured")]
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
}

impl AuthError {
    /// The HTTP status this error is shown with: 400 for a bad callback, 502 when the provider
    /// answers wrongly, 503 when it cannot be reached.
    pub fn status_code(&self) -> u16 {
        match self {
            AuthError::LoginRequired | AuthError::SessionEnded(_) | AuthError::NoRefreshToken => {
                401
            }
            AuthError::SessionTooLarge => 500,
            AuthError::Provider(e) if e.is_unreachable() => 503,
            AuthError::Store(_) => 503,
            AuthError::Provider(_) | AuthError::TokenResponse(_) => 502,
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
            AuthError::Provider(e) if e.is_unreachable() => "temporarily_unavailable",
            AuthError::Provider(_) => "provider_error",
            AuthError::Store(_) => "temporarily_unavailable",
        }
    }

    /// A human-readable description, free of tokens and secrets.
    pub fn description(&self) -> String {
        match self {
            AuthError::ProviderRefused {
                description: Some(d),
                ..
            } => d.clone(),
            other => other.to_string(),
        }
    }
}
