//! Test support: a real OpenID Provider (the npm package `oidc-provider`, see
//! `tests/op/server.js`) and a scripted "browser" for its development login,
//! consent and logout pages.
//!
//! Needs `node` and `npm` on the PATH; `tests/op/node_modules` is installed with
//! `npm ci` on first use.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::LOCATION;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

/// A running `tests/op/server.js`. Dropping it kills the OP (and closing its stdin
/// makes it exit too, should the test process die without running destructors).
pub struct RealOp {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub issuer: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
}

/// Serializes the one-time `npm ci` between tests running in parallel.
static NPM_CI: Mutex<()> = Mutex::new(());

impl RealOp {
    /// Starts an OP with one client using `client_secret_basic`.
    pub async fn start(
        client_id: &str,
        client_secret: &str,
        redirect_uris: &[&str],
        post_logout_redirect_uris: &[&str],
    ) -> RealOp {
        Self::start_with_auth_method(
            client_id,
            client_secret,
            redirect_uris,
            post_logout_redirect_uris,
            "client_secret_basic",
        )
        .await
    }

    /// Like [`RealOp::start`], with another `token_endpoint_auth_method`
    /// (`client_secret_post`, `client_secret_jwt` or `none`).
    pub async fn start_with_auth_method(
        client_id: &str,
        client_secret: &str,
        redirect_uris: &[&str],
        post_logout_redirect_uris: &[&str],
        token_endpoint_auth_method: &str,
    ) -> RealOp {
        Self::start_with_env(
            client_id,
            client_secret,
            redirect_uris,
            post_logout_redirect_uris,
            token_endpoint_auth_method,
            &[],
        )
        .await
    }

