//! The checks the schema alone cannot make: URLs, paths, ranges, and the consistency of each
//! provider's settings. Each error names the key and what is wrong with it.

use std::collections::HashSet;
use std::fmt;

use url::Url;

use crate::config::schema::{
    ClientAuthMethod, OidcConfig, ProviderConfig, PushedAuthorization, RegistrationConfig,
    SessionStoreKind,
};
use crate::error::ConfigError;
use crate::protocol::jwe::{ContentEncryption, KeyManagement};
use crate::protocol::jws::{is_symmetric, parse_alg};
use crate::protocol::response::{ResponseMode, ResponseType};
use crate::util::secret_key::decode_secret_key;
use crate::util::url::{check_url, is_loopback, safe_return_path};

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

/// Checks the whole table.
pub(crate) fn check(config: &OidcConfig) -> Result<(), ConfigError> {
    check_base_url(config)?;
    check_paths(config)?;
    check_stores(config)?;
    check_times(config)?;
    check_cookie_name(config)?;
    check_previous_secret_keys(config)?;
    if let Some(proxy) = &config.http_proxy {
        check_proxy("oidc.http_proxy", proxy)?;
    }
    if config.providers.is_empty() {
        return Err(ConfigError::Missing("oidc.providers".into()));
    }
    let mut stores = HashSet::new();
    for (name, provider) in &config.providers {
        let key = format!("oidc.providers.{name}");
        if let Some(store) = &provider.registration_store {
            if !stores.insert(store) {
                return Err(invalid(
                    &format!("{key}.registration_store"),
                    "is the store of another provider",
                ));
            }
        }
        check_provider_in(config, provider, &key)?;
        check_provider(provider, &key)?;
    }
    Ok(())
}

fn check_base_url(config: &OidcConfig) -> Result<(), ConfigError> {
    let Some(base) = &config.base_url else {
        return Ok(());
    };
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
    Ok(())
}

/// The routes' paths: well formed, and each route at its own path.
fn check_paths(config: &OidcConfig) -> Result<(), ConfigError> {
    check_path("oidc.redirect_path", &config.redirect_path)?;
    check_path("oidc.logout_path", &config.logout_path)?;
    if let Some(path) = &config.post_logout_path {
        if safe_return_path(path).is_none() {
            return Err(invalid(
                "oidc.post_logout_path",
                "must be a path of this application, like `/goodbye`",
            ));
        }
    }
    if let Some(path) = &config.login_path {
        check_path("oidc.login_path", path)?;
        if *path == config.redirect_path || *path == config.logout_path {
            return Err(invalid(
                "oidc.login_path",
                "must differ from oidc.redirect_path and oidc.logout_path",
            ));
        }
    }
    if config.redirect_path == config.logout_path {
        return Err(invalid(
            "oidc.logout_path",
            "must differ from oidc.redirect_path",
        ));
    }
    for (key, path) in [
        (
            "oidc.backchannel_logout_path",
            &config.backchannel_logout_path,
        ),
        (
            "oidc.frontchannel_logout_path",
            &config.frontchannel_logout_path,
        ),
    ] {
        check_path(key, path)?;
        let others = [
            Some(&config.redirect_path),
            Some(&config.logout_path),
            config.login_path.as_ref(),
        ];
        if others.into_iter().flatten().any(|other| other == path)
            || config.backchannel_logout_path == config.frontchannel_logout_path
        {
            return Err(invalid(
                key,
                "must differ from the other paths of oidc (redirect, logout, login and the \
                 other logout channel)",
            ));
        }
    }
    if let Some(path) = &config.jwks_path {
        check_path("oidc.jwks_path", path)?;
        let others = [
            Some(&config.redirect_path),
            Some(&config.logout_path),
            config.login_path.as_ref(),
            Some(&config.backchannel_logout_path),
            Some(&config.frontchannel_logout_path),
        ];
        if others.into_iter().flatten().any(|other| other == path) {
            return Err(invalid(
                "oidc.jwks_path",
                "must differ from the other paths of oidc",
            ));
        }
        if config.signing_keys.is_empty() && config.encryption_keys.is_empty() {
            return Err(invalid(
                "oidc.jwks_path",
                "publishes the keys of oidc.signing_keys and oidc.encryption_keys, which have \
                 none",
            ));
        }
    }
    Ok(())
}

