//! URL checks: the URLs of providers (https, or plain http only where allowed), loopback
//! hosts, and the paths the browser is sent back to after login (only ever a path on this
//! application).
//!
//! A return path is the URI of the request that needed a login, so it is normally harmless;
//! it is still checked (here, and again when it is used) because it ends up in a `Location`
//! header and browsers are lenient: `//evil`, `/\evil`, `/%2f%2fevil` and `/\t/evil` all leave
//! the site.

use url::Url;

/// Longest return path kept; longer ones are replaced by `/`. It travels in the pending-login
/// cookie, and a few of those with long paths would make every request's `Cookie` header too
/// large for common proxies (a cookie bomb a third-party page could set off).
const MAX_LEN: usize = 512;

/// Returns `candidate` if it is a safe same-origin path (with optional query), else `None`.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::safe_return_path;
///
/// assert_eq!(safe_return_path("/orders?page=2"), Some("/orders?page=2"));
/// assert_eq!(safe_return_path("//evil.example"), None);
/// assert_eq!(safe_return_path("/%2F%2Fevil.example"), None);
/// assert_eq!(safe_return_path("https://evil.example"), None);
/// ```
pub fn safe_return_path(candidate: &str) -> Option<&str> {
    if candidate.len() > MAX_LEN || !is_safe(candidate.as_bytes()) {
        return None;
    }
    // Percent-decoding (repeatedly, as a chain of proxies might) must not reveal an unsafe path.
    let mut current: Vec<u8> = candidate.as_bytes().to_vec();
    for _ in 0..3 {
        let decoded = percent_decode(&current);
        if decoded == current {
            break;
        }
        if !is_safe(&decoded) {
            return None;
        }
        current = decoded;
    }
    Some(candidate)
}

fn is_safe(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
        && path.get(1) != Some(&b'/')
        && !path.iter().any(|&b| b == b'\\' || b < 0x20 || b == 0x7f)
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    percent_encoding::percent_decode(input).collect()
}

/// The URL rule shared by configuration and discovered metadata: absolute, no fragment, and
/// `https` (or `http` where `allow_http`). The error quotes the value made safe for a log.
pub(crate) fn check_url(value: &str, allow_http: bool) -> Result<Url, String> {
    let shown = crate::util::text::for_log(value, 200);
    let url = Url::parse(value).map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => {
            return Err(format!(
                "`{shown}` must use https (http is allowed only on loopback or with allow_insecure_http = true)"
            ))
        }
    }
    if url.host_str().is_none() || url.fragment().is_some() {
        return Err(format!(
            "`{shown}` must be an absolute URL without a fragment"
        ));
    }
    Ok(url)
}

/// Whether `url` is at the origin (scheme, host and port) of one of `known` (URLs that do not
/// parse, or have no host, never match).
pub(crate) fn at_origin_of<'a>(url: &str, known: impl IntoIterator<Item = &'a str>) -> bool {
    let origin = |u: &str| {
        Url::parse(u)
            .ok()
            .map(|u| u.origin())
            .filter(|o| o.is_tuple())
    };
    let Some(target) = origin(url) else {
        return false;
    };
    known
        .into_iter()
        .any(|candidate| origin(candidate).as_ref() == Some(&target))
}

/// The path (and query) of this application that the absolute URL `target` names, as a return
/// path: `target` must be at `origin` (`https://host:port`, after the URL parser's
/// normalisation of backslashes, dot segments, IDN and default ports), under `base_path` (the
/// path of `base_url`, `""` at the root), and what remains must pass [`safe_return_path`].
/// Only the path and query are kept.
pub(crate) fn app_path_of(target: &str, origin: &str, base_path: &str) -> Option<String> {
    let url = Url::parse(target).ok()?;
    if url.origin().ascii_serialization() != origin {
        return None;
    }
    let rest = match url.path().strip_prefix(base_path)? {
        "" => "/",
        rest if rest.starts_with('/') => rest,
        _ => return None,
    };
    let with_query = match url.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    safe_return_path(&with_query).map(str::to_owned)
}

/// Whether `url` names this machine (`127.0.0.0/8`, `::1` or `localhost`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_a_path_of_this_application_or_nothing() {
        let app = |target: &str| app_path_of(target, "https://app.example", "");
        assert_eq!(app("https://app.example/r?x=1").as_deref(), Some("/r?x=1"));
        assert_eq!(app("https://app.example").as_deref(), Some("/"));
        assert_eq!(
            app("https://APP.example:443/a/../r#f").as_deref(),
            Some("/r")
        );
        for refused in [
            "/r",
            "http://app.example/r",
            "https://app.example:8443/r",
            "https://app.example.evil/r",
            "https://evil.example@app.example.evil/",
            "https://app.example//evil.example/",
            "https://app.example/%2f%2fevil.example/",
            "https://app.example/\\evil.example/",
            "blob:https://app.example/r",
        ] {
            assert_eq!(app(refused), None, "{refused}");
        }
        let under = |target: &str| app_path_of(target, "https://app.example", "/app");
        assert_eq!(under("https://app.example/app/r").as_deref(), Some("/r"));
        assert_eq!(under("https://app.example/app").as_deref(), Some("/"));
        assert_eq!(under("https://app.example/appx/r"), None);
        assert_eq!(under("https://app.example/r"), None);
    }

    #[test]
    fn provider_urls_are_https_or_allowed_http() {
        assert!(check_url("https://op.example/x", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000", false).is_err());
        assert!(check_url("http://keycloak:8080", true).is_ok());
        assert!(check_url("ftp://op.example", true).is_err());
        assert!(check_url("https://op.example/#frag", false).is_err());
        let forged = check_url("bad\r\n[ERROR] x", false).unwrap_err();
        assert!(!forged.contains('\n'), "{forged}");
        let loopback = |u: &str| is_loopback(&Url::parse(u).unwrap());
        assert!(loopback("http://127.0.0.1:9000") && loopback("http://[::1]:9000"));
        assert!(loopback("http://localhost:9000") && !loopback("http://keycloak:8080"));
    }

    #[test]
    fn same_origin_paths_pass() {
        for ok in ["/", "/a", "/a/b?x=1&y=%2F", "/caf%C3%A9", "/a?next=//x"] {
            assert_eq!(safe_return_path(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn anything_that_leaves_the_site_is_refused() {
        for bad in [
            "",
            "//evil.com",
            "/\\evil.com",
            "\\/evil.com",
            "https://evil.com",
            "javascript:alert(1)",
            "/%2f%2fevil.com",
            "/%2F%2Fevil.com",
            "/%5cevil.com",
            "/%09/evil.com",
            "/\t/evil.com",
            "/%0d%0aSet-Cookie:x=y",
            "/%252f%252fevil.com",
            "evil.com",
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad}");
        }
        assert_eq!(safe_return_path(&format!("/{}", "a".repeat(MAX_LEN))), None);
    }
}