    /// Like [`RealOp::start_with_auth_method`], with extra environment variables for
    /// `server.js` (e.g. `ACCESS_TOKEN_TTL`).
    pub async fn start_with_env(
        client_id: &str,
        client_secret: &str,
        redirect_uris: &[&str],
        post_logout_redirect_uris: &[&str],
        token_endpoint_auth_method: &str,
        env: &[(&str, &str)],
    ) -> RealOp {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        npm_ci_once(root);

        let mut child = Command::new("node")
            .envs(env.iter().copied())
            .arg("tests/op/server.js")
            .current_dir(root)
            .env("OP_PORT", "0")
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", client_secret)
            .env("REDIRECT_URIS", redirect_uris.join(","))
            .env(
                "POST_LOGOUT_REDIRECT_URIS",
                post_logout_redirect_uris.join(","),
            )
            .env("TOKEN_ENDPOINT_AUTH_METHOD", token_endpoint_auth_method)
            .stdin(Stdio::piped()) // kept open: the OP exits on EOF
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn `node tests/op/server.js`: {e}"));

        // Collect (and echo, for failing tests) the OP's stderr: it logs its errors there.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                eprintln!("[real op] {line}");
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });

        // Wait for `OP_READY <issuer>`, then keep draining stdout.
        let mut out_lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = out_lines.next_line().await {
                if let Some(issuer) = line.strip_prefix("OP_READY ") {
                    return Some(issuer.trim().to_owned());
                }
            }
            None
        })
        .await;
        tokio::spawn(async move { while let Ok(Some(_)) = out_lines.next_line().await {} });

        match ready {
            Ok(Some(issuer)) => RealOp {
                issuer,
                child,
                stderr,
            },
            failure => {
                let running = matches!(child.try_wait(), Ok(None));
                let _ = child.kill().await;
                tokio::time::sleep(Duration::from_millis(200)).await; // let stderr drain
                let why = if failure.is_err() {
                    "timed out after 60 s"
                } else {
                    "exited"
                };
                let names: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
                panic!(
                    "tests/op/server.js {why} before printing OP_READY (still running: \
                     {running}; extra environment: {names:?}); its stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        }
    }

    /// Everything the OP wrote to stderr so far (its error log).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The parameters of the authorization request `authorize_url` sends the browser with:
    /// its query, or, for a pushed request (`request_uri`), the parameters the OP accepted for
    /// that `request_uri` (`server.js` logs them; waited for at most 20 s).
    pub async fn request_params(&self, authorize_url: &str) -> serde_json::Value {
        let url = url::Url::parse(authorize_url).expect("an authorization URL");
        let query: serde_json::Map<String, serde_json::Value> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned().into()))
            .collect();
        let Some(request_uri) = query.get("request_uri").and_then(|v| v.as_str()) else {
            return query.into();
        };
        let prefix = format!("OP par {request_uri} ");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.stderr();
            if let Some(line) = log.lines().find_map(|l| l.strip_prefix(prefix.as_str())) {
                return serde_json::from_str(line).expect("the pushed parameters as JSON");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no pushed authorization request {request_uri}; OP stderr:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until everything the OP logged before this call is in [`stderr`](Self::stderr):
    /// makes it log one more line (a userinfo request with a token it never issued gives
    /// `OP userinfo.error`) and waits for that line. Its stderr is one pipe, written
    /// synchronously and read in order, so the lines logged before it have arrived too. For
    /// counting log lines (`== n` cannot be polled for: a late line would come after the check).
    pub async fn flush_stderr(&self) {
        const MARKER: &str = "OP userinfo.error";
        let before = self.stderr().matches(MARKER).count();
        let status = reqwest::Client::new()
            .get(format!("{}/me", self.issuer))
            .bearer_auth("a-token-this-provider-never-issued")
            .send()
            .await
            .unwrap_or_else(|e| panic!("the OP's userinfo endpoint: {e}"))
            .status();
        assert_eq!(status, 401, "a userinfo request with an unknown token");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while self.stderr().matches(MARKER).count() <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "the OP's `{MARKER}` line did not arrive within 20 s; its stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs `npm ci --prefix tests/op` unless `tests/op/node_modules/oidc-provider` exists.
fn npm_ci_once(root: &Path) {
    let _guard = NPM_CI.lock().unwrap_or_else(|e| e.into_inner());
    if root.join("tests/op/node_modules/oidc-provider").is_dir() {
        return;
    }
    let out = std::process::Command::new("npm")
        .args(["ci", "--prefix", "tests/op"])
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `npm ci --prefix tests/op` (is Node.js installed?): {e}")
        });
    assert!(
        out.status.success(),
        "`npm ci --prefix tests/op` failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Plays the user at the OP's development pages: starting at `authorize_url`, follows
/// the OP's redirects, signs in as `login` (any password works; `sub` = `login`), grants
/// consent, and returns the first (absolute) Location starting with `stop_at_prefix`,
/// i.e. the RP callback `…?code=…&state=…&iss=…`.
///
/// `http` must have a cookie store and redirects disabled:
/// `reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none())`.
/// With an existing OP session and grant the OP redirects back straight away.
pub async fn dev_login(
    http: &reqwest::Client,
    authorize_url: &str,
    login: &str,
    stop_at_prefix: &str,
) -> String {
    // Login form: hidden prompt=login + text `login` + password `password`.
    // Consent form: hidden prompt=consent only.
    browse(http, authorize_url, stop_at_prefix, |hidden| {
        if has(hidden, "prompt", "login") {
            vec![
                ("login".into(), login.into()),
                ("password".into(), "password".into()),
            ]
        } else {
            vec![]
        }
    })
    .await
}

/// Confirms RP-initiated logout: starting at `end_session_url` (with `id_token_hint`,
/// `post_logout_redirect_uri`, `state`), submits the OP's "Yes, sign me out" form and
/// returns the Location starting with `stop_at_prefix` (`<post_logout_redirect_uri>?state=…`).
pub async fn dev_logout_confirm(
    http: &reqwest::Client,
    end_session_url: &str,
    stop_at_prefix: &str,
) -> String {
    // The logout form holds a hidden `xsrf`; its "yes" button (outside the form) adds
    // logout=yes. Without an OP session, the OP auto-posts a form that already has both.
    browse(http, end_session_url, stop_at_prefix, |hidden| {
        if hidden.iter().any(|(k, _)| k == "logout") {
            vec![]
        } else {
            vec![("logout".into(), "yes".into())]
        }
    })
    .await
}

type Fields = Vec<(String, String)>;

/// A tiny browser: GETs `start`, follows same-origin redirects, submits the first form of
/// any HTML page (its hidden inputs plus `extra(hidden)`), until a Location starts with
/// `stop_at_prefix`.
async fn browse(
    http: &reqwest::Client,
    start: &str,
    stop_at_prefix: &str,
    extra: impl Fn(&Fields) -> Fields,
) -> String {
    let mut url = Url::parse(start).unwrap_or_else(|e| panic!("bad start URL {start:?}: {e}"));
    let op_origin = url.origin();
    let mut post: Option<Fields> = None;
    for _ in 0..12 {
        let request = match post.take() {
            Some(fields) => http.post(url.clone()).form(&fields),
            None => http.get(url.clone()),
        };
        let resp = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{status} from {url} without a Location"));
            let next = url
                .join(location)
                .unwrap_or_else(|e| panic!("bad Location {location:?} from {url}: {e}"));
            if next.as_str().starts_with(stop_at_prefix) {
                return next.into();
            }
            assert!(
                next.origin() == op_origin,
                "{url} redirected away from the OP to {next} (expected a URL starting with {stop_at_prefix})"
            );
            url = next;
            continue;
        }
        let body = resp.text().await.unwrap_or_default();
        let Some((action, mut fields)) = parse_form(&body).filter(|_| status.is_success()) else {
            panic!("stuck at {url}: {status} without a form:\n{body}");
        };
        let more = extra(&fields);
        fields.extend(more);
        url = url
            .join(&action)
            .unwrap_or_else(|e| panic!("bad form action {action:?} at {url}: {e}\n{body}"));
        post = Some(fields);
    }
    panic!("no redirect to {stop_at_prefix} after 12 requests (last URL {url})");
}

fn has(fields: &Fields, name: &str, value: &str) -> bool {
    fields.iter().any(|(k, v)| k == name && v == value)
}

/// The first `<form>` in `html`: its `action` and its hidden inputs (name, value).
fn parse_form(html: &str) -> Option<(String, Fields)> {
    let start = html.find("<form")?;
    let form = &html[start..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let action = attr(&form[..form.find('>')?], "action")?;
    let mut hidden = Vec::new();
    let mut rest = form;
    while let Some(i) = rest.find("<input") {
        rest = &rest[i..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if attr(tag, "type").as_deref() == Some("hidden") {
            if let Some(name) = attr(tag, "name") {
                hidden.push((name, attr(tag, "value").unwrap_or_default()));
            }
        }
        rest = &rest[tag.len()..];
    }
    Some((action, hidden))
}

/// The value of the double-quoted attribute `name` in the start tag `tag`, unescaped.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let value = &tag[start..start + tag[start..].find('"')?];
    Some(
        value
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Ends the user's session at the provider itself (not through the application): its logout
/// page, then "yes, sign me out". The provider then tells the clients with a back-channel
/// logout URI.
pub async fn end_provider_session(browser: &reqwest::Client, issuer: &str) {
    let page = browser
        .get(format!("{issuer}/session/end"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let xsrf = page
        .split("name=\"xsrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no logout form: {page}"))
        .to_owned();
    let confirmed = browser
        .post(format!("{issuer}/session/end/confirm"))
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap();
    assert!(confirmed.status().is_success() || confirmed.status().is_redirection());
}
