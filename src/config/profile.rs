//! Security profiles (`profile`): rules a provider's settings must follow, checked at launch
//! (a contradicting setting names its key), and the defaults they imply, filled in once the
//! configuration is read.

use crate::config::schema::{Profile, ProviderConfig, PushedAuthorization};
use crate::error::ConfigError;
use crate::protocol::response::ResponseType;

/// The ID-token algorithms of the FAPI 2.0 Security Profile (5.4.1).
const FAPI2_ALGS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

/// The settings of the provider at `key` follow its profile.
pub(crate) fn check(provider: &ProviderConfig, key: &str) -> Result<(), ConfigError> {
    let Some(Profile::Fapi2) = provider.profile else {
        return Ok(());
    };
    let refuse = |name: &str, why: &str| Err(ConfigError::invalid(&format!("{key}.{name}"), why));
    if provider.response_type != ResponseType::Code {
        return refuse(
            "response_type",
            "must be `code` under the fapi2 profile (the code flow only)",
        );
    }
    if provider.pushed_authorization == PushedAuthorization::Off {
        return refuse(
            "pushed_authorization",
            "cannot be `off` under the fapi2 profile (every request is pushed)",
        );
    }
    if !provider.pkce {
        return refuse("pkce", "must be true under the fapi2 profile (PKCE S256)");
    }
    let method = provider.client_auth_method();
    if !method.suits_fapi2() {
        return refuse(
            "token_endpoint_auth_method",
            "must be `private_key_jwt`, `tls_client_auth` or `self_signed_tls_client_auth` \
             under the fapi2 profile",
        );
    }
    // Sender-constrained tokens: DPoP, or certificate-bound through the client certificate.
    if !provider.dpop && provider.tls_client_certificate.is_none() {
        return refuse(
            "dpop",
            "must be true under the fapi2 profile (sender-constrained tokens), unless the \
             tokens are bound to a tls_client_certificate",
        );
    }
    if provider.allow_insecure_http {
        return refuse(
            "allow_insecure_http",
            "cannot be true under the fapi2 profile (TLS everywhere but loopback)",
        );
    }
    if provider.metadata.is_some() {
        return refuse(
            "metadata",
            "cannot be set under the fapi2 profile (metadata from discovery only, so that \
             its issuer is checked against the configured one)",
        );
    }
    // Every signature the client verifies: PS256, ES256 or EdDSA (FAPI 2.0 5.4.1).
    let single = |alg: &Option<String>| alg.iter().cloned().collect::<Vec<_>>();
    let signed = [
        (
            "id_token_signing_algs",
            provider.id_token_signing_algs.clone(),
        ),
        (
            "access_token_signing_algs",
            provider.access_token_signing_algs.clone(),
        ),
        (
            "userinfo_signed_response_alg",
            Some(single(&provider.userinfo_signed_response_alg)),
        ),
        (
            "authorization_signed_response_alg",
            Some(single(&provider.authorization_signed_response_alg)),
        ),
        (
            "introspection_signed_response_alg",
            Some(single(&provider.introspection_signed_response_alg)),
        ),
    ];
    for (name, algs) in signed {
        let algs = algs.unwrap_or_default();
        if let Some(alg) = algs.iter().find(|a| !FAPI2_ALGS.contains(&a.as_str())) {
            return Err(ConfigError::invalid(
                &format!("{key}.{name}"),
                format!("`{alg}` is not allowed under the fapi2 profile (PS256, ES256 or EdDSA)"),
            ));
        }
    }
    Ok(())
}

/// Fills in what the profile implies where the configuration left it open: every request
/// pushed, and the profile's algorithms for ID tokens and JWT access tokens (the defaults of
/// signed answers: `ProviderConfig::default_answer_alg`).
pub(crate) fn apply(provider: &mut ProviderConfig) {
    let Some(Profile::Fapi2) = provider.profile else {
        return;
    };
    if provider.pushed_authorization == PushedAuthorization::Auto {
        provider.pushed_authorization = PushedAuthorization::Required;
    }
    let fapi2_algs = || Some(FAPI2_ALGS.iter().map(|a| a.to_string()).collect());
    if provider.id_token_signing_algs.is_none() {
        provider.id_token_signing_algs = fapi2_algs();
    }
    if provider.access_token_signing_algs.is_none() {
        provider.access_token_signing_algs = fapi2_algs();
    }
}

impl ProviderConfig {
    /// Whether the client talks to the provider with mutual TLS (a client certificate): it
    /// then calls the provider's `mtls_endpoint_aliases` where there are some.
    pub(crate) fn uses_mtls(&self) -> bool {
        self.tls_client_certificate.is_some()
    }

