//! The page served at the callback when the authorization response is in the URL fragment,
//! which only a script in the browser can read: it relays the fragment to the callback as a
//! form POST.

use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

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
