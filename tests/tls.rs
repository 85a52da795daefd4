//! TLS to a real provider: the npm `oidc-provider` (`tests/op/server.js`) served over https
//! with certificates of a certificate authority this test makes (rcgen). With the CA in
//! `ca_certificates`, login, refresh and logout work; without it, with only another CA, or with
//! a certificate for another host name, the protected page answers 502 with the error view and
//! a log line names the provider and the TLS failure. Through a proxy, every call to the
//! provider goes through it; with mutual TLS, the token endpoint takes the configured client
//! certificate and refuses a login without one.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::ExtendedKeyUsagePurpose;
use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};
use support::pki::{Ca, Files};

const CLIENT_ID: &str = "rocket-tls";
const CLIENT_SECRET: &str = "tls-secret-5d1e8a2c";
const APP: &str = "http://127.0.0.1:8000";
const CALLBACK: &str = "http://127.0.0.1:8000/redirect_uri";

fn capture_logs() {
    support::logs::capture();
}

/// Starts the provider over https with `cert`/`key` (and `extra` environment).
async fn https_op(
    files: &Files,
    cert_and_key: (String, String),
    extra: &[(&str, &str)],
) -> real_op::RealOp {
    let cert = files.write("op-cert.pem", &cert_and_key.0);
    let key = files.write("op-key.pem", &cert_and_key.1);
    let mut env: Vec<(&str, &str)> = vec![("OP_TLS_CERT", &cert), ("OP_TLS_KEY", &key)];
    env.extend_from_slice(extra);
    real_op::RealOp::start_with_env(
        CLIENT_ID,
        CLIENT_SECRET,
        &[CALLBACK],
        &["http://127.0.0.1:8000/logout"],
        "client_secret_basic",
        &env,
    )
    .await
}

/// The example app for the provider at `issuer`, with `extra` keys.
fn figment(issuer: &str, extra: &[(&str, Value)]) -> Figment {
    let mut figment = Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.base_url", APP))
        .merge((
            "oidc.providers.default",
            json!({
                "issuer": issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": ["openid", "profile", "email", "offline_access"],
                "auth_request_params": {"prompt": "consent"},
            }),
        ));
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    figment
}

/// A browser that trusts `ca` (and reaches `host` at 127.0.0.1:`port`, if given).
fn browser(ca: &str, resolve: Option<(&str, u16)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    if let Some((host, port)) = resolve {
        builder = builder.resolve(host, ([127, 0, 0, 1], port).into());
    }
    builder.build().unwrap()
}

/// Logs `login` in at the app through the provider; returns the app's answer to the callback.
async fn log_in(client: &Client, browser: &reqwest::Client, login: &str) -> (Status, String) {
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(
        start.status(),
        Status::SeeOther,
        "the app did not send the browser to log in"
    );
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    let callback = real_op::dev_login(browser, &authorize, login, CALLBACK).await;
    let local = callback.trim_start_matches(APP).to_owned();
    let done = client.get(local).header(Accept::HTML).dispatch().await;
    let status = done.status();
    (status, done.into_string().await.unwrap_or_default())
}

/// The protected page answers 502 with the error view, and a log line names the provider and
/// the TLS failure `reason`.
async fn assert_tls_failure(client: &Client, reason: &str) {
    let page = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(page.status(), Status::BadGateway);
    assert!(page.headers().get_one("Location").is_none(), "a redirect");
    let body = page.into_string().await.unwrap_or_default();
    assert!(body.contains("provider_error"), "{body}");
    let needle = "provider `default`: TLS failure at the discovery endpoint";
    let records = support::logs::records();
    assert!(
        records
            .iter()
            .any(|r| r.contains(needle) && r.contains(reason)),
        "no log line `{needle}: ...{reason}...`: {records:#?}"
    );
    // Public routes keep working.
    let public = client.get("/public").dispatch().await;
    assert_eq!(public.status(), Status::Ok);
}

