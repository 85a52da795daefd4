//! The session the library keeps for a logged-in user: what the guards hand the handlers.
//! How it is stored (cookies or a server-side store) is not its concern.

use std::sync::OnceLock;

use openidconnect::{AccessToken, RefreshToken};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ClaimsError, ProviderError};
use crate::protocol::dpop::DpopKey;
use crate::protocol::id_token::Claims;
use crate::protocol::secret::IdTokenJwt;
use crate::util::random::random_token;

/// A logged-in user's session.
///
/// It is deliberately not `Serialize`: it holds the tokens, and serializing it into a page
/// would hand them to scripts. Pick what a page needs through the accessors.
///
/// # Example
///
/// A handler receives it through the [`OidcUser`](crate::OidcUser) guard, which dereferences
/// to it:
///
/// ```
/// use rocket_openidconnect::UserSession;
///
/// fn greeting(session: &UserSession) -> String {
///     format!("{} logged in at {}", session.claims().subject(), session.last_authenticated())
/// }
/// ```
#[derive(Clone)]
pub struct UserSession {
    data: SessionData,
    claims: Claims,
    /// The store keys of the records that would end this session, computed once per decoded
    /// session (see [`records`](crate::session::records)): a session used again is checked
    /// without hashing.
    record_keys: OnceLock<Vec<String>>,
}

/// What is stored (encrypted) in the cookies.
#[derive(Clone, Serialize, Deserialize)]
struct SessionData {
    /// A random id, new at every login: a logout records it as ended.
    #[serde(default)]
    sid: String,
    provider: String,
    issuer: String,
    client_id: String,
    id_token: IdTokenJwt,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<AccessToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token_expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    userinfo: Option<Map<String, Value>>,
    last_authenticated: i64,
    last_session_refresh: i64,
    expires_at: i64,
    /// When the session was last used (for the inactivity timeout), to the minute.
    #[serde(default)]
    last_seen: i64,
    /// When this session started (its login, interactive or silent; refreshes keep it): a
    /// logout of the provider ends the sessions that started before it.
    #[serde(default)]
    started: i64,
    /// The provider's session id (`sid` of the login's ID token), kept across refreshes whose
    /// ID tokens may leave it out: a logout of that provider session ends this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider_sid: Option<String>,
    /// The key the access and refresh tokens are bound to (DPoP, RFC 9449); absent for Bearer
    /// tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_key: Option<DpopKey>,
}

impl std::fmt::Debug for UserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.data;
        f.debug_struct("UserSession")
            .field("provider", &d.provider)
            .field("sub", &self.claims.subject())
            .field("id_token", &"[redacted]")
            .field(
                "access_token",
                &d.access_token.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "refresh_token",
                &d.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &d.expires_at)
            .finish()
    }
}

/// What a successful login produced.
pub(crate) struct NewSession {
    pub provider: String,
    pub issuer: String,
    pub client_id: String,
    pub id_token: IdTokenJwt,
    pub claims: Claims,
    pub access_token: Option<AccessToken>,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<RefreshToken>,
    pub userinfo: Option<Map<String, Value>>,
    pub now: i64,
    pub lifetime: i64,
    /// The DPoP key the tokens are bound to, if they are.
    pub dpop_key: Option<DpopKey>,
}

impl UserSession {
    pub(crate) fn new(s: NewSession) -> Self {
        // When the user really authenticated: the provider's `auth_time` if it says (it may
        // have reused a single-sign-on session), else now.
        let auth_time = s
            .claims
            .get("auth_time")
            .and_then(Value::as_i64)
            .filter(|t| *t <= s.now)
            .unwrap_or(s.now);
        UserSession {
            record_keys: OnceLock::new(),
            data: SessionData {
                sid: random_token()[..22].to_owned(),
                provider: s.provider,
                issuer: s.issuer,
                client_id: s.client_id,
                id_token: s.id_token,
                access_token: s.access_token,
                access_token_expires_at: s.expires_in.map(|secs| s.now.saturating_add(secs)),
                refresh_token: s.refresh_token,
                userinfo: s.userinfo,
                last_authenticated: auth_time,
                last_session_refresh: s.now,
                expires_at: s.now.saturating_add(s.lifetime),
                last_seen: s.now,
                started: s.now,
                provider_sid: s.claims.str("sid").map(str::to_owned),
                dpop_key: s.dpop_key,
            },
            claims: s.claims,
        }
    }