    /// Whether the fapi2 profile applies: sender-constrained tokens and the `iss` response
    /// parameter are then required at every login.
    pub(crate) fn is_fapi2(&self) -> bool {
        self.profile == Some(Profile::Fapi2)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::schema::{OidcConfig, PushedAuthorization};
    use figment::providers::{Format, Toml};
    use figment::Figment;

    const FAPI: &str = r#"
        [oidc]
        signing_keys = ["tests/fixtures/rp-rsa2048.pem"]
        [oidc.providers.default]
        issuer = "https://op.example"
        client_id = "app"
        token_endpoint_auth_method = "private_key_jwt"
        dpop = true
        profile = "fapi2"
    "#;

    fn load(extra: &str) -> Result<OidcConfig, String> {
        let toml = format!("{FAPI}\n{extra}");
        OidcConfig::from_figment(&Figment::from(Toml::string(&toml))).map_err(|e| e.to_string())
    }

    #[test]
    fn the_fapi2_profile_fills_in_par_and_its_algorithms() {
        let config = load("").unwrap();
        let provider = &config.providers["default"];
        assert_eq!(provider.pushed_authorization, PushedAuthorization::Required);
        let fapi2_algs = ["PS256".to_owned(), "ES256".into(), "EdDSA".into()];
        assert_eq!(
            provider.id_token_signing_algs.as_deref(),
            Some(&fapi2_algs[..])
        );
        assert_eq!(
            provider.access_token_signing_algs.as_deref(),
            Some(&fapi2_algs[..])
        );
        assert!(provider.is_fapi2());
        // Signed answers default to PS256 (RS256 outside the profile).
        let signed = "response_mode = \"jwt\"\nintrospection_response = \"jwt\"";
        let config = load(signed).unwrap();
        let provider = &config.providers["default"];
        assert_eq!(provider.authorization_signing_alg(), Some("PS256"));
        assert_eq!(provider.introspection_alg(), Some("PS256"));
        let plain = FAPI.replace("profile = \"fapi2\"", signed);
        let config = OidcConfig::from_figment(&Figment::from(Toml::string(&plain))).unwrap();
        let provider = &config.providers["default"];
        assert_eq!(provider.authorization_signing_alg(), Some("RS256"));
        assert_eq!(provider.introspection_alg(), Some("RS256"));
        assert_eq!(provider.access_token_signing_algs, None);
    }

    #[test]
    fn a_setting_against_the_fapi2_profile_stops_the_launch_naming_its_key() {
        for (setting, key) in [
            ("response_type = \"code id_token\"", "response_type"),
            ("pushed_authorization = \"off\"", "pushed_authorization"),
            ("pkce = false", "pkce"),
            ("allow_insecure_http = true", "allow_insecure_http"),
            (
                "id_token_signing_algs = [\"RS256\"]",
                "id_token_signing_algs",
            ),
            (
                "access_token_signing_algs = [\"ES256\", \"RS256\"]",
                "access_token_signing_algs",
            ),
            (
                "userinfo_signed_response_alg = \"RS256\"",
                "userinfo_signed_response_alg",
            ),
            (
                "response_mode = \"jwt\"\nauthorization_signed_response_alg = \"ES384\"",
                "authorization_signed_response_alg",
            ),
            (
                "introspection_response = \"jwt\"\nintrospection_signed_response_alg = \"RS256\"",
                "introspection_signed_response_alg",
            ),
            (
                "[oidc.providers.default.metadata]\nissuer = \"https://op.example\"\n\
                 authorization_endpoint = \"https://op.example/a\"\n\
                 token_endpoint = \"https://op.example/t\"\n\
                 jwks_uri = \"https://op.example/j\"\n\
                 response_types_supported = [\"code\"]\n\
                 subject_types_supported = [\"public\"]\n\
                 id_token_signing_alg_values_supported = [\"PS256\"]",
                "metadata",
            ),
        ] {
            let error = load(setting).unwrap_err();
            assert!(
                error.contains(&format!("oidc.providers.default.{key}")) && error.contains("fapi2"),
                "{setting}: {error}"
            );
        }
        let no_dpop = FAPI.replace("dpop = true", "dpop = false");
        let error = OidcConfig::from_figment(&Figment::from(Toml::string(&no_dpop)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("oidc.providers.default.dpop"), "{error}");
        let secret = FAPI.replace(
            "token_endpoint_auth_method = \"private_key_jwt\"",
            "client_secret = \"s3cret\"",
        );
        let error = OidcConfig::from_figment(&Figment::from(Toml::string(&secret)))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("oidc.providers.default.token_endpoint_auth_method"),
            "{error}"
        );
    }
}