#[rocket::async_test]
async fn login_refresh_and_logout_over_https_with_the_configured_ca() {
    capture_logs();
    let files = Files::new("ok");
    let ca = Ca::new("test CA");
    let op = https_op(
        &files,
        ca.leaf(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        &[("ACCESS_TOKEN_TTL", "2")],
    )
    .await;
    assert!(op.issuer.starts_with("https://127.0.0.1:"), "{}", op.issuer);
    let ca_file = files.write("ca.pem", &ca.pem);
    // Only the test CA: the public roots would not do.
    let client = support::client_with(figment(
        &op.issuer,
        &[
            ("oidc.ca_certificates", json!([ca_file])),
            ("oidc.use_system_roots", false.into()),
        ],
    ))
    .await;
    let browser = browser(&ca.pem, None);
    let (status, body) = log_in(&client, &browser, "alice").await;
    assert_eq!(
        status,
        Status::SeeOther,
        "{body}\nOP stderr: {}",
        op.stderr()
    );
    let (status, page) = support::json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page["userinfo"]["email"], "alice@example.com");
    // A refresh over https (the access token lives 2 s: within the refresh leeway).
    let (status, token) = support::json_page(&client, "/token", Accept::JSON).await;
    assert_eq!(status, Status::Ok, "OP stderr: {}", op.stderr());
    assert_ne!(token["access_token"], page["access_token"]);
    // Logout: to the provider's end-session endpoint, over https.
    let logout = client.get("/logout").header(Accept::HTML).dispatch().await;
    assert_eq!(logout.status(), Status::SeeOther);
    let end_session = logout.headers().get_one("Location").unwrap();
    assert!(end_session.starts_with(&op.issuer), "{end_session}");
    let again = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(again.status(), Status::SeeOther);
    let authorize = again.headers().get_one("Location").unwrap();
    assert!(authorize.starts_with(&op.issuer), "{authorize}");
}

#[rocket::async_test]
async fn a_provider_certificate_of_an_unknown_ca_is_a_tls_failure() {
    capture_logs();
    let files = Files::new("unknown");
    let ca = Ca::new("test CA");
    let op = https_op(
        &files,
        ca.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth),
        &[],
    )
    .await;
    // No ca_certificates: the public roots do not know the test CA.
    let client = support::client_with(figment(&op.issuer, &[])).await;
    assert_tls_failure(&client, "not trusted (unknown issuer").await;
}

#[rocket::async_test]
async fn only_configured_roots_with_the_wrong_ca_is_a_tls_failure() {
    capture_logs();
    let files = Files::new("wrong-ca");
    let ca = Ca::new("test CA");
    let other = Ca::new("another CA");
    let op = https_op(
        &files,
        ca.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth),
        &[],
    )
    .await;
    let other_file = files.write("other-ca.pem", &other.pem);
    let client = support::client_with(figment(
        &op.issuer,
        &[
            (
                "oidc.providers.default.ca_certificates",
                json!([other_file]),
            ),
            ("oidc.providers.default.use_system_roots", false.into()),
        ],
    ))
    .await;
    assert_tls_failure(&client, "not trusted (unknown issuer").await;
}

#[rocket::async_test]
async fn a_certificate_for_another_host_name_is_a_tls_failure() {
    capture_logs();
    let files = Files::new("name");
    let ca = Ca::new("test CA");
    let op = https_op(
        &files,
        ca.leaf(&["op.example.com"], ExtendedKeyUsagePurpose::ServerAuth),
        &[],
    )
    .await;
    let ca_file = files.write("ca.pem", &ca.pem);
    let client = support::client_with(figment(
        &op.issuer,
        &[("oidc.ca_certificates", json!([ca_file]))],
    ))
    .await;
    assert_tls_failure(&client, "for another host name").await;
}

#[rocket::async_test]
async fn an_expired_provider_certificate_is_a_tls_failure() {
    capture_logs();
    let files = Files::new("expired");
    let ca = Ca::new("test CA");
    let op = https_op(
        &files,
        ca.leaf_with(
            &["127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            |params| {
                params.not_before = rcgen::date_time_ymd(2019, 1, 1);
                params.not_after = rcgen::date_time_ymd(2020, 1, 1);
            },
        ),
        &[],
    )
    .await;
    let ca_file = files.write("ca.pem", &ca.pem);
    let client = support::client_with(figment(
        &op.issuer,
        &[("oidc.ca_certificates", json!([ca_file]))],
    ))
    .await;
    assert_tls_failure(&client, "has expired").await;
}

/// A CONNECT proxy on loopback that sends `host:port` to 127.0.0.1:`port`; counts tunnels.
async fn connect_proxy(host: &'static str) -> (u16, Arc<AtomicUsize>) {
    use rocket::tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = rocket::tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    rocket::tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            rocket::tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).await.is_err() {
                    return;
                }
                // The headers, up to the empty line.
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let mut socket = reader.into_inner();
                let target = request_line.split_whitespace().nth(1).unwrap_or_default();
                let port = match (
                    request_line.starts_with("CONNECT "),
                    target.rsplit_once(':'),
                ) {
                    (true, Some((name, port))) if name == host => port.parse::<u16>().ok(),
                    _ => None,
                };
                let Some(port) = port else {
                    let _ = socket.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
                    return;
                };
                let Ok(mut upstream) =
                    rocket::tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    let _ = socket.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                if socket
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = rocket::tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
                }
            });
        }
    });
    (port, tunnels)
}

