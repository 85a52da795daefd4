//! Which requests are browser navigations: only those are sent to the provider to log in (or
//! silently re-authenticate); `fetch`, XHR and API clients get 401.

use rocket::http::Method;
use rocket::request::Request;

/// Whether a request without a session should be sent to the provider (a browser navigation)
/// rather than answered 401 (`fetch`, XHR, API clients): redirecting those would only pile up
/// pending-login cookies.
pub(crate) fn is_navigation(req: &Request<'_>) -> bool {
    let headers = req.headers();
    wants_login_redirect(
        req.method(),
        headers.get_one("Sec-Fetch-Mode"),
        headers.get_one("X-Requested-With"),
        headers.get_one("Accept"),
    )
}

/// A stricter test for silent re-authentication, which must never hit `fetch`/XHR or API
/// clients: `Sec-Fetch-Mode: navigate` with `Sec-Fetch-Dest: document` when the browser sends
/// Fetch Metadata, else a GET that accepts `text/html` explicitly.
pub(crate) fn is_document_navigation(req: &Request<'_>) -> bool {
    let headers = req.headers();
    if req.method() != Method::Get || headers.get_one("X-Requested-With").is_some() {
        return false;
    }
    match headers.get_one("Sec-Fetch-Mode") {
        Some(mode) => {
            mode == "navigate"
                && headers
                    .get_one("Sec-Fetch-Dest")
                    .is_none_or(|dest| dest == "document")
        }
        None => headers
            .get_one("Accept")
            .is_some_and(|a| a.to_ascii_lowercase().contains("text/html")),
    }
}

fn wants_login_redirect(
    method: Method,
    sec_fetch_mode: Option<&str>,
    x_requested_with: Option<&str>,
    accept: Option<&str>,
) -> bool {
    if !matches!(method, Method::Get | Method::Head) || x_requested_with.is_some() {
        return false;
    }
    if let Some(mode) = sec_fetch_mode {
        return mode.eq_ignore_ascii_case("navigate");
    }
    match accept {
        None => true,
        Some(accept) => {
            let accept = accept.to_ascii_lowercase();
            accept.contains("text/html") || accept.trim() == "*/*"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_navigations_are_redirected() {
        let chrome = "text/html,application/xhtml+xml,*/*;q=0.8";
        assert!(wants_login_redirect(
            Method::Get,
            Some("navigate"),
            None,
            Some(chrome)
        ));
        assert!(wants_login_redirect(Method::Get, None, None, Some(chrome)));
        assert!(wants_login_redirect(Method::Get, None, None, None));
        assert!(wants_login_redirect(Method::Get, None, None, Some("*/*")));
        assert!(!wants_login_redirect(
            Method::Get,
            Some("cors"),
            None,
            Some("*/*")
        ));
        assert!(!wants_login_redirect(
            Method::Get,
            Some("no-cors"),
            None,
            Some(chrome)
        ));
        assert!(!wants_login_redirect(
            Method::Get,
            None,
            Some("XMLHttpRequest"),
            Some(chrome)
        ));
        assert!(!wants_login_redirect(
            Method::Get,
            None,
            None,
            Some("application/json")
        ));
        assert!(!wants_login_redirect(
            Method::Post,
            Some("navigate"),
            None,
            Some(chrome)
        ));
    }
}