/// Where sessions and records are kept.
fn check_stores(config: &OidcConfig) -> Result<(), ConfigError> {
    let cluster = !config.redis_cluster_nodes.is_empty();
    if config.session_store == SessionStoreKind::Redis && config.redis_url.is_none() && !cluster {
        return Err(invalid(
            "oidc.session_store",
            "`redis` needs oidc.redis_url or oidc.redis_cluster_nodes (where to keep the \
             sessions)",
        ));
    }
    if config.near_cache && config.redis_url.is_none() && !cluster {
        return Err(invalid(
            "oidc.near_cache",
            "is a cache in front of Redis: it needs oidc.redis_url or oidc.redis_cluster_nodes",
        ));
    }
    if cluster && config.redis_url.is_some() {
        return Err(invalid(
            "oidc.redis_cluster_nodes",
            "is instead of oidc.redis_url: set one of the two",
        ));
    }
    for (index, node) in config.redis_cluster_nodes.iter().enumerate() {
        let key = format!("oidc.redis_cluster_nodes[{index}]");
        if !cfg!(feature = "redis") {
            return Err(invalid(
                &key,
                "needs the `redis` feature of rocket_openidconnect",
            ));
        }
        if !Url::parse(node).is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss")) {
            return Err(invalid(&key, "must be a redis:// or rediss:// URL"));
        }
    }
    if let Some(url) = &config.redis_url {
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
    Ok(())
}

/// The retired secret keys: Rocket's format, at most four, no repeats.
fn check_previous_secret_keys(config: &OidcConfig) -> Result<(), ConfigError> {
    let keys = &config.previous_secret_keys;
    if keys.len() > 4 {
        return Err(invalid(
            "oidc.previous_secret_keys",
            "holds more than four keys (drop those older than the longest session)",
        ));
    }
    for (index, key) in keys.iter().enumerate() {
        let name = format!("oidc.previous_secret_keys[{index}]");
        decode_secret_key(key.secret()).map_err(|reason| invalid(&name, reason))?;
        if keys[..index].iter().any(|k| k.secret() == key.secret()) {
            return Err(invalid(&name, "is listed twice"));
        }
    }
    Ok(())
}

/// Lifetimes, timeouts and the clock skew.
fn check_times(config: &OidcConfig) -> Result<(), ConfigError> {
    if config.session_lifetime == 0 {
        return Err(invalid(
            "oidc.session_lifetime",
            "must be at least 1 second",
        ));
    }
    if config.session_lifetime > 10 * 365 * 86_400 {
        return Err(invalid(
            "oidc.session_lifetime",
            "must be at most ten years",
        ));
    }
    if config.session_inactivity_timeout == Some(0) {
        return Err(invalid(
            "oidc.session_inactivity_timeout",
            "must be at least 1 second (leave it out to turn it off)",
        ));
    }
    if config.http_timeout == 0 || config.http_timeout > 300 {
        return Err(invalid(
            "oidc.http_timeout",
            "must be between 1 and 300 seconds",
        ));
    }
    if config.clock_skew > 600 {
        return Err(invalid("oidc.clock_skew", "must be at most 600 seconds"));
    }
    if !(10..=3600).contains(&config.login_timeout) {
        return Err(invalid(
            "oidc.login_timeout",
            "must be between 10 and 3600 seconds",
        ));
    }
    Ok(())
}

fn check_cookie_name(config: &OidcConfig) -> Result<(), ConfigError> {
    let name = &config.cookie_name;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "oidc.cookie_name",
            "must be non-empty and use only letters, digits, `_` and `-`",
        ));
    }
    Ok(())
}

