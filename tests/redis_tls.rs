//! `redis_url = "rediss://..."`: the shared store over TLS. A `redis-server` with only a TLS
//! port, its certificate from a certificate authority this test makes (rcgen). redis-rs takes
//! its TLS roots from the operating system's store through rustls-native-certs, which reads
//! `SSL_CERT_FILE` instead when it is set: with the test's CA there, sessions are kept in that
//! Redis and a second instance uses them; with another CA there, or with plain `redis://` on
//! the TLS port, the store is unavailable (503), never replaced by memory.
//!
//! One test in a binary of its own: it sets `SSL_CERT_FILE` for the whole process.

mod support;

use std::process::Stdio;

use rocket::figment::Figment;
use rocket::http::{Accept, Cookie, Status};
use rocket_openidconnect::testing::TestProvider;
use support::pki::{Ca, Files};
use tokio::process::{Child, Command};

const SECRET_KEY: &str =
    "GIlLiBWeDA0JCRqy4gbyD+4fjB5Eq9ajakg69W7Op5/2/vFVwVadLP/2h4L3CNxAHNqv1Qs6+QL2lWQakz/jQw==";

/// A `redis-server` with only a TLS port (`port`), without persistence, killed on drop.
struct TlsRedis {
    port: u16,
    _child: Child,
}

impl TlsRedis {
    async fn start(port: u16, files: &Files, ca: &Ca) -> TlsRedis {
        let (cert, key) = ca.server("127.0.0.1");
        let cert = files.write("redis-cert.pem", &cert);
        let key = files.write("redis-key.pem", &key);
        let ca_file = files.write("redis-ca.pem", &ca.pem);
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
            .args(["--tls-ca-cert-file", &ca_file, "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is needed (Debian package redis-server)");
        support::eventually_async(
            "redis-server listening on its TLS port (a redis-server built with TLS)",
            support::PATIENCE,
            move || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        TlsRedis {
            port,
            _child: child,
        }
    }
}

/// An instance of the example app for `provider` with its sessions in the Redis of `redis_url`.
fn instance(provider: &TestProvider, redis_url: &str) -> Figment {
    provider
        .app_figment()
        .merge(("secret_key", SECRET_KEY))
        .merge(("oidc.redis_url", redis_url))
        .merge(("oidc.session_store", "redis"))
        .merge(("oidc.http_timeout", 1))
}

#[rocket::async_test]
async fn a_rediss_url_keeps_sessions_in_redis_over_verified_tls() {
    let files = Files::new("rediss");
    let ca = Ca::new("rocket_openidconnect Redis test CA");
    let redis = TlsRedis::start(support::free_port(), &files, &ca).await;
    let our_ca = files.write("roots.pem", &ca.pem);
    let another_ca = files.write("other-roots.pem", &Ca::new("another CA").pem);
    std::env::set_var("SSL_CERT_FILE", our_ca);
    let provider = TestProvider::start().await;
    let tls_url = format!("rediss://127.0.0.1:{}/", redis.port);

    // A login and its session, kept in Redis over TLS.
    let a = support::client_with(instance(&provider, &tls_url)).await;
    let login = provider.login(&a, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(
        support::json_page(&a, "/", Accept::JSON).await.0,
        Status::Ok
    );
    // Another instance, with a copy of the session id cookie, finds the session there.
    let id = a
        .cookies()
        .get("oidc_session.id")
        .expect("a session id cookie")
        .value()
        .to_owned();
    let b = support::client_with(instance(&provider, &tls_url)).await;
    let on_b = b
        .get("/")
        .header(Accept::JSON)
        .cookie(Cookie::new("oidc_session.id", id.clone()))
        .dispatch()
        .await;
    assert_eq!(on_b.status(), Status::Ok, "the session is not in Redis");

    // Plain redis:// on the TLS port: no store, so the login's callback (which records its
    // state there) answers 503.
    let plain_url = format!("redis://127.0.0.1:{}/", redis.port);
    let plain = support::client_with(instance(&provider, &plain_url)).await;
    let attempt = provider.login(&plain, "/").await;
    assert_eq!(attempt.status.code, 503, "{}", attempt.body);
    assert!(!attempt.session_created);

    // A server certificate of a CA that is not among the roots: refused, 503 again; the
    // session cannot be read either.
    std::env::set_var("SSL_CERT_FILE", another_ca);
    let untrusting = support::client_with(instance(&provider, &tls_url)).await;
    let attempt = provider.login(&untrusting, "/").await;
    assert_eq!(attempt.status.code, 503, "{}", attempt.body);
    let with_copy = untrusting
        .get("/")
        .header(Accept::JSON)
        .cookie(Cookie::new("oidc_session.id", id))
        .dispatch()
        .await;
    assert_eq!(with_copy.status(), Status::ServiceUnavailable);
    std::env::remove_var("SSL_CERT_FILE");

    // The first instance's connection was made with the right roots: it still works.
    assert_eq!(
        support::json_page(&a, "/", Accept::JSON).await.0,
        Status::Ok
    );
}
