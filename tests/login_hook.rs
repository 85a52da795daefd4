//! The application's login hook (`OpenIdConnect::on_login`): it sees every login that passed
//! the protocol's checks, before the session is stored, and may refuse it (403, the error
//! view with its reason, no session: neither the new one nor one the browser had).

mod support;

use std::sync::{Arc, Mutex};

use rocket::figment::Figment;
use rocket::http::{Accept, Cookie, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::Json;
use rocket::{get, routes};
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::{OidcUser, OpenIdConnect};
use serde_json::{json, Value};

#[get("/")]
fn me(user: OidcUser) -> Json<Value> {
    Json(json!({ "sub": user.claims().subject() }))
}

/// What the hook saw: (subject, provider, silent).
type Seen = Arc<Mutex<Vec<(String, String, bool)>>>;

/// An app whose hook records every login and lets through only `@example.com` addresses
/// while `open` holds; it awaits (as a database call would) before it answers.
async fn app(figment: Figment, seen: Seen, open: Arc<Mutex<bool>>) -> Client {
    let fairing = OpenIdConnect::fairing().on_login(move |event| {
        let (seen, open) = (seen.clone(), open.clone());
        async move {
            rocket::tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let session = event.session();
            seen.lock().unwrap().push((
                session.claims().subject().to_owned(),
                session.provider().to_owned(),
                event.is_silent(),
            ));
            let email = session.claims().str("email").unwrap_or_default();
            if *open.lock().unwrap() && email.ends_with("@example.com") {
                Ok(())
            } else {
                Err("only example.com accounts may use this application".into())
            }
        }
    });
    let rocket = rocket::custom(figment)
        .attach(fairing)
        .mount("/", routes![me]);
    Client::tracked(rocket).await.expect("the app launches")
}

async fn subject(client: &Client) -> (Status, Value) {
    support::json_page(client, "/", Accept::JSON).await
}

#[rocket::async_test]
async fn the_hook_sees_each_login_and_a_refusal_leaves_no_session() {
    let provider = TestProvider::start().await;
    let seen: Seen = Arc::default();
    let open = Arc::new(Mutex::new(true));
    let figment = provider.app_figment().merge(("oidc.login_path", "/login"));
    let client = app(figment, seen.clone(), open.clone()).await;

    // Let through: the session is stored, the hook saw it once.
    provider.set_user("alice", json!({"email": "alice@example.com"}));
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert!(login.session_created);
    assert_eq!(
        subject(&client).await,
        (Status::Ok, json!({"sub": "alice"}))
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [("alice".to_owned(), "default".to_owned(), false)]
    );

    // Refused: 403 with the reason in the error view, no session.
    let other = app(provider.app_figment(), seen.clone(), open.clone()).await;
    provider.set_user("mallory", json!({"email": "mallory@elsewhere.test"}));
    let login = provider.login(&other, "/").await;
    assert_eq!(login.status, Status::Forbidden, "{}", login.body);
    assert!(!login.session_created);
    assert!(login.body.contains("access_denied"), "{}", login.body);
    assert!(
        login
            .body
            .contains("only example.com accounts may use this application"),
        "{}",
        login.body
    );
    assert_eq!(subject(&other).await.0, Status::Unauthorized);
    assert_eq!(seen.lock().unwrap().len(), 2);

    // A browser with a session whose next login (through the login route) is refused keeps
    // none: the old session is ended, so a copy of its cookie is no session either.
    let copy: Vec<Cookie<'static>> = client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("oidc_session"))
        .map(|c| c.clone().into_owned())
        .collect();
    assert!(!copy.is_empty());
    *open.lock().unwrap() = false;
    provider.set_user("alice", json!({"email": "alice@example.com"}));
    let again = provider.login(&client, "/login").await;
    assert_eq!(again.status, Status::Forbidden, "{}", again.body);
    assert_eq!(subject(&client).await.0, Status::Unauthorized);
    let response = client
        .get("/")
        .header(Accept::JSON)
        .cookies(copy)
        .dispatch()
        .await;
    assert_eq!(
        response.status(),
        Status::Unauthorized,
        "a copy of the old cookie"
    );
}

#[rocket::async_test]
async fn a_silent_re_authentication_goes_through_the_hook_too() {
    let provider = TestProvider::start().await;
    provider.set_user("bob", json!({"email": "bob@example.com"}));
    let seen: Seen = Arc::default();
    let open = Arc::new(Mutex::new(true));
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.session_refresh_interval", 1));
    let client = app(figment, seen.clone(), open.clone()).await;
    assert!(provider.login(&client, "/").await.session_created);

    // Due (past the interval and the 3 s between refreshes): a navigation renews the session
    // with prompt=none, which the hook now refuses (the user was disabled meanwhile).
    *open.lock().unwrap() = false;
    rocket::tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let navigation = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(navigation.status(), Status::SeeOther);
    let authorize = navigation.headers().get_one("Location").unwrap().to_owned();
    assert!(authorize.contains("prompt=none"), "{authorize}");
    let callback = provider.authorize(&authorize).await;
    let done = provider.deliver(&client, &callback).await;
    assert_eq!(done.status, Status::Forbidden, "{}", done.body);
    assert_eq!(subject(&client).await.0, Status::Unauthorized);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1], ("bob".to_owned(), "default".to_owned(), true));
}