/// What a provider's settings must agree on with the global ones.
fn check_provider_in(
    config: &OidcConfig,
    provider: &ProviderConfig,
    key: &str,
) -> Result<(), ConfigError> {
    if provider.registration_store.is_some() && provider.registration.is_none() {
        return Err(invalid(
            &format!("{key}.registration_store"),
            "needs a registration table",
        ));
    }
    if provider.pushed_authorization == PushedAuthorization::Required {
        if let Some(metadata) = &provider.metadata {
            if metadata.pushed_authorization_request_endpoint.is_none() {
                return Err(invalid(
                    &format!("{key}.pushed_authorization"),
                    "is `required`, but the static metadata has no \
                     pushed_authorization_request_endpoint",
                ));
            }
        }
    }
    if provider.client_auth_method() == ClientAuthMethod::PrivateKeyJwt
        && config.signing_keys.is_empty()
    {
        return Err(invalid(
            &format!("{key}.token_endpoint_auth_method"),
            "`private_key_jwt` needs a key in oidc.signing_keys",
        ));
    }
    for (what, alg) in [
        ("id_token", &provider.id_token_encrypted_response_alg),
        ("userinfo", &provider.userinfo_encrypted_response_alg),
        (
            "authorization",
            &provider.authorization_encrypted_response_alg,
        ),
    ] {
        if alg.is_some() && config.encryption_keys.is_empty() {
            return Err(invalid(
                &format!("{key}.{what}_encrypted_response_alg"),
                "needs a key in oidc.encryption_keys",
            ));
        }
    }
    if provider.request_object.is_some() && config.signing_keys.is_empty() {
        return Err(invalid(
            &format!("{key}.request_object"),
            "`signed` needs a key in oidc.signing_keys",
        ));
    }
    let method = provider.client_auth_method();
    if method.is_mtls() && provider.tls_client_certificate.is_none() {
        return Err(ConfigError::Missing(format!(
            "{key}.tls_client_certificate (required by {key}.token_endpoint_auth_method = \
             \"{}\")",
            method.name()
        )));
    }
    if let Some(resource) = provider
        .resource
        .iter()
        .find(|r| url::Url::parse(r).map_or(true, |u| u.fragment().is_some()))
    {
        return Err(invalid(
            &format!("{key}.resource"),
            format!("`{resource}` is not an absolute URI without a fragment (RFC 8707)"),
        ));
    }
    if !provider.login_params.is_empty() && config.login_path.is_none() {
        return Err(invalid(
            &format!("{key}.login_params"),
            "needs oidc.login_path (the route that takes them)",
        ));
    }
    if provider.session_refresh_interval == Some(0) {
        return Err(invalid(
            &format!("{key}.session_refresh_interval"),
            "must be at least 1 second (leave it out to turn it off)",
        ));
    }
    if let Some(path) = &provider.redirect_path {
        check_path(&format!("{key}.redirect_path"), path)?;
        if *path == config.logout_path {
            return Err(invalid(
                &format!("{key}.redirect_path"),
                "must differ from oidc.logout_path",
            ));
        }
        if config.login_path.as_ref() == Some(path) {
            return Err(invalid(
                &format!("{key}.redirect_path"),
                "must differ from oidc.login_path",
            ));
        }
    }
    Ok(())
}

/// One provider's own settings.
fn check_provider(provider: &ProviderConfig, key: &str) -> Result<(), ConfigError> {
    check_issuer(provider, key)?;
    check_response(provider, key)?;
    check_client(provider, key)?;
    check_token_settings(provider, key)?;
    check_connection(provider, key)?;
    check_request_params(provider, key)?;
    super::profile::check(provider, key)
}