    /// The store keys of the records about this session, made by `make` the first time.
    pub(crate) fn record_keys(&self, make: impl FnOnce(&UserSession) -> Vec<String>) -> &[String] {
        self.record_keys.get_or_init(|| make(self))
    }

    /// The session's random id (new at every login).
    pub(crate) fn sid(&self) -> &str {
        &self.data.sid
    }

    /// The provider's session id (`sid`) of the login, if it gave one.
    pub(crate) fn provider_sid(&self) -> Option<&str> {
        self.data.provider_sid.as_deref()
    }

    /// When the session started (Unix time): its login, interactive or silent.
    pub(crate) fn started_at(&self) -> i64 {
        self.data.started
    }

    /// The name of the provider the user logged in with.
    pub fn provider(&self) -> &str {
        &self.data.provider
    }

    /// The issuer of the provider the user logged in with.
    pub fn issuer(&self) -> &str {
        &self.data.issuer
    }

    /// The client the session was made for.
    pub(crate) fn client_id(&self) -> &str {
        &self.data.client_id
    }

    /// All claims of the ID token.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The user's claims: the ID token's, then userinfo's for what the ID token does not have.
    pub fn merged_claims(&self) -> Map<String, Value> {
        let mut merged = self.claims.as_map().clone();
        for (name, value) in self.userinfo().into_iter().flatten() {
            merged.entry(name.clone()).or_insert_with(|| value.clone());
        }
        merged
    }