#[rocket::async_test]
async fn every_call_to_the_provider_goes_through_the_configured_proxy() {
    capture_logs();
    // The provider is `op.internal`, a name only the proxy knows: a call that bypassed the
    // proxy could not even resolve it.
    const HOST: &str = "op.internal";
    let files = Files::new("proxy");
    let ca = Ca::new("test CA");
    let op = https_op(
        &files,
        ca.leaf(&[HOST], ExtendedKeyUsagePurpose::ServerAuth),
        &[("OP_HOST", HOST)],
    )
    .await;
    let op_port: u16 = op.issuer.rsplit(':').next().unwrap().parse().unwrap();
    let (proxy_port, tunnels) = connect_proxy(HOST).await;
    let ca_file = files.write("ca.pem", &ca.pem);
    let client = support::client_with(figment(
        &op.issuer,
        &[
            ("oidc.ca_certificates", json!([ca_file])),
            (
                "oidc.http_proxy",
                format!("http://127.0.0.1:{proxy_port}").into(),
            ),
        ],
    ))
    .await;
    let browser = browser(&ca.pem, Some((HOST, op_port)));
    let (status, body) = log_in(&client, &browser, "bob").await;
    assert_eq!(
        status,
        Status::SeeOther,
        "{body}\nOP stderr: {}",
        op.stderr()
    );
    let (status, page) = support::json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page["userinfo"]["sub"], "bob");
    // Discovery, keys, token and userinfo went through it (over pooled tunnels).
    assert!(tunnels.load(Ordering::SeqCst) >= 1);
}