/// How the provider is reached: a client certificate comes with its key, a proxy is an
/// http(s) URL, tenants are named.
fn check_connection(provider: &ProviderConfig, key: &str) -> Result<(), ConfigError> {
    match (&provider.tls_client_certificate, &provider.tls_client_key) {
        (Some(_), None) => {
            return Err(ConfigError::Missing(format!(
                "{key}.tls_client_key (the key of {key}.tls_client_certificate)"
            )))
        }
        (None, Some(_)) => {
            return Err(ConfigError::Missing(format!(
                "{key}.tls_client_certificate (the certificate of {key}.tls_client_key)"
            )))
        }
        _ => {}
    }
    if let Some(proxy) = &provider.http_proxy {
        check_proxy(&format!("{key}.http_proxy"), proxy)?;
    }
    if provider
        .roles_claim
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(invalid(&format!("{key}.roles_claim"), "must name a claim"));
    }
    if let Some(tenants) = &provider.allowed_tenants {
        let key = format!("{key}.allowed_tenants");
        if tenants.is_empty() {
            return Err(invalid(
                &key,
                "must name at least one tenant, or be [\"*\"]",
            ));
        }
        if tenants.len() > 1 && tenants.iter().any(|t| t == "*") {
            return Err(invalid(&key, "`*` (any tenant) stands alone"));
        }
        if let Some(bad) = tenants.iter().find(|t| {
            t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._*".contains(&b))
        }) {
            return Err(invalid(
                &key,
                format!("`{bad}` is not a tenant id (letters, digits, `-._`)"),
            ));
        }
    }
    Ok(())
}

/// A proxy URL: `http://` or `https://`, with a host.
fn check_proxy(key: &str, proxy: &str) -> Result<(), ConfigError> {
    match Url::parse(proxy) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(()),
        _ => Err(invalid(
            key,
            "must be an http:// or https:// proxy URL, like `http://proxy.example:3128`",
        )),
    }
}

