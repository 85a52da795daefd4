//! Launch-time checks: a guard without the fairing, an unknown provider, bad configuration.

use rocket::figment::Figment;
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_openidconnect::{provider, OidcUser, OpenIdConnect};

provider!(Elsewhere = "elsewhere");

#[get("/")]
fn index(user: OidcUser) -> String {
    user.claims().subject().to_owned()
}

#[get("/optional")]
fn optional(user: Option<OidcUser<Elsewhere>>) -> &'static str {
    if user.is_some() {
        "in"
    } else {
        "out"
    }
}

fn figment() -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.providers.default.issuer", "https://op.example"))
        .merge(("oidc.providers.default.client_id", "app"))
        .merge(("oidc.providers.default.client_secret", "secret"))
}

fn is_sentinel_abort(error: &rocket::Error) -> bool {
    matches!(error.kind(), rocket::error::ErrorKind::SentinelAborts(_))
}

#[rocket::async_test]
async fn a_guard_without_the_fairing_aborts_launch() {
    let rocket = rocket::custom(figment()).mount("/", routes![index]);
    let error = Client::untracked(rocket)
        .await
        .expect_err("must not launch");
    assert!(is_sentinel_abort(&error), "{error:?}");
}

#[rocket::async_test]
async fn a_guard_for_an_unconfigured_provider_aborts_launch() {
    let rocket = rocket::custom(figment())
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![optional]);
    let error = Client::untracked(rocket)
        .await
        .expect_err("must not launch");
    assert!(is_sentinel_abort(&error), "{error:?}");
}

#[rocket::async_test]
async fn bad_configuration_aborts_launch() {
    let figment = figment().merge(("oidc.providers.default.userinfo_method", "sometimes"));
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![index]);
    let error = Client::untracked(rocket)
        .await
        .expect_err("must not launch");
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)),
        "{error:?}"
    );
}

#[rocket::async_test]
async fn good_configuration_launches_and_mounts_the_routes() {
    let rocket = rocket::custom(figment())
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![index]);
    let client = Client::untracked(rocket).await.expect("launches");
    let paths: Vec<String> = client
        .rocket()
        .routes()
        .map(|r| r.uri.path().to_string())
        .collect();
    assert!(paths.contains(&"/redirect_uri".to_string()), "{paths:?}");
    assert!(paths.contains(&"/logout".to_string()), "{paths:?}");
    let methods: Vec<String> = client
        .rocket()
        .routes()
        .filter(|r| r.uri.path() == "/redirect_uri")
        .map(|r| r.method.to_string())
        .collect();
    assert!(methods.contains(&"GET".into()) && methods.contains(&"POST".into()));
}
