//! Configuration: the `[default.oidc]` table of `Rocket.toml` (or the `ROCKET_OIDC` environment
//! variable holding the table, e.g. `ROCKET_OIDC='{base_url="https://app.example"}'`), read
//! through figment when the fairing ignites.
//!
//! Every value is checked at ignite. A missing or malformed key aborts launch with a message that
//! names the key (`oidc.providers.default.client_id: missing`), so a typo never becomes a login
//! failure in production. The keys are documented in docs/configuration.md.

mod checks;
mod profile;
mod schema;

use figment::Figment;

pub use schema::{
    AccessTokenValidation, ClientAuthMethod, IntrospectionResponse, OidcConfig, PreviousSecretKey,
    Profile, ProviderConfig, PushedAuthorization, RegistrationConfig, RequestObject,
    SessionStoreKind, SilentRefreshFailure, UserinfoMethod,
};

use crate::error::ConfigError;

impl OidcConfig {
    /// Reads and validates the `oidc` table of `figment`.
    ///
    /// Errors name the key that is missing or wrong. See the type's example.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let mut config: OidcConfig = figment
            .extract_inner("oidc")
            .map_err(|e| ConfigError::Figment(Box::new(e)))?;
        config.validate()?;
        for provider in config.providers.values_mut() {
            profile::apply(provider);
        }
        Ok(config)
    }

    /// Checks the values that the schema alone cannot (URLs, paths, ranges, provider
    /// consistency).
    pub fn validate(&self) -> Result<(), ConfigError> {
        checks::check(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};
    use figment::Figment;

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
                session_refresh_interval = 300
                auth_request_params = { max_age = "0" }"#,
                "oidc.providers.default.auth_request_params.max_age",
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
}
