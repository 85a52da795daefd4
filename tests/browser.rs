//! A real browser against a real provider: headless Chromium, driven over WebDriver
//! (chromedriver), logs in through the pages of `oidc-provider` (`tests/op/server.js`) with
//! every response type, in its default response mode and with `form_post`, and with the FAPI
//! 2.0 profile (PAR, `private_key_jwt`, DPoP with the provider's nonces), and lands on the
//! example application's protected page with its claims.
//!
//! The application runs at `http://localhost:PORT` and the provider at `http://127.0.0.1:PORT`:
//! different sites for the browser, so the `SameSite` rules apply as in production (the
//! `form_post` POST is cross-site). Needs `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! (Debian packages `chromium` and `chromium-driver`, which `.ci/test` installs).

#[path = "../examples/app.rs"]
mod example_app;
#[path = "support/real_op.rs"]
mod real_op;

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use rocket::figment::Figment;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const CLIENT_ID: &str = "rocket-browser";
const CLIENT_SECRET: &str = "browser-secret-8d2e61";

/// One browser at a time: two cores, and Chromium is the heaviest part of the suite.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running chromedriver, killed on drop.
struct Driver {
    url: String,
    _child: Child,
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "chromedriver is needed (Debian packages chromium and chromium-driver; \
                 `bash .ci/test` installs them)",
            );
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(response) = http.get(format!("{url}/status")).send().await {
                if response.status().is_success() {
                    return Driver { url, _child: child };
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }

    /// A new headless Chromium with an empty profile.
    async fn browser(&self, profile: &std::path::Path) -> fantoccini::Client {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// Starts the example application on `port` (at `http://localhost:port`) for `issuer`.
async fn start_app(port: u16, issuer: &str, response_type: &str, mode: Option<&str>) {
    let mut provider = json!({
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": ["openid", "profile", "email"],
        "response_type": response_type,
    });
    if let Some(mode) = mode {
        provider["response_mode"] = mode.into();
    }
    serve_app(app_figment(port).merge(("oidc.providers.default", provider))).await;
}

/// The example application's settings on `port`, without a provider.
fn app_figment(port: u16) -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("address", "127.0.0.1"))
        .merge(("port", port))
        .merge(("oidc.base_url", format!("http://localhost:{port}")))
}

/// Starts the example application with `figment` and waits until it answers.
async fn serve_app(figment: Figment) {
    let port: u16 = figment.extract_inner("port").expect("a port");
    let rocket = example_app::app(figment)
        .ignite()
        .await
        .expect("the example app ignites");
    tokio::spawn(rocket.launch());
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/public"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the example app did not start");
}

/// Logs in as alice with `response_type` (and `mode`) and returns the protected page's JSON.
async fn browser_login(response_type: &str, mode: Option<&str>) -> Value {
    let _one = ONE_BROWSER.lock().await;
    let port = free_port();
    let callback = format!("http://localhost:{port}/redirect_uri");
    let op = real_op::RealOp::start_with_env(
        CLIENT_ID,
        CLIENT_SECRET,
        &[&callback],
        &[],
        "client_secret_basic",
        &[
            ("RESPONSE_TYPES", response_type),
            // JWT response modes (JARM) when asked for.
            (
                "OP_JARM",
                if mode.is_some_and(|m| m.contains("jwt")) {
                    "1"
                } else {
                    "0"
                },
            ),
        ],
    )
    .await;
    start_app(port, &op.issuer, response_type, mode).await;
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("rocket-oidc-chromium-{port}"));
    let browser = driver.browser(&profile).await;
    let result = drive(&browser, port).await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    match result {
        Ok(page) => page,
        Err(why) => panic!(
            "{response_type} / {mode:?}: {why}\nOP log:\n{}",
            op.stderr()
        ),
    }
}

/// The user's part: open the protected page, log in and consent at the provider, land back.
async fn drive(browser: &fantoccini::Client, port: u16) -> Result<Value, String> {
    let step = |what: &'static str| move |e: fantoccini::error::CmdError| format!("{what}: {e}");
    let home = format!("http://localhost:{port}/");
    browser.goto(&home).await.map_err(step("open the app"))?;
    // The provider's login page (devInteractions): any login and password.
    let login = wait_at_most(browser)
        .for_element(Locator::Css("input[name=login]"))
        .await
        .map_err(step("the provider's login form"))?;
    login
        .send_keys("alice")
        .await
        .map_err(step("type the login"))?;
    let password = browser
        .find(Locator::Css("input[name=password]"))
        .await
        .map_err(step("the password field"))?;
    password
        .send_keys("secret")
        .await
        .map_err(step("type the password"))?;
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .map_err(step("the login button"))?
        .click()
        .await
        .map_err(step("log in"))?;
    // The consent page.
    wait_at_most(browser)
        .for_element(Locator::Css("input[name=prompt][value=consent]"))
        .await
        .map_err(step("the consent form"))?;
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .map_err(step("the consent button"))?
        .click()
        .await
        .map_err(step("consent"))?;
    // Back at the application: the relay page or the form POST, then the protected page.
    let home_url = url::Url::parse(&home).map_err(|e| e.to_string())?;
    if wait_at_most(browser).for_url(&home_url).await.is_err() {
        let url = browser.current_url().await.map(|u| u.to_string());
        let source = browser.source().await.unwrap_or_default();
        return Err(format!("did not land on {home}: at {url:?}:\n{source}"));
    }
    let url = browser.current_url().await.map_err(step("the URL"))?;
    if url.fragment().is_some() {
        return Err(format!("the fragment is still in the address bar: {url}"));
    }
    // Chromium shows a JSON document in a `<pre>`.
    let text = browser
        .find(Locator::Css("pre"))
        .await
        .map_err(step("the page"))?
        .text()
        .await
        .map_err(step("the page's text"))?;
    serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))
}

