//! The one-command demo (`cargo run --example demo`): its Rocket, with the embedded development
//! provider, served on a real port and used through a cookie-keeping HTTP client like a browser.

#[path = "../examples/demo.rs"]
mod demo;

use rocket::figment::Figment;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The body of a GET of `url`.
async fn text(browser: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    browser.get(url).send().await.unwrap().text().await.unwrap()
}

/// A GET of `url` as a browser navigation (HTML accepted).
async fn navigate(browser: &reqwest::Client, url: impl reqwest::IntoUrl) -> reqwest::Response {
    browser
        .get(url)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
}

fn field<'a>(html: &'a str, name: &str) -> &'a str {
    let marker = format!("name=\"{name}\" value=\"");
    html.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
}

#[rocket::async_test]
async fn the_demo_logs_in_through_its_development_provider_and_out_again() {
    let port = free_port();
    let figment = Figment::from(rocket::Config::debug_default())
        .merge(("port", port))
        .merge(("log_level", "off"));
    let (rocket, provider) = demo::demo(figment).await;
    let provider = provider.expect("no provider configured: the demo starts its own");
    let rocket = rocket.ignite().await.unwrap();
    let shutdown = rocket.shutdown();
    rocket::tokio::spawn(rocket.launch());
    let app = format!("http://127.0.0.1:{port}");
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let location = |r: &reqwest::Response| {
        r.headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no redirect: {}", r.status()))
    };
    // The app may take a moment to listen.
    let mut home = None;
    for _ in 0..50 {
        if let Ok(response) = browser.get(format!("{app}/")).send().await {
            home = Some(response);
            break;
        }
        rocket::tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let home = home.expect("the demo listens").text().await.unwrap();
    assert!(home.contains("You are not logged in"), "{home}");

    // The protected page sends the browser to the development provider's login page.
    let profile = navigate(&browser, format!("{app}/profile")).await;
    assert_eq!(profile.status(), 303);
    let authorize = location(&profile);
    assert!(authorize.starts_with(provider.issuer()), "{authorize}");
    let login_page = text(&browser, &authorize).await;
    assert!(
        login_page.contains("never use it in production"),
        "{login_page}"
    );

    // Any user name, claims as JSON.
    let login = browser
        .post(format!("{}/login", provider.issuer()))
        .form(&[
            ("request", field(&login_page, "request")),
            ("username", "grace"),
            (
                "claims",
                r#"{"email": "grace@example.com", "name": "Grace Hopper"}"#,
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let callback = location(&login);
    assert!(
        callback.starts_with(&format!("{app}/redirect_uri?")),
        "{callback}"
    );
    let back = browser.get(&callback).send().await.unwrap();
    assert_eq!(back.status(), 303);
    assert_eq!(location(&back), "/profile");

    let page = text(&browser, format!("{app}/profile")).await;
    assert!(page.contains("Logged in as <b>grace</b>"), "{page}");
    assert!(
        page.contains("grace@example.com") && page.contains("Grace Hopper"),
        "{page}"
    );
    assert!(page.contains("expires at"), "{page}");

    // Refresh, then log out (through the provider's end-session endpoint and back).
    let refreshed = browser.post(format!("{app}/refresh")).send().await.unwrap();
    assert_eq!(refreshed.status(), 303, "{:?}", refreshed.text().await);
    assert_eq!(provider.hits().refresh, 1);
    let logout = browser.post(format!("{app}/logout")).send().await.unwrap();
    assert_eq!(logout.status(), 303);
    let end_session = location(&logout);
    assert!(end_session.starts_with(provider.issuer()), "{end_session}");
    let back = browser.get(&end_session).send().await.unwrap();
    let returned = browser.get(location(&back)).send().await.unwrap();
    assert_eq!(returned.status(), 303);
    let home = text(&browser, format!("{app}/")).await;
    assert!(home.contains("You are not logged in"), "{home}");

    // The provider's own session ended too: the next login shows the login page again.
    let profile = navigate(&browser, format!("{app}/profile")).await;
    let again = text(&browser, location(&profile)).await;
    assert!(again.contains("<h1>Log in</h1>"), "{again}");
    shutdown.notify();
}