    /// The user's claims ([`merged_claims`](Self::merged_claims)) as the application's own
    /// type; an error names the claim that does not fit.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket_openidconnect::{ClaimsError, UserSession};
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize)]
    /// struct Profile {
    ///     sub: String,
    ///     email: String,
    ///     #[serde(default)]
    ///     groups: Vec<String>,
    /// }
    ///
    /// fn profile(session: &UserSession) -> Result<Profile, ClaimsError> {
    ///     session.claims_as::<Profile>()
    /// }
    /// ```
    pub fn claims_as<T: DeserializeOwned>(&self) -> Result<T, ClaimsError> {
        let merged = Value::Object(self.merged_claims());
        serde_path_to_error::deserialize(merged).map_err(|error| ClaimsError {
            claim: error.path().to_string(),
            reason: error.inner().to_string(),
        })
    }

    /// The raw ID token (a JWT), e.g. for `id_token_hint`.
    pub fn id_token(&self) -> &str {
        self.data.id_token.secret()
    }

    /// The access token, if the provider issued one.
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.data.access_token.as_ref()
    }

    /// How the access token is presented: `"DPoP"` when it is bound to the session's DPoP key
    /// (send it with [`authorize`](Self::authorize) or a [`dpop_proof`](Self::dpop_proof)),
    /// else `"Bearer"`.
    pub fn token_type(&self) -> &'static str {
        if self.data.dpop_key.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }

    /// The DPoP key of the session's tokens, if they are bound to one.
    pub(crate) fn dpop_key(&self) -> Option<&DpopKey> {
        self.data.dpop_key.as_ref()
    }

    /// A DPoP proof (RFC 9449) for a request with `method` to `url` that carries the session's
    /// access token, with the resource server's `nonce` if it asked for one; `None` when the
    /// session's tokens are Bearer tokens.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket_openidconnect::UserSession;
    ///
    /// fn headers(session: &UserSession) -> Vec<(String, String)> {
    ///     let url = "https://api.example.com/items";
    ///     let mut headers = Vec::new();
    ///     if let Some(token) = session.access_token() {
    ///         let scheme = session.token_type();
    ///         headers.push(("Authorization".into(), format!("{scheme} {}", token.secret())));
    ///     }
    ///     if let Ok(Some(proof)) = session.dpop_proof("GET", url, None) {
    ///         headers.push(("DPoP".into(), proof));
    ///     }
    ///     headers
    /// }
    /// ```
    pub fn dpop_proof(
        &self,
        method: &str,
        url: &str,
        nonce: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        let token = self.access_token().map(|t| t.secret().as_str());
        proof_of(self.data.dpop_key.as_ref(), method, url, token, nonce)
    }

    /// Adds the session's access token to a request for an API: `Authorization: DPoP` with a
    /// proof for the request's method and URL when the token is bound to the session's key,
    /// else `Authorization: Bearer`. `nonce` is the API's `DPoP-Nonce`, if it asked for one
    /// (it answers 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"`: send the request
    /// again with the nonce of its `DPoP-Nonce` header). Without an access token the request
    /// is returned unchanged.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use rocket_openidconnect::{OidcUser, ProviderError};
    ///
    /// async fn items(user: &OidcUser, http: &reqwest::Client) -> Result<String, ProviderError> {
    ///     let request = user.authorize(http.get("https://api.example.com/items"), None)?;
    ///     Ok(request.send().await.ok().map(|r| r.status().to_string()).unwrap_or_default())
    /// }
    /// ```
    pub fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        nonce: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        match self.access_token() {
            Some(token) => self.authorize_with(request, token, nonce),
            None => Ok(request),
        }
    }

    /// [`authorize`](Self::authorize) with another token of this session (one for another
    /// resource or audience: `OidcUser::valid_access_token_for`, `OidcUser::exchange_token`),
    /// bound to the session's DPoP key when the session's tokens are.
    pub fn authorize_with(
        &self,
        request: reqwest::RequestBuilder,
        token: &AccessToken,
        nonce: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        authorize_request(
            request,
            self.token_type(),
            token,
            self.data.dpop_key.as_ref(),
            nonce,
        )
    }

    /// When the access token expires (Unix time), if the provider said.
    pub fn access_token_expires_at(&self) -> Option<i64> {
        self.data.access_token_expires_at
    }

    /// The refresh token, if the provider issued one.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.data.refresh_token.as_ref()
    }

    /// The userinfo response, if it was fetched.
    pub fn userinfo(&self) -> Option<&Map<String, Value>> {
        self.data.userinfo.as_ref()
    }

    /// When the user last authenticated at the provider (Unix time): the ID token's
    /// `auth_time` when present, else the time of the login.
    pub fn last_authenticated(&self) -> i64 {
        self.data.last_authenticated
    }

    /// When the session was last refreshed (Unix time).
    pub fn last_session_refresh(&self) -> i64 {
        self.data.last_session_refresh
    }

    /// When the session ends, whatever the cookie says (Unix time).
    pub fn expires_at(&self) -> i64 {
        self.data.expires_at
    }

    /// Whether the session has passed its absolute lifetime.
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.data.expires_at
    }

    /// When the session was last used (Unix time, updated about once a minute).
    pub fn last_seen(&self) -> i64 {
        self.data.last_seen
    }

    /// Whether the session has been unused for longer than `timeout` seconds.
    pub(crate) fn is_idle(&self, now: i64, timeout: i64) -> bool {
        now.saturating_sub(self.data.last_seen) > timeout
    }

    /// Records a use; returns whether the stored value changed enough to be worth writing
    /// back: at most once a minute (a quarter of the timeout when that is shorter), so that a
    /// busy user does not rewrite the cookie on every request.
    pub(crate) fn touch(&mut self, now: i64, timeout: i64) -> bool {
        if self.touch_due(now, timeout) {
            self.data.last_seen = now;
            true
        } else {
            false
        }
    }

    /// Whether [`touch`](Self::touch) would record this use.
    pub(crate) fn touch_due(&self, now: i64, timeout: i64) -> bool {
        let step = (timeout / 4).clamp(1, 60);
        now.saturating_sub(self.data.last_seen) >= step
    }

    /// Makes the session end at `at` at the latest.
    pub(crate) fn end_by(&mut self, at: i64) {
        self.data.expires_at = self.data.expires_at.min(at);
    }

    /// The same session with the refresh token the provider rotated to.
    pub(crate) fn with_refresh_token(&self, refresh_token: RefreshToken) -> UserSession {
        let mut next = self.clone();
        next.data.refresh_token = Some(refresh_token);
        next
    }

    /// Replaces the tokens after a refresh. A response without a refresh token keeps the old
    /// one; a new ID token (already validated) replaces the old one and its claims.
    pub(crate) fn refreshed(
        &self,
        access_token: AccessToken,
        expires_at: Option<i64>,
        refresh_token: Option<RefreshToken>,
        id_token: Option<(IdTokenJwt, Claims)>,
        dpop_bound: bool,
    ) -> UserSession {
        let mut next = self.clone();
        if !dpop_bound {
            next.data.dpop_key = None;
        }
        next.data.access_token = Some(access_token);
        next.data.access_token_expires_at = expires_at;
        if let Some(refresh_token) = refresh_token {
            next.data.refresh_token = Some(refresh_token);
        }
        if let Some((raw, claims)) = id_token {
            next.data.id_token = raw;
            next.claims = claims;
        }
        next
    }

    /// A session from a silent re-authentication keeps the original absolute end and, if the
    /// provider sent none, the original refresh token.
    pub(crate) fn continues(mut self, previous: &UserSession) -> UserSession {
        self.data.expires_at = previous.data.expires_at;
        if self.data.refresh_token.is_none() {
            self.data.refresh_token = previous.data.refresh_token.clone();
        }
        self
    }

    /// Serializes to JSON.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(&self.data).unwrap_or_default()
    }

    /// Parses JSON written by [`to_json`](Self::to_json) and derives the claims.
    pub(crate) fn from_json(json: &str) -> Option<Self> {
        let data: SessionData = serde_json::from_str(json).ok()?;
        let claims = Claims::from_trusted_jwt(data.id_token.secret())?;
        Some(UserSession {
            data,
            claims,
            record_keys: OnceLock::new(),
        })
    }
}

