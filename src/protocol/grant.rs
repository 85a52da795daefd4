//! What the application asks a token endpoint for, for itself (the client credentials grant,
//! RFC 6749 4.4): scopes, an `audience`, resource indicators (RFC 8707) and other parameters.

use std::collections::{BTreeMap, BTreeSet};

/// Parameters a request may not set itself: the grant's own, and client authentication's.
const RESERVED: &[&str] = &[
    "grant_type",
    "scope",
    "audience",
    "resource",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "refresh_token",
    "code",
];

/// What a client-credentials token is asked for: scopes, an `audience`, RFC 8707 `resource`
/// indicators (several allowed) and other parameters the provider takes. Scopes and resources
/// are sets: two requests that ask for the same thing are one, and share a cached token.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::ClientCredentialsRequest;
///
/// let request = ClientCredentialsRequest::new()
///     .scope("reports:read reports:write")
///     .resource("https://reports.example.com")
///     .audience("reports");
/// let same = ClientCredentialsRequest::new()
///     .audience("reports")
///     .resource("https://reports.example.com")
///     .scope("reports:write")
///     .scope("reports:read");
/// assert_eq!(request, same);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientCredentialsRequest {
    scopes: BTreeSet<String>,
    audience: Option<String>,
    resources: BTreeSet<String>,
    params: BTreeMap<String, String>,
}

impl ClientCredentialsRequest {
    /// A request for the provider's default scope and audience.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the scopes of `scope` (space-separated).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes
            .extend(scope.split_whitespace().map(str::to_owned));
        self
    }

    /// Sets the `audience` (a provider-specific parameter: Auth0, Okta, Keycloak...).
    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = Some(audience.to_owned());
        self
    }

    /// Adds a resource indicator (RFC 8707): an absolute URI without a fragment.
    pub fn resource(mut self, resource: &str) -> Self {
        self.resources.insert(resource.to_owned());
        self
    }

    /// Adds another parameter the provider takes (not one of the grant's own or of client
    /// authentication, which are refused when the token is asked for).
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The scopes, space-separated and sorted (empty for the provider's default).
    pub fn scope_string(&self) -> String {
        self.scopes
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Why the request cannot be sent, if it cannot.
    pub(crate) fn check(&self) -> Result<(), String> {
        for resource in &self.resources {
            let valid = url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
            if !valid {
                return Err(
                    "a resource is not an absolute URI without a fragment (RFC 8707)".into(),
                );
            }
        }
        if let Some(name) = self.params.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(format!(
                "the parameter `{}` is the grant's own or client authentication's",
                crate::util::text::for_log(name, 40)
            ));
        }
        if self.audience.as_deref() == Some("") || self.params.keys().any(String::is_empty) {
            return Err("an empty audience or parameter name".into());
        }
        Ok(())
    }

    /// The form parameters after `grant_type`.
    pub(crate) fn form(&self) -> Vec<(&str, String)> {
        let mut form = Vec::new();
        let scope = self.scope_string();
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        if let Some(audience) = &self.audience {
            form.push(("audience", audience.clone()));
        }
        form.extend(self.resources.iter().map(|r| ("resource", r.clone())));
        form.extend(self.params.iter().map(|(k, v)| (k.as_str(), v.clone())));
        form
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_sets_and_become_forms() {
        let request = ClientCredentialsRequest::new()
            .scope("b a  a")
            .resource("https://r2.example")
            .resource("https://r1.example")
            .param("tenant", "t1");
        assert_eq!(request.scope_string(), "a b");
        assert_eq!(
            request.form(),
            vec![
                ("scope", "a b".to_owned()),
                ("resource", "https://r1.example".to_owned()),
                ("resource", "https://r2.example".to_owned()),
                ("tenant", "t1".to_owned()),
            ]
        );
        assert!(request.check().is_ok());
    }

    #[test]
    fn bad_requests_are_refused() {
        let base = ClientCredentialsRequest::new();
        assert!(base.clone().resource("relative/path").check().is_err());
        assert!(base
            .clone()
            .resource("https://r.example/#frag")
            .check()
            .is_err());
        assert!(base.clone().param("client_secret", "x").check().is_err());
        assert!(base
            .clone()
            .param("grant_type", "password")
            .check()
            .is_err());
        assert!(base.clone().audience("").check().is_err());
        assert!(base.check().is_ok());
    }
}

/// The token a token exchange (RFC 8693) trades in: the session's access token (the default)
/// or its ID token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SubjectToken {
    /// The session's access token (`urn:ietf:params:oauth:token-type:access_token`).
    #[default]
    AccessToken,
    /// The session's ID token (`urn:ietf:params:oauth:token-type:id_token`).
    IdToken,
}

