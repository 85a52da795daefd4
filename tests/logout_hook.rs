//! The application's logout hook (`OpenIdConnect::on_logout`): told of every session that
//! ends, whoever ends it (the user, the provider by back channel or front channel, the
//! application), with what the channel says of whom; after the fact, never in the way.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::http::{Accept, ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::{LogoutChannel, OpenIdConnect, SessionEnded};
use serde_json::json;

type Told = Arc<Mutex<Vec<SessionEnded>>>;

/// An app with server-side sessions in memory (so that `OidcSessions` can end them), the
/// session routes, and a hook that keeps what it is told.
async fn app(provider: &TestProvider, told: Told) -> Client {
    let fairing = OpenIdConnect::fairing().on_logout(move |ended| {
        let told = told.clone();
        async move { told.lock().unwrap().push(ended) }
    });
    let figment = provider
        .app_figment()
        .merge(("oidc.session_store", "memory"));
    let rocket = rocket::custom(figment)
        .attach(fairing)
        .mount("/", support::session_routes::routes());
    Client::tracked(rocket).await.unwrap()
}

/// Logs `client` in as `user`: the provider session id of the login.
async fn logged_in(provider: &TestProvider, client: &Client) -> String {
    assert!(provider.login(client, "/").await.session_created);
    let (status, page) = support::json_page(client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    page["id_token"]["sid"].as_str().expect("a sid").to_owned()
}

/// What the hook was told `n`-th (waits for it: the hook runs on a task of its own).
async fn told_at(told: &Told, n: usize) -> SessionEnded {
    support::eventually("the logout hook told", Duration::from_secs(10), || {
        told.lock().unwrap().get(n).cloned()
    })
    .await
}

#[rocket::async_test]
async fn every_channel_that_ends_a_session_tells_the_hook() {
    let provider = TestProvider::start().await;
    provider.set_user("ann", json!({}));
    let told: Told = Arc::default();
    let client = app(&provider, told.clone()).await;

    // The user, at the logout route.
    let sid = logged_in(&provider, &client).await;
    let logout = client.get("/logout").header(Accept::HTML).dispatch().await;
    assert_eq!(logout.status(), Status::SeeOther);
    let ended = told_at(&told, 0).await;
    assert_eq!(ended.channel(), LogoutChannel::RpInitiated);
    assert_eq!(ended.provider(), "default");
    assert_eq!(ended.subject(), Some("ann"));
    assert_eq!(ended.provider_sid(), Some(sid.as_str()));

    // The provider, with a logout token naming the provider session.
    let sid = logged_in(&provider, &client).await;
    let token = provider.logout_token(serde_json::Map::new(), |c| {
        c.insert("sid".into(), sid.clone().into());
    });
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    let answer = client
        .post("/backchannel_logout")
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    assert_eq!(answer.status(), Status::Ok);
    let ended = told_at(&told, 1).await;
    assert_eq!(ended.channel(), LogoutChannel::Backchannel);
    assert_eq!(ended.subject(), None, "the token named no sub");
    assert_eq!(ended.provider_sid(), Some(sid.as_str()));

    // The provider, through the browser.
    let sid = logged_in(&provider, &client).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("iss", provider.issuer())
        .append_pair("sid", &sid)
        .finish();
    let page = client
        .get(format!("/frontchannel_logout?{query}"))
        .header(Header::new("Sec-Fetch-Dest", "iframe"))
        .dispatch()
        .await;
    assert_eq!(page.status(), Status::Ok);
    let ended = told_at(&told, 2).await;
    assert_eq!(ended.channel(), LogoutChannel::Frontchannel);
    assert_eq!(ended.provider_sid(), Some(sid.as_str()));

    // The application, ending every session of the user.
    logged_in(&provider, &client).await;
    let all = client.post("/sessions/end-all").dispatch().await;
    assert_eq!(all.status(), Status::Ok);
    let ended = told_at(&told, 3).await;
    assert_eq!(ended.channel(), LogoutChannel::Application);
    assert_eq!(ended.subject(), Some("ann"));

    // A refused logout token tells nothing.
    let answer = client
        .post("/backchannel_logout")
        .header(ContentType::Form)
        .body("logout_token=not-a-token")
        .dispatch()
        .await;
    assert_eq!(answer.status(), Status::BadRequest);
    rocket::tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(told.lock().unwrap().len(), 4);
}