/// A DPoP proof of `key` (none without one) for a request with `method` to `url` that
/// carries `token`, with the server's `nonce`, made now.
pub(crate) fn proof_of(
    key: Option<&DpopKey>,
    method: &str,
    url: &str,
    token: Option<&str>,
    nonce: Option<&str>,
) -> Result<Option<String>, ProviderError> {
    let Some(key) = key else {
        return Ok(None);
    };
    key.proof(method, url, token, nonce, crate::util::clock::unix_now())
        .map(Some)
        .map_err(ProviderError::DpopProof)
}

/// `request` with `token` in its `Authorization` header (`scheme`: `Bearer` or `DPoP`, the
/// value marked sensitive) and, when the token is bound to `key`, a DPoP proof of that key for
/// the request's method and URL with the server's `nonce`.
pub(crate) fn authorize_request(
    request: reqwest::RequestBuilder,
    scheme: &str,
    token: &AccessToken,
    key: Option<&DpopKey>,
    nonce: Option<&str>,
) -> Result<reqwest::RequestBuilder, ProviderError> {
    let (client, built) = request.build_split();
    let mut built =
        built.map_err(|_| ProviderError::DpopProof("the request cannot be built".into()))?;
    let value = format!("{scheme} {}", token.secret());
    let mut header = reqwest::header::HeaderValue::from_str(&value)
        .map_err(|_| ProviderError::DpopProof("the token is not a header value".into()))?;
    header.set_sensitive(true);
    built
        .headers_mut()
        .insert(reqwest::header::AUTHORIZATION, header);
    let (method, url) = (built.method().as_str(), built.url().as_str());
    if let Some(proof) = proof_of(key, method, url, Some(token.secret()), nonce)? {
        let proof = reqwest::header::HeaderValue::from_str(&proof)
            .map_err(|_| ProviderError::DpopProof("the proof is not a header value".into()))?;
        built.headers_mut().insert("DPoP", proof);
    }
    Ok(reqwest::RequestBuilder::from_parts(client, built))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_tokens() {
        let session = UserSession::new(NewSession {
            provider: "default".into(),
            issuer: "https://op.example".into(),
            client_id: "app".into(),
            id_token: IdTokenJwt::new("eyJ.secret-id-token.sig".into()),
            claims: Claims::default(),
            access_token: Some(AccessToken::new("secret-access".into())),
            expires_in: Some(60),
            refresh_token: Some(RefreshToken::new("secret-refresh".into())),
            userinfo: None,
            now: 100,
            lifetime: 10,
            dpop_key: None,
        });
        let debug = format!("{session:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert_eq!(session.access_token_expires_at(), Some(160));
        assert!(session.is_expired(110));
        assert!(!session.is_expired(109));
    }
}