/// The FAPI 2.0 login in Chromium: the provider in its FAPI 2.0 configuration (PAR required,
/// DPoP with server nonces, `dpop_bound_access_tokens`, the app's key set, ES256 ID tokens),
/// the app with `profile = "fapi2"`.
#[rocket::async_test]
async fn fapi2_with_dpop() {
    let _one = ONE_BROWSER.lock().await;
    let port = free_port();
    let callback = format!("http://localhost:{port}/redirect_uri");
    let dir = std::env::temp_dir().join(format!("rocket-oidc-fapi-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("rp-es256.pem");
    std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let keys = [key];
    let figment = app_figment(port)
        .merge(("oidc.signing_keys", &keys))
        .merge(("oidc.jwks_path", "/jwks.json"));
    // The key set the app publishes, for the provider's registration of the client.
    let jwks = {
        let any = figment.clone().merge((
            "oidc.providers.default",
            json!({"issuer": "http://127.0.0.1:9", "client_id": CLIENT_ID,
                   "token_endpoint_auth_method": "private_key_jwt"}),
        ));
        let local = rocket::local::asynchronous::Client::untracked(example_app::app(any))
            .await
            .unwrap();
        let response = local.get("/jwks.json").dispatch().await;
        response.into_string().await.unwrap()
    };
    let op = real_op::RealOp::start_with_env(
        CLIENT_ID,
        "unused",
        &[&callback],
        &[],
        "private_key_jwt",
        &[
            ("OP_FAPI", "2.0"),
            ("OP_PAR", "required"),
            ("OP_DPOP_NONCE", "1"),
            ("DPOP_BOUND", "1"),
            ("CLIENT_JWKS", &jwks),
        ],
    )
    .await;
    let provider = json!({
        "issuer": op.issuer,
        "client_id": CLIENT_ID,
        "scope": ["openid", "profile", "email"],
        "token_endpoint_auth_method": "private_key_jwt",
        "dpop": true,
        "profile": "fapi2",
    });
    serve_app(figment.merge(("oidc.providers.default", provider))).await;
    let driver = Driver::start().await;
    let profile = dir.join("chromium");
    let browser = driver.browser(&profile).await;
    let result = drive(&browser, port).await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    let page = result.unwrap_or_else(|why| {
        panic!(
            "fapi2: {why}
OP log:
{}",
            op.stderr()
        )
    });
    assert_logged_in(&page, "code");
    assert_eq!(page["token_type"], "DPoP", "{page}");
    let log = op.stderr();
    assert!(log.contains("OP dpop token 200 DPoP"), "{log}");
    assert!(log.contains("OP dpop userinfo 200"), "{log}");
    let pushed = log.lines().find(|l| l.starts_with("OP par ")).unwrap();
    assert!(pushed.contains("dpop_jkt"), "{pushed}");
}

fn wait_at_most(browser: &fantoccini::Client) -> fantoccini::wait::Wait<'_> {
    browser.wait().at_most(Duration::from_secs(20))
}

fn assert_logged_in(page: &Value, response_type: &str) {
    assert_eq!(page["id_token"]["sub"], "alice", "{page}");
    assert!(page["id_token"]["iss"]
        .as_str()
        .unwrap_or_default()
        .starts_with("http://127.0.0.1:"));
    let has_access_token = response_type != "id_token";
    assert_eq!(page["access_token"].is_string(), has_access_token, "{page}");
    if has_access_token {
        // Userinfo with the access token: the profile scope's claims.
        assert_eq!(page["userinfo"]["name"], "alice Tester", "{page}");
    } else {
        assert!(page["userinfo"].is_null(), "{page}");
    }
}

#[rocket::async_test]
async fn code_in_the_query() {
    assert_logged_in(&browser_login("code", None).await, "code");
}

#[rocket::async_test]
async fn id_token_in_the_fragment() {
    assert_logged_in(&browser_login("id_token", None).await, "id_token");
}

#[rocket::async_test]
async fn id_token_token_in_the_fragment() {
    assert_logged_in(
        &browser_login("id_token token", None).await,
        "id_token token",
    );
}

#[rocket::async_test]
async fn code_id_token_in_the_fragment() {
    assert_logged_in(&browser_login("code id_token", None).await, "code id_token");
}

#[rocket::async_test]
async fn code_token_in_the_fragment() {
    assert_logged_in(&browser_login("code token", None).await, "code token");
}

#[rocket::async_test]
async fn code_id_token_token_in_the_fragment() {
    let page = browser_login("code id_token token", None).await;
    assert_logged_in(&page, "code id_token token");
}

#[rocket::async_test]
async fn code_with_form_post() {
    assert_logged_in(&browser_login("code", Some("form_post")).await, "code");
}

#[rocket::async_test]
async fn id_token_token_with_form_post() {
    let page = browser_login("id_token token", Some("form_post")).await;
    assert_logged_in(&page, "id_token token");
}

#[rocket::async_test]
async fn code_id_token_token_with_form_post() {
    let page = browser_login("code id_token token", Some("form_post")).await;
    assert_logged_in(&page, "code id_token token");
}

#[rocket::async_test]
async fn code_with_form_post_jwt() {
    assert_logged_in(&browser_login("code", Some("form_post.jwt")).await, "code");
}

#[rocket::async_test]
async fn code_id_token_with_fragment_jwt_through_the_relay_page() {
    let page = browser_login("code id_token", Some("fragment.jwt")).await;
    assert_logged_in(&page, "code id_token");
}
