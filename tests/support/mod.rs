//! Shared by the integration tests: the example application wired to a test provider.
#![allow(dead_code)]

#[path = "../../examples/app.rs"]
mod example_app;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{LoginAttempt, TestProvider};

/// The example app, configured for `provider`, as a cookie-keeping client.
pub async fn client(provider: &TestProvider) -> Client {
    client_with(provider.app_figment()).await
}

/// The example app with a custom figment.
pub async fn client_with(figment: Figment) -> Client {
    Client::tracked(example_app::app(figment))
        .await
        .expect("the example app launches")
}

/// `/` answers like a logged-out browser would see it: a redirect to the provider.
pub async fn assert_logged_out(client: &Client, provider: &TestProvider) {
    let response = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    let location = response.headers().get_one("Location").unwrap_or_default();
    assert!(location.starts_with(provider.issuer()), "{location}");
}

/// A login that must fail with `status`, create no session, and show no secret.
pub fn assert_rejected(attempt: &LoginAttempt, status: u16, provider: &TestProvider) {
    assert_eq!(attempt.status.code, status, "body: {}", attempt.body);
    assert!(!attempt.session_created, "a session was created");
    assert!(
        !attempt.body.contains(provider.client_secret()),
        "the secret leaked"
    );
    assert!(
        !attempt.body.contains("eyJ"),
        "a token leaked: {}",
        attempt.body
    );
}

/// Serves the example app on a free loopback port (a real server, for real HTTP clients and
/// browsers) and returns the port.
pub async fn serve(figment: Figment) -> u16 {
    let (tx, rx) = rocket::tokio::sync::oneshot::channel::<u16>();
    let tx = std::sync::Mutex::new(Some(tx));
    let figment = figment
        .merge(("address", "127.0.0.1"))
        .merge(("port", 0))
        .merge(("log_level", "off"))
        .merge(("shutdown.ctrlc", false));
    let rocket = example_app::app(figment)
        .attach(rocket::fairing::AdHoc::on_liftoff("port", move |rocket| {
            let port = rocket.config().port;
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(port);
            }
            Box::pin(async {})
        }))
        .ignite()
        .await
        .expect("the example app ignites");
    rocket::tokio::spawn(rocket.launch());
    rx.await.expect("the example app lifts off")
}