/// The issuer and static metadata: one issuer, and URLs that follow the https rule.
fn check_issuer(provider: &ProviderConfig, key: &str) -> Result<(), ConfigError> {
    match (&provider.issuer, &provider.metadata) {
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
        provider.issuer(),
        provider.allow_insecure_http,
    )?;
    if let Some(md) = &provider.metadata {
        if md.token_endpoint.is_none() && provider.response_type.has_code() {
            return Err(ConfigError::Missing(format!(
                "{key}.metadata.token_endpoint"
            )));
        }
        md.check_urls(provider.http_allowed())
            .map_err(|(field, why)| invalid(&format!("{key}.metadata.{field}"), why))?;
    }
    if let Some(uri) = &provider.post_logout_redirect_uri {
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
    Ok(())
}

/// Tokens must never be in a URL query.
fn check_response(provider: &ProviderConfig, key: &str) -> Result<(), ConfigError> {
    check_encryption(
        &format!("{key}.authorization_encrypted_response"),
        &provider.authorization_encrypted_response_alg,
        &provider.authorization_encrypted_response_enc,
    )?;
    let mode = provider.response_mode();
    if provider.response_type != ResponseType::Code
        && mode == ResponseMode::QueryJwt
        && provider.authorization_encryption().is_none()
    {
        return Err(invalid(
            &format!("{key}.response_mode"),
            format!(
                "`query.jwt` with response_type `{}` puts tokens in a URL query: only when the \
                 response is encrypted (set authorization_encrypted_response_alg), else use \
                 `fragment.jwt` or `form_post.jwt`",
                provider.response_type
            ),
        ));
    }
    if !mode.is_jwt() {
        for (name, set) in [
            (
                "authorization_signed_response_alg",
                provider.authorization_signed_response_alg.is_some(),
            ),
            (
                "authorization_encrypted_response_alg",
                provider.authorization_encrypted_response_alg.is_some(),
            ),
        ] {
            if set {
                return Err(invalid(
                    &format!("{key}.{name}"),
                    "needs a JWT response_mode (`jwt`, `query.jwt`, `fragment.jwt` or \
                     `form_post.jwt`)",
                ));
            }
        }
    }
    if let Some(alg) = &provider.authorization_signed_response_alg {
        check_algs(
            &format!("{key}.authorization_signed_response_alg"),
            std::slice::from_ref(alg),
            None,
        )?;
    }
    if provider.response_type != ResponseType::Code && mode == ResponseMode::Query {
        return Err(invalid(
            &format!("{key}.response_mode"),
            format!(
                "`query` cannot be used with response_type `{}`: tokens must never be in a \
                 URL query (use `fragment` or `form_post`)",
                provider.response_type
            ),
        ));
    }
    Ok(())
}

/// A client id or a registration, and a secret where the authentication method needs one.
fn check_client(provider: &ProviderConfig, key: &str) -> Result<(), ConfigError> {
    match (&provider.client_id, &provider.registration) {
        (Some(_), Some(_)) => Err(invalid(
            &format!("{key}.registration"),
            "is for providers without a client_id: remove one of the two",
        )),
        (None, None) => Err(ConfigError::Missing(format!(
            "{key}.client_id (or a {key}.registration table)"
        ))),
        (Some(id), None) if id.is_empty() => {
            Err(invalid(&format!("{key}.client_id"), "must not be empty"))
        }
        (Some(_), None) => match (provider.client_auth_method(), &provider.client_secret) {
            (ClientAuthMethod::None, _) => Ok(()),
            (ClientAuthMethod::PrivateKeyJwt, Some(_)) => Err(invalid(
                &format!("{key}.client_secret"),
                "is not used by private_key_jwt (the client signs with oidc.signing_keys): \
                 remove it",
            )),
            (ClientAuthMethod::PrivateKeyJwt, None) => Ok(()),
            (method, Some(_)) if method.is_mtls() => Err(invalid(
                &format!("{key}.client_secret"),
                format!(
                    "is not used by {} (the client authenticates with its certificate): \
                     remove it",
                    method.name()
                ),
            )),
            (method, None) if method.is_mtls() => Ok(()),
            // No token endpoint: the implicit flow authenticates no client.
            _ if !provider.response_type.has_code() => Ok(()),
            (_, Some(secret)) if !secret.secret().is_empty() => Ok(()),
            _ => Err(ConfigError::Missing(format!(
                "{key}.client_secret (required by {key}.token_endpoint_auth_method)"
            ))),
        },
        (None, Some(registration)) => {
            if provider.client_secret.is_some() {
                return Err(invalid(
                    &format!("{key}.client_secret"),
                    "comes from the registration: remove it",
                ));
            }
            check_registration(registration, &format!("{key}.registration"))
        }
    }
}

fn check_registration(registration: &RegistrationConfig, key: &str) -> Result<(), ConfigError> {
    for reserved in ["redirect_uris", "response_types", "grant_types"] {
        if registration.metadata.contains_key(reserved) {
            return Err(invalid(
                &format!("{key}.{reserved}"),
                "is set by the library and cannot be configured",
            ));
        }
    }
    Ok(())
}

/// An `alg`/`enc` pair of encryption settings named `{prefix}_alg` and `{prefix}_enc`.
fn check_encryption(
    prefix: &str,
    alg: &Option<String>,
    enc: &Option<String>,
) -> Result<(), ConfigError> {
    match alg {
        Some(alg) => {
            KeyManagement::parse(alg).map_err(|why| invalid(&format!("{prefix}_alg"), &why))?;
        }
        None if enc.is_some() => {
            return Err(invalid(
                &format!("{prefix}_enc"),
                format!("needs {}_alg", prefix.rsplit('.').next().unwrap_or(prefix)),
            ))
        }
        None => {}
    }
    if let Some(enc) = enc {
        ContentEncryption::parse(enc).map_err(|why| invalid(&format!("{prefix}_enc"), &why))?;
    }
    Ok(())
}

/// Signature algorithms, key-set refetches and token lifetimes.
fn check_token_settings(provider: &ProviderConfig, key: &str) -> Result<(), ConfigError> {
    if provider.jwks_refetch_interval == 0 {
        return Err(invalid(
            &format!("{key}.jwks_refetch_interval"),
            "must be at least 1 second (it rate-limits key-set fetches)",
        ));
    }
    if let Some(alg) = &provider.userinfo_signed_response_alg {
        check_algs(
            &format!("{key}.userinfo_signed_response_alg"),
            std::slice::from_ref(alg),
            None,
        )?;
    }
    check_encryption(
        &format!("{key}.id_token_encrypted_response"),
        &provider.id_token_encrypted_response_alg,
        &provider.id_token_encrypted_response_enc,
    )?;
    check_encryption(
        &format!("{key}.userinfo_encrypted_response"),
        &provider.userinfo_encrypted_response_alg,
        &provider.userinfo_encrypted_response_enc,
    )?;
    if let Some(alg) = &provider.introspection_signed_response_alg {
        let key = format!("{key}.introspection_signed_response_alg");
        if provider.introspection_alg().is_none() {
            return Err(invalid(&key, "needs introspection_response = \"jwt\""));
        }
        check_algs(&key, std::slice::from_ref(alg), None)?;
    }
    if let Some(algs) = &provider.access_token_signing_algs {
        check_algs(&format!("{key}.access_token_signing_algs"), algs, None)?;
    }
    if let Some(algs) = &provider.id_token_signing_algs {
        let secret = Some(provider.client_secret.is_some());
        check_algs(&format!("{key}.id_token_signing_algs"), algs, secret)?;
    }
    if provider.introspection_cache_max_age > 86_400 {
        return Err(invalid(
            &format!("{key}.introspection_cache_max_age"),
            "must be at most 86400 seconds",
        ));
    }
    if provider.access_token_leeway > 3600 {
        return Err(invalid(
            &format!("{key}.access_token_leeway"),
            "must be at most 3600 seconds",
        ));
    }
    Ok(())
}

/// The scope and the authorization request parameters (configured or per request).
fn check_request_params(provider: &ProviderConfig, key: &str) -> Result<(), ConfigError> {
    if !provider.scope.iter().any(|s| s == "openid") {
        return Err(invalid(&format!("{key}.scope"), "must contain \"openid\""));
    }
    for param in &provider.login_params {
        if RESERVED_PARAMS.contains(&param.as_str())
            || matches!(
                param.as_str(),
                "provider" | "return_to" | "iss" | "target_link_uri"
            )
        {
            return Err(invalid(
                &format!("{key}.login_params"),
                format!("`{param}` cannot be set per request"),
            ));
        }
    }
    for param in provider.auth_request_params.keys() {
        if RESERVED_PARAMS.contains(&param.as_str()) {
            return Err(invalid(
                &format!("{key}.auth_request_params.{param}"),
                "is set by the library and cannot be configured",
            ));
        }
    }
    // A silent re-authentication sends `prompt=none` with these parameters; `max_age=0` asks
    // for a new authentication every time, which no provider can give without a page.
    let max_age = provider.auth_request_params.get("max_age");
    if provider.session_refresh_interval.is_some()
        && max_age.is_some_and(|v| v.trim().parse::<u64>() == Ok(0))
    {
        return Err(invalid(
            &format!("{key}.auth_request_params.max_age"),
            "0 asks for a new authentication at every request, which a silent \
             re-authentication (prompt=none, session_refresh_interval) can never get: raise \
             it or leave session_refresh_interval out",
        ));
    }
    Ok(())
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
        let parsed = parse_alg(alg).ok_or_else(|| {
            invalid(
                key,
                format!("`{alg}` is not a supported signature algorithm"),
            )
        })?;
        match (is_symmetric(&parsed), hmac_with_secret) {
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

/// A configuration error for `key`.
fn invalid(key: &str, why: impl fmt::Display) -> ConfigError {
    ConfigError::invalid(key, why)
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
fn check_provider_url(key: &str, value: &str, allow_http: bool) -> Result<(), ConfigError> {
    let loopback = Url::parse(value).map(|u| is_loopback(&u)).unwrap_or(false);
    check_url(value, allow_http || loopback)
        .map(drop)
        .map_err(|why| invalid(key, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_allowed_on_loopback_or_when_asked() {
        let loopback = |url: &str| check_provider_url("k", url, false).is_ok();
        assert!(loopback("http://127.0.0.1:9000"));
        assert!(loopback("http://localhost:9000"));
        assert!(loopback("http://[::1]:9000"));
        assert!(!loopback("http://keycloak:8080"));
        assert!(check_provider_url("k", "http://keycloak:8080", true).is_ok());
    }
}