impl SubjectToken {
    /// The RFC 8693 token type URI.
    pub fn type_uri(self) -> &'static str {
        match self {
            SubjectToken::AccessToken => "urn:ietf:params:oauth:token-type:access_token",
            SubjectToken::IdToken => "urn:ietf:params:oauth:token-type:id_token",
        }
    }
}

/// The grant type of a token exchange (RFC 8693 2.1).
pub(crate) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// What a token exchange (RFC 8693) asks for, to call a downstream API as the user: an
/// `audience` and/or resources, scopes, the token traded in, other parameters. Scopes and
/// resources are sets: two requests that ask for the same thing share a cached token.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{SubjectToken, TokenExchangeRequest};
///
/// let request = TokenExchangeRequest::new()
///     .audience("orders-api")
///     .scope("orders:read")
///     .subject(SubjectToken::AccessToken);
/// assert_ne!(request, TokenExchangeRequest::new().audience("billing-api"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenExchangeRequest {
    subject: SubjectToken,
    /// Scopes, audience, resources and other parameters: what a client-credentials request
    /// asks for, too.
    wanted: ClientCredentialsRequest,
}

impl TokenExchangeRequest {
    /// A request trading the session's access token for the provider's default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token traded in (default: the access token).
    pub fn subject(mut self, subject: SubjectToken) -> Self {
        self.subject = subject;
        self
    }

    /// The logical name of the target service.
    pub fn audience(mut self, audience: &str) -> Self {
        self.wanted = self.wanted.audience(audience);
        self
    }

    /// Adds a resource (an absolute URI without a fragment).
    pub fn resource(mut self, resource: &str) -> Self {
        self.wanted = self.wanted.resource(resource);
        self
    }

    /// Adds the scopes of `scope` (space-separated).
    pub fn scope(mut self, scope: &str) -> Self {
        self.wanted = self.wanted.scope(scope);
        self
    }

    /// Adds another parameter (not one of the grant's own or client authentication's).
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.wanted = self.wanted.param(name, value);
        self
    }

    /// The token traded in.
    pub(crate) fn subject_token(&self) -> SubjectToken {
        self.subject
    }

    /// Why the request cannot be sent, if it cannot.
    pub(crate) fn check(&self) -> Result<(), String> {
        self.wanted.check()?;
        let own = [
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
        ];
        if self.wanted.params.keys().any(|k| own.contains(&k.as_str())) {
            return Err("a parameter is the token exchange's own".into());
        }
        Ok(())
    }

    /// The form parameters after `grant_type`, trading in `subject_token`.
    pub(crate) fn form<'a>(&'a self, subject_token: &'a str) -> Vec<(&'a str, String)> {
        let mut form = vec![
            ("subject_token", subject_token.to_owned()),
            ("subject_token_type", self.subject.type_uri().to_owned()),
        ];
        if !self.wanted.params.contains_key("requested_token_type") {
            form.push((
                "requested_token_type",
                SubjectToken::AccessToken.type_uri().to_owned(),
            ));
        }
        form.extend(self.wanted.form());
        form
    }
}

#[cfg(test)]
mod exchange_tests {
    use super::*;

    #[test]
    fn an_exchange_names_the_token_it_trades_in_and_what_it_wants() {
        let request = TokenExchangeRequest::new()
            .audience("orders")
            .scope("b a")
            .resource("https://orders.example");
        let form = request.form("the-token");
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("subject_token"), Some("the-token"));
        assert_eq!(
            get("subject_token_type"),
            Some("urn:ietf:params:oauth:token-type:access_token")
        );
        assert_eq!(get("audience"), Some("orders"));
        assert_eq!(get("scope"), Some("a b"));
        assert_eq!(get("resource"), Some("https://orders.example"));
        assert!(request.check().is_ok());
        assert!(TokenExchangeRequest::new()
            .param("subject_token", "x")
            .check()
            .is_err());
        let id = TokenExchangeRequest::new().subject(SubjectToken::IdToken);
        assert_eq!(
            id.form("t")[1].1,
            "urn:ietf:params:oauth:token-type:id_token"
        );
    }
}
