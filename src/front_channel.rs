//! How the authorization response comes back to the application (the front channel): the
//! response type (what it carries: a code, an ID token, an access token), the response mode
//! (query, fragment or form POST), and the page that relays a fragment to the callback.
//!
//! Nothing here knows Rocket.

use std::fmt;
use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What the authorization response carries (`response_type`, OpenID Connect Core 3 and OAuth
/// 2.0 Multiple Response Types). The words may be given in any order in the configuration.
///
/// # Example
///
/// ```
/// use rocket::figment::{Figment, providers::{Format, Toml}};
/// use rocket_openidconnect::{OidcConfig, ResponseMode, ResponseType};
///
/// let figment = Figment::from(Toml::string(r#"
///     [oidc.providers.default]
///     issuer = "https://op.example.com"
///     client_id = "my-app"
///     client_secret = "s3cret"
///     response_type = "id_token code"
/// "#));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// let provider = &config.providers["default"];
/// assert_eq!(provider.response_type, ResponseType::CodeIdToken);
/// assert_eq!(provider.response_type.as_str(), "code id_token");
/// // Responses carrying tokens come in the fragment unless configured otherwise.
/// assert_eq!(provider.response_mode(), ResponseMode::Fragment);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[non_exhaustive]
pub enum ResponseType {
    /// The authorization code flow (the default, and the one to prefer).
    #[default]
    Code,
    /// The implicit flow with an ID token only (no access token, so no userinfo).
    IdToken,
    /// The implicit flow with an ID token and an access token.
    IdTokenToken,
    /// The hybrid flow: a code and an ID token.
    CodeIdToken,
    /// The hybrid flow: a code and an access token.
    CodeToken,
    /// The hybrid flow: a code, an ID token and an access token.
    CodeIdTokenToken,
}

impl ResponseType {
    /// The `response_type` parameter (words in the order the specifications use).
    pub fn as_str(&self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::IdToken => "id_token",
            ResponseType::IdTokenToken => "id_token token",
            ResponseType::CodeIdToken => "code id_token",
            ResponseType::CodeToken => "code token",
            ResponseType::CodeIdTokenToken => "code id_token token",
        }
    }

    /// The response carries an authorization code (code and hybrid flows).
    pub fn has_code(&self) -> bool {
        matches!(
            self,
            ResponseType::Code
                | ResponseType::CodeIdToken
                | ResponseType::CodeToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// The response carries an ID token.
    pub fn has_id_token(&self) -> bool {
        matches!(
            self,
            ResponseType::IdToken
                | ResponseType::IdTokenToken
                | ResponseType::CodeIdToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// The response carries an access token.
    pub fn has_access_token(&self) -> bool {
        matches!(
            self,
            ResponseType::IdTokenToken | ResponseType::CodeToken | ResponseType::CodeIdTokenToken
        )
    }

    /// The response mode the specifications give this type: `query` for `code`, `fragment`
    /// for every type that carries tokens.
    pub fn default_mode(&self) -> ResponseMode {
        if *self == ResponseType::Code {
            ResponseMode::Query
        } else {
            ResponseMode::Fragment
        }
    }

    /// The grant types a client using this response type registers.
    pub(crate) fn grant_types(&self) -> Vec<&'static str> {
        let mut grants = Vec::new();
        if self.has_code() {
            grants.extend(["authorization_code", "refresh_token"]);
        }
        if *self != ResponseType::Code {
            grants.push("implicit");
        }
        grants
    }

    /// Whether `words` (space-separated, any order) names this type.
    pub(crate) fn matches(&self, words: &str) -> bool {
        ResponseType::try_from(words.to_owned()).ok() == Some(*self)
    }
}

impl TryFrom<String> for ResponseType {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let mut words: Vec<&str> = value.split_whitespace().collect();
        words.sort_unstable();
        let parsed = match words.as_slice() {
            ["code"] => ResponseType::Code,
            ["id_token"] => ResponseType::IdToken,
            ["id_token", "token"] => ResponseType::IdTokenToken,
            ["code", "id_token"] => ResponseType::CodeIdToken,
            ["code", "token"] => ResponseType::CodeToken,
            ["code", "id_token", "token"] => ResponseType::CodeIdTokenToken,
            _ => {
                return Err(format!(
                    "`{value}` is not an OpenID Connect response type: use \"code\", \"id_token\", \
                     \"id_token token\", \"code id_token\", \"code token\" or \"code id_token token\""
                ))
            }
        };
        Ok(parsed)
    }
}

impl From<ResponseType> for String {
    fn from(value: ResponseType) -> String {
        value.as_str().to_owned()
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the authorization response is delivered (`response_mode`).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::ResponseMode;
///
/// assert_eq!(ResponseMode::FormPost.as_str(), "form_post");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseMode {
    /// In the query of a GET to the callback (the default for `code`; never for tokens).
    #[default]
    Query,
    /// In the URL fragment, which the browser does not send: the callback serves a small page
    /// whose script POSTs the fragment to the callback (the default when tokens are returned).
    Fragment,
    /// In an HTML form the provider's page POSTs to the callback (OAuth 2.0 Form Post Response
    /// Mode). The pending-login cookie is then `SameSite=None; Secure`, so that it comes along
    /// with the cross-site POST.
    FormPost,
}

impl ResponseMode {
    /// The `response_mode` parameter.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }

    /// Whether the response reaches the callback as a POST (from the provider's page, or from
    /// the relay page for a fragment).
    pub(crate) fn is_post(&self) -> bool {
        *self != ResponseMode::Query
    }
}

/// The script of the fragment relay page. It reads the fragment, removes it from the address
/// bar and the history (so that no later Referer, bookmark or back button carries the tokens),
/// and submits it as a form POST to the page's own `data-action` (the configured callback, with
/// any mount prefix). A form POST, not `fetch`: the browser then follows the callback's redirect
/// like any other navigation. Static, so the page's CSP allows exactly this script by its hash.
const RELAY_SCRIPT: &str = "(function(){var f=document.getElementById('relay');\
var p=new URLSearchParams(location.hash.slice(1));\
history.replaceState(null,'',location.pathname+location.search);\
p.forEach(function(v,k){var i=document.createElement('input');i.type='hidden';i.name=k;\
i.value=v;f.appendChild(i);});f.action=f.dataset.action;f.submit();})();";

/// The CSP of the relay page: nothing but its own script (by hash) and a form POST to itself.
static RELAY_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = STANDARD.encode(Sha256::digest(RELAY_SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
});

/// The page served at the callback when the response is in the fragment, which only a script
/// in the browser can read; `action` is the callback's path (with the mount prefix). Returns
/// the HTML and its `Content-Security-Policy`.
pub(crate) fn relay_page(action: &str) -> (String, &'static str) {
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signing in</title>\
         <meta name=\"referrer\" content=\"no-referrer\"></head><body>\
         <form id=\"relay\" method=\"post\" data-action=\"{}\"></form>\
         <noscript><p>Signing in with this provider needs JavaScript, which is turned off in \
         this browser. Turn it on and start again.</p></noscript>\
         <script>{RELAY_SCRIPT}</script></body></html>",
        html_escape::encode_double_quoted_attribute(action),
    );
    (html, RELAY_CSP.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_parse_in_any_order_and_nothing_else() {
        for (input, expected) in [
            ("code", ResponseType::Code),
            ("id_token", ResponseType::IdToken),
            ("token id_token", ResponseType::IdTokenToken),
            ("id_token code", ResponseType::CodeIdToken),
            ("token  code", ResponseType::CodeToken),
            ("token id_token code", ResponseType::CodeIdTokenToken),
        ] {
            let parsed = ResponseType::try_from(input.to_owned()).unwrap();
            assert_eq!(parsed, expected, "{input}");
            assert!(parsed.matches(input));
            assert_eq!(ResponseType::try_from(parsed.to_string()), Ok(parsed));
        }
        for bad in [
            "",
            "token",
            "code code",
            "none",
            "code id_token token x",
            "CODE",
        ] {
            assert!(ResponseType::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn parts_and_default_modes_follow_the_specifications() {
        use ResponseType::*;
        let all = [
            Code,
            IdToken,
            IdTokenToken,
            CodeIdToken,
            CodeToken,
            CodeIdTokenToken,
        ];
        for rt in all {
            let words: Vec<&str> = rt.as_str().split(' ').collect();
            assert_eq!(rt.has_code(), words.contains(&"code"), "{rt}");
            assert_eq!(rt.has_id_token(), words.contains(&"id_token"), "{rt}");
            assert_eq!(rt.has_access_token(), words.contains(&"token"), "{rt}");
            let expected = if rt == Code {
                ResponseMode::Query
            } else {
                ResponseMode::Fragment
            };
            assert_eq!(rt.default_mode(), expected, "{rt}");
        }
        assert_eq!(Code.grant_types(), ["authorization_code", "refresh_token"]);
        assert_eq!(IdToken.grant_types(), ["implicit"]);
        assert_eq!(
            CodeIdToken.grant_types(),
            ["authorization_code", "refresh_token", "implicit"]
        );
    }

    #[test]
    fn the_relay_page_runs_only_its_own_script_and_posts_to_the_callback() {
        let (html, csp) = relay_page("/app/redirect_uri\"><script>x");
        assert!(html.contains("data-action=\"/app/redirect_uri&quot;&gt;&lt;script&gt;x\""));
        assert_eq!(html.matches("<script>").count(), 1);
        let hash = STANDARD.encode(Sha256::digest(RELAY_SCRIPT.as_bytes()));
        assert!(csp.contains(&format!("script-src 'sha256-{hash}'")));
        assert!(csp.starts_with("default-src 'none'"));
        assert!(html.contains("<noscript>"));
    }
}
