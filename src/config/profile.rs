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
    if let Some(algs) = &provider.id_token_signing_algs {
        if let Some(alg) = algs.iter().find(|a| !FAPI2_ALGS.contains(&a.as_str())) {
            return Err(ConfigError::invalid(
                &format!("{key}.id_token_signing_algs"),
                format!("`{alg}` is not allowed under the fapi2 profile (PS256, ES256 or EdDSA)"),
            ));
        }
    }
    Ok(())
}

/// Fills in what the profile implies where the configuration left it open: every request
/// pushed, and the profile's ID-token algorithms.
pub(crate) fn apply(provider: &mut ProviderConfig) {
    let Some(Profile::Fapi2) = provider.profile else {
        return;
    };
    if provider.pushed_authorization == PushedAuthorization::Auto {
        provider.pushed_authorization = PushedAuthorization::Required;
    }
    if provider.id_token_signing_algs.is_none() {
        provider.id_token_signing_algs = Some(FAPI2_ALGS.iter().map(|a| a.to_string()).collect());
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
        assert_eq!(
            provider.id_token_signing_algs.as_deref(),
            Some(&["PS256".to_owned(), "ES256".into(), "EdDSA".into()][..])
        );
        assert!(provider.is_fapi2());
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
