//! Several providers side by side, and the application's own error view.

mod support;

use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Json, Value};
use rocket_openidconnect::testing::{Behaviour, Signing, TestProvider};
use rocket_openidconnect::OpenIdConnect;

async fn two_provider_app(default: &TestProvider, partner: &TestProvider) -> Client {
    let figment = default
        .app_figment()
        .merge(("oidc.providers.partner", partner.provider_table()));
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", support::two_providers::routes());
    Client::tracked(rocket).await.unwrap()
}

#[rocket::async_test]
async fn each_route_logs_in_with_the_provider_its_guard_names() {
    let default = TestProvider::start().await;
    default.set_user("alice", json!({}));
    let partner = TestProvider::start().await;
    partner.set_user("p-bob", json!({}));
    let client = two_provider_app(&default, &partner).await;

    // The partner route sends the browser to the partner provider only.
    let login = partner.login(&client, "/partner").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let page = client.get("/partner").dispatch().await;
    assert_eq!(page.into_string().await.unwrap(), "partner:p-bob");
    // (The default provider was only discovered, in the background at launch.)
    assert_eq!((default.hits().authorize, default.hits().token), (0, 0));

    // The partner's session does not open the default provider's routes.
    let main = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(main.status(), Status::SeeOther);
    assert!(main
        .headers()
        .get_one("Location")
        .unwrap()
        .starts_with(default.issuer()));

    let login = default.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let page = client.get("/").dispatch().await;
    assert_eq!(page.into_string().await.unwrap(), "default:alice");
}

#[rocket::async_test]
async fn a_callback_for_one_provider_cannot_be_completed_by_the_other() {
    // Mix-up: the partner's response (code and iss) arrives for the default provider's login.
    let default = TestProvider::start().await;
    let partner = TestProvider::start().await;
    let client = two_provider_app(&default, &partner).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let default_authorize = start.headers().get_one("Location").unwrap().to_owned();
    let state = url::Url::parse(&default_authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // The attacker's partner flow, with the victim's state spliced in.
    let partner_authorize = default_authorize.replace(default.issuer(), partner.issuer());
    let partner_callback = partner.authorize(&partner_authorize).await;
    assert!(partner_callback.contains(&state));
    let attempt = default.deliver(&client, &partner_callback).await;
    support::assert_rejected(&attempt, 400, &default);
    assert!(attempt.body.contains("issuer_mismatch"), "{}", attempt.body);
    assert_eq!(default.hits().token + partner.hits().token, 0);
}

#[rocket::async_test]
async fn the_application_error_view_is_used() {
    let provider = TestProvider::start().await;
    provider.configure(|b: &mut Behaviour| b.signing = Signing::BadSignature);
    let fairing = OpenIdConnect::fairing().error_view(|error| {
        (
            Status::from_code(error.status_code()).unwrap(),
            Json(json!({"error": error.error_code(), "error_description": error.description()})),
        )
    });
    let rocket = rocket::custom(provider.app_figment())
        .attach(fairing)
        .mount("/", support::two_providers::main_routes());
    let client = Client::tracked(rocket).await.unwrap();
    let attempt = provider.login(&client, "/").await;
    assert_eq!(attempt.status, Status::BadRequest);
    assert!(!attempt.session_created);
    let body: Value = serde_json::from_str(&attempt.body).unwrap();
    assert_eq!(body["error"], "invalid_id_token");
    assert_eq!(body["error_description"], "ID token signature is invalid");
}

fn app_401<'r>(status: Status, req: &'r rocket::Request<'_>) -> rocket::catcher::BoxFuture<'r> {
    rocket_openidconnect::login_catcher(status, req)
}

#[rocket::async_test]
async fn an_application_with_its_own_401_catcher_can_delegate_to_the_login_catcher() {
    let provider = TestProvider::start().await;
    // With the fairing's catcher also at `/`, Rocket refuses to launch (a catcher collision).
    let colliding = rocket::custom(provider.app_figment())
        .attach(OpenIdConnect::fairing())
        .register("/", vec![rocket::Catcher::new(401, app_401)])
        .mount("/", support::two_providers::main_routes());
    let error = Client::untracked(colliding).await.expect_err("collision");
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::Collisions(_)
    ));

    let rocket = rocket::custom(provider.app_figment())
        .attach(OpenIdConnect::fairing().without_catcher())
        .register("/", vec![rocket::Catcher::new(401, app_401)])
        .mount("/", support::two_providers::main_routes());
    let client = Client::tracked(rocket).await.unwrap();
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert!(login.session_created);
}

#[rocket::async_test]
async fn providers_sharing_a_callback_path_must_send_iss() {
    use rocket_openidconnect::testing::IssParameter;
    let default = TestProvider::start().await;
    let partner = TestProvider::start().await;
    for p in [&default, &partner] {
        p.configure(|b| {
            b.iss_parameter = IssParameter::Omit;
            b.advertise_iss_parameter = false;
        });
    }
    // Shared callback path and no `iss`: refused before any token request.
    let client = two_provider_app(&default, &partner).await;
    let attempt = partner.login(&client, "/partner").await;
    support::assert_rejected(&attempt, 400, &partner);
    assert_eq!(partner.hits().token, 0);

    // With its own callback path the partner needs no `iss`, and a response arriving at the
    // other path is refused.
    partner.allow_redirect_uri("http://127.0.0.1:8000/partner_callback");
    let mut table = partner.provider_table();
    table["redirect_path"] = "/partner_callback".into();
    let rocket = rocket::custom(
        default
            .app_figment()
            .merge(("oidc.providers.partner", table)),
    )
    .attach(OpenIdConnect::fairing())
    .mount("/", support::two_providers::routes());
    let client = Client::tracked(rocket).await.unwrap();
    let login = partner.login(&client, "/partner").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);

    let start = client.get("/").header(Accept::HTML).dispatch().await;
    let authorize_url = start.headers().get_one("Location").unwrap().to_owned();
    let callback = default.authorize(&authorize_url).await;
    let moved = callback.replace("/redirect_uri?", "/partner_callback?");
    let attempt = default.deliver(&client, &moved).await;
    support::assert_rejected(&attempt, 400, &default);
}