/// The provider logs `line` (polled, with a deadline: its stderr arrives on its own).
async fn provider_logged(op: &real_op::RealOp, line: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !op.stderr().contains(line) {
        assert!(
            std::time::Instant::now() < deadline,
            "the provider did not log {line:?}: {}",
            op.stderr()
        );
        rocket::tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The provider with a token endpoint that takes only client certificates of `client_ca`.
async fn mtls_op(files: &Files, ca: &Ca, client_ca: &Ca) -> real_op::RealOp {
    let client_ca_file = files.write("client-ca.pem", &client_ca.pem);
    https_op(
        files,
        ca.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth),
        &[
            ("OP_TLS_CLIENT_CA", client_ca_file.as_str()),
            ("OP_MTLS_PATHS", "/token"),
        ],
    )
    .await
}

#[rocket::async_test]
async fn mutual_tls_the_token_endpoint_takes_the_configured_client_certificate() {
    capture_logs();
    let files = Files::new("mtls");
    let ca = Ca::new("test CA");
    let client_ca = Ca::new("client CA");
    let op = mtls_op(&files, &ca, &client_ca).await;
    let (cert, key) = client_ca.leaf(&["rocket-tls.client"], ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = files.write("ca.pem", &ca.pem);
    let cert_file = files.write("client-cert.pem", &cert);
    let key_file = files.write("client-key.pem", &key);
    let client = support::client_with(figment(
        &op.issuer,
        &[
            ("oidc.ca_certificates", json!([ca_file])),
            (
                "oidc.providers.default.tls_client_certificate",
                cert_file.into(),
            ),
            ("oidc.providers.default.tls_client_key", key_file.into()),
        ],
    ))
    .await;
    let browser = browser(&ca.pem, None);
    let (status, body) = log_in(&client, &browser, "carol").await;
    assert_eq!(
        status,
        Status::SeeOther,
        "{body}\nOP stderr: {}",
        op.stderr()
    );
    provider_logged(&op, "OP mtls.accepted /token").await;
}

#[rocket::async_test]
async fn mutual_tls_without_a_client_certificate_the_login_is_refused() {
    capture_logs();
    let files = Files::new("mtls-none");
    let ca = Ca::new("test CA");
    let client_ca = Ca::new("client CA");
    let op = mtls_op(&files, &ca, &client_ca).await;
    let ca_file = files.write("ca.pem", &ca.pem);
    let client = support::client_with(figment(
        &op.issuer,
        &[("oidc.ca_certificates", json!([ca_file]))],
    ))
    .await;
    let browser = browser(&ca.pem, None);
    let (status, body) = log_in(&client, &browser, "dave").await;
    assert_eq!(status, Status::BadRequest, "{body}");
    assert!(body.contains("invalid_client"), "{body}");
    provider_logged(&op, "OP mtls.refused /token").await;
    // No session.
    let page = client.get("/").header(Accept::JSON).dispatch().await;
    assert_eq!(page.status(), Status::Unauthorized);
}

/// The provider with `tls_client_auth` for certificates of `client_ca` with the subject
/// `CN=rocket-tls.client`, certificate-bound tokens, mutual-TLS aliases under `/mtls`, and the
/// FAPI 2.0 profile's keys.
async fn mtls_auth_op(files: &Files, ca: &Ca, client_ca: &Ca) -> real_op::RealOp {
    let client_ca_file = files.write("client-ca.pem", &client_ca.pem);
    let (cert, key) = ca.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let cert = files.write("op-cert.pem", &cert);
    let key = files.write("op-key.pem", &key);
    real_op::RealOp::start_with_env(
        CLIENT_ID,
        "unused",
        &[CALLBACK],
        &["http://127.0.0.1:8000/logout"],
        "tls_client_auth",
        &[
            ("OP_TLS_CERT", &cert),
            ("OP_TLS_KEY", &key),
            ("OP_TLS_CLIENT_CA", &client_ca_file),
            ("OP_MTLS_AUTH", "1"),
            ("CLIENT_CERT_SUBJECT", "CN=rocket-tls.client"),
            ("OP_FAPI", "2.0"),
        ],
    )
    .await
}

#[rocket::async_test]
async fn tls_client_auth_with_certificate_bound_tokens_through_the_mtls_aliases() {
    capture_logs();
    let files = Files::new("mtls-auth");
    let ca = Ca::new("test CA");
    let client_ca = Ca::new("client CA");
    let op = mtls_auth_op(&files, &ca, &client_ca).await;
    let (cert, key) = client_ca.leaf(&["rocket-tls.client"], ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = files.write("ca.pem", &ca.pem);
    let figment = Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.base_url", APP))
        .merge(("oidc.ca_certificates", [ca_file]))
        .merge((
            "oidc.providers.default",
            json!({
                "issuer": op.issuer,
                "client_id": CLIENT_ID,
                "scope": ["openid", "profile", "offline_access"],
                "auth_request_params": {"prompt": "consent"},
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_certificate": files.write("client-cert.pem", &cert),
                "tls_client_key": files.write("client-key.pem", &key),
                "revoke_tokens_on_logout": true,
                // FAPI 2.0 with certificate-bound tokens instead of DPoP.
                "profile": "fapi2",
            }),
        ));
    let client = support::client_with(figment).await;
    let browser = browser(&ca.pem, None);
    let (status, body) = log_in(&client, &browser, "erin").await;
    assert_eq!(status, Status::SeeOther, "{body}\nOP: {}", op.stderr());
    let page = client.get("/").header(Accept::JSON).dispatch().await;
    let page: Value = serde_json::from_str(&page.into_string().await.unwrap()).unwrap();
    assert_eq!(page["userinfo"]["sub"], "erin", "{page}");
    let refreshed = client
        .get("/token?force=true")
        .header(Accept::JSON)
        .dispatch()
        .await;
    assert_eq!(refreshed.status(), Status::Ok, "OP: {}", op.stderr());
    let logout = client.get("/logout").header(Accept::HTML).dispatch().await;
    assert!(logout.status() == Status::SeeOther || logout.status() == Status::Ok);
    provider_logged(&op, "OP revocation.success").await;
    // The pushed request, the code exchange, userinfo, the refresh and the revocations all
    // went to the aliases with the certificate; nothing authenticated went to a plain endpoint.
    let log = op.stderr();
    for path in ["/request", "/token", "/me", "/token/revocation"] {
        assert!(
            log.contains(&format!("OP mtls.alias {path}\n")),
            "{path}: {log}"
        );
    }
    assert!(!log.contains("OP mtls.plain"), "{log}");
    assert!(!log.contains("invalid_client"), "{log}");
}

#[test]
fn tls_client_auth_needs_a_client_certificate_and_no_secret() {
    let launch = |provider: Value| {
        let figment = Figment::from(rocket::Config::debug_default())
            .merge(("oidc.providers.default", provider));
        rocket_openidconnect::OidcConfig::from_figment(&figment)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let base = json!({"issuer": "https://op.example", "client_id": "app",
                      "token_endpoint_auth_method": "tls_client_auth"});
    let error = launch(base.clone()).unwrap_err();
    assert!(
        error.contains("oidc.providers.default.tls_client_certificate"),
        "{error}"
    );
    let mut with_secret = base;
    with_secret["client_secret"] = "s3cret".into();
    with_secret["tls_client_certificate"] = "cert.pem".into();
    with_secret["tls_client_key"] = "key.pem".into();
    let error = launch(with_secret).unwrap_err();
    assert!(
        error.contains("oidc.providers.default.client_secret"),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "{error}");
}
