//! Logins a third party starts (OpenID Connect Core 4), through the login route: a portal
//! (an identity provider's app launcher) sends the browser to `login_path` with `iss`, and
//! perhaps `login_hint` and `target_link_uri`. The provider is the one with that issuer; the
//! browser lands on the target, which must be a URL of this application; anything else is
//! refused (400, the error view, no redirect to anyone).

mod support;

use rocket::http::{Accept, ContentType, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::OpenIdConnect;
use serde_json::{json, Value};

/// An app with two providers and the login route at `/login`.
async fn app(default: &TestProvider, partner: &TestProvider) -> Client {
    let figment = default
        .app_figment()
        .merge(("oidc.login_path", "/login"))
        .merge(("oidc.providers.partner", partner.provider_table()));
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", support::two_providers::routes());
    Client::tracked(rocket).await.unwrap()
}

fn encoded(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[rocket::async_test]
async fn a_third_party_starts_a_login_by_issuer_and_the_browser_lands_on_the_target() {
    let (default, partner) = (TestProvider::start().await, TestProvider::start().await);
    let client = app(&default, &partner).await;
    partner.set_user("bob", json!({}));
    let query = encoded(&[
        ("iss", partner.issuer()),
        ("login_hint", "bob@partner.example"),
        ("target_link_uri", "http://127.0.0.1:8000/partner?tab=2"),
    ]);
    let login = partner.login(&client, &format!("/login?{query}")).await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(login.location.as_deref(), Some("/partner?tab=2"));
    let sent = partner.last_authorization_request();
    let hint = sent.iter().find(|(k, _)| k == "login_hint");
    assert_eq!(hint.map(|(_, v)| v.as_str()), Some("bob@partner.example"));
    let page = client.get("/partner").dispatch().await;
    assert_eq!(page.into_string().await.as_deref(), Some("partner:bob"));

    // A form POST does the same; without a target the browser lands on `/`.
    let other = app(&default, &partner).await;
    default.set_user("carol", json!({}));
    let start = other
        .post("/login")
        .header(ContentType::Form)
        .body(encoded(&[("iss", default.issuer())]))
        .dispatch()
        .await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    assert!(authorize.starts_with(default.issuer()), "{authorize}");
    let callback = default.authorize(&authorize).await;
    let done = default.deliver(&other, &callback).await;
    assert_eq!(done.location.as_deref(), Some("/"));
    let page = other.get("/").dispatch().await;
    assert_eq!(page.into_string().await.as_deref(), Some("default:carol"));
}

#[rocket::async_test]
async fn what_a_third_party_may_not_ask_for_is_refused() {
    let (default, partner) = (TestProvider::start().await, TestProvider::start().await);
    let client = app(&default, &partner).await;
    let iss = partner.issuer();
    let rows: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("iss", "https://unknown.example")],
            "is not the issuer of a configured provider",
        ),
        (
            vec![
                ("iss", iss),
                ("target_link_uri", "https://evil.example/partner"),
            ],
            "target_link_uri is not a URL of this application",
        ),
        (
            vec![
                ("iss", iss),
                ("target_link_uri", "http://127.0.0.1:8000//evil.example/x"),
            ],
            "target_link_uri is not a URL of this application",
        ),
        (
            vec![("iss", iss), ("target_link_uri", "/partner")],
            "target_link_uri is not a URL of this application",
        ),
        (
            vec![
                ("iss", iss),
                ("target_link_uri", "http://127.0.0.1:8001/partner"),
            ],
            "target_link_uri is not a URL of this application",
        ),
        (
            vec![
                ("iss", iss),
                ("target_link_uri", "https://127.0.0.1:8000/partner"),
            ],
            "target_link_uri is not a URL of this application",
        ),
        (
            vec![
                ("iss", iss),
                (
                    "target_link_uri",
                    "http://evil.example@127.0.0.1.evil.example:8000/",
                ),
            ],
            "target_link_uri is not a URL of this application",
        ),
        (
            vec![
                ("iss", iss),
                (
                    "target_link_uri",
                    "http://127.0.0.1:8000/%2f%2fevil.example/",
                ),
            ],
            "target_link_uri is not a URL of this application",
        ),
        (
            vec![
                ("iss", iss),
                ("target_link_uri", "http://127.0.0.1:8000/\\evil.example/"),
            ],
            "target_link_uri is not a URL of this application",
        ),
        (
            vec![("target_link_uri", "http://127.0.0.1:8000/partner")],
            "target_link_uri comes with iss",
        ),
        (
            vec![
                ("iss", iss),
                ("return_to", "/partner"),
                ("target_link_uri", "http://127.0.0.1:8000/partner"),
            ],
            "target_link_uri comes with iss",
        ),
        (
            vec![("iss", iss), ("provider", "default")],
            "`provider` does not have the issuer `iss` names",
        ),
        (
            vec![("iss", iss), ("prompt", "none")],
            "the parameter `prompt` is not in login_params",
        ),
        // Outside a third party's login, login_hint still needs login_params.
        (
            vec![("provider", "partner"), ("login_hint", "x")],
            "the parameter `login_hint` is not in login_params",
        ),
    ];
    for (params, because) in rows {
        let response = client
            .get(format!("/login?{}", encoded(&params)))
            .header(Accept::HTML)
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::BadRequest, "{params:?}");
        assert!(
            response.headers().get_one("Location").is_none(),
            "{params:?}"
        );
        let body = response.into_string().await.unwrap_or_default();
        assert!(body.contains(because), "{params:?}: {body}");
    }
    assert_eq!(default.hits().authorize + partner.hits().authorize, 0);
}

#[rocket::async_test]
async fn two_clients_of_one_issuer_are_told_apart_by_provider() {
    let provider = TestProvider::start().await;
    let mut second = provider.provider_table();
    second["client_id"] = Value::from("second-client");
    second["client_secret"] = Value::from("second-secret");
    let figment = provider
        .app_figment()
        .merge(("oidc.login_path", "/login"))
        .merge(("oidc.providers.partner", second));
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", support::two_providers::routes());
    let client = Client::tracked(rocket).await.unwrap();
    let iss = provider.issuer();
    let ambiguous = client
        .get(format!("/login?{}", encoded(&[("iss", iss)])))
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(ambiguous.status(), Status::BadRequest);
    let body = ambiguous.into_string().await.unwrap_or_default();
    assert!(body.contains("several providers have the issuer"), "{body}");
    let named = client
        .get(format!(
            "/login?{}",
            encoded(&[("iss", iss), ("provider", "partner")])
        ))
        .dispatch()
        .await;
    assert_eq!(named.status(), Status::SeeOther);
    let location = named.headers().get_one("Location").unwrap();
    assert!(location.contains("client_id=second-client"), "{location}");
}

#[rocket::async_test]
async fn registration_names_the_login_route_for_an_https_application() {
    let provider = TestProvider::start().await;
    provider.allow_redirect_uri("https://app.example/redirect_uri");
    let table = json!({
        "issuer": provider.issuer(),
        "scope": ["openid"],
        "registration": { "client_name": "third party test" },
    });
    for (base_url, expected) in [
        ("https://app.example", Some("https://app.example/login")),
        ("http://127.0.0.1:8000", None),
    ] {
        let figment = provider
            .app_figment()
            .merge(("oidc.base_url", base_url))
            .merge(("oidc.login_path", "/login"))
            .merge(("oidc.providers.default", Value::Null))
            .merge(("oidc.providers.default", table.clone()));
        let client = support::client_with(figment).await;
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        assert_eq!(start.status(), Status::SeeOther, "{base_url}");
        let sent = provider.last_registration().expect("a registration");
        assert_eq!(sent["initiate_login_uri"].as_str(), expected, "{sent}");
    }
}

/// Under a `base_url` with a path, a target must be under that path; the browser lands on it
/// (the path kept as the application's routes see it, behind the prefix).
#[rocket::async_test]
async fn a_target_must_be_under_the_path_of_base_url() {
    let (default, partner) = (TestProvider::start().await, TestProvider::start().await);
    default.allow_redirect_uri("http://127.0.0.1:8000/app/redirect_uri");
    let figment = default
        .app_figment()
        .merge(("oidc.base_url", "http://127.0.0.1:8000/app"))
        .merge(("oidc.login_path", "/login"))
        .merge(("oidc.providers.partner", partner.provider_table()));
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", support::two_providers::routes());
    let client = Client::tracked(rocket).await.unwrap();
    let iss = default.issuer();
    for outside in [
        "http://127.0.0.1:8000/partner",
        "http://127.0.0.1:8000/appx/partner",
        "http://127.0.0.1:8000/",
    ] {
        let query = encoded(&[("iss", iss), ("target_link_uri", outside)]);
        let response = client.get(format!("/login?{query}")).dispatch().await;
        assert_eq!(response.status(), Status::BadRequest, "{outside}");
    }
    let query = encoded(&[
        ("iss", iss),
        ("target_link_uri", "http://127.0.0.1:8000/app/partner?x=1"),
    ]);
    let start = client.get(format!("/login?{query}")).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    let callback = default.authorize(&authorize).await;
    let callback = callback.replacen("/app/redirect_uri", "/redirect_uri", 1);
    let done = default.deliver(&client, &callback).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/app/partner?x=1"),
        "{}",
        done.body
    );
}

#[rocket::async_test]
async fn a_login_post_must_be_a_form() {
    let (default, partner) = (TestProvider::start().await, TestProvider::start().await);
    let client = app(&default, &partner).await;
    let response = client
        .post("/login")
        .header(ContentType::JSON)
        .body(json!({ "iss": default.issuer() }).to_string())
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
    let body = response.into_string().await.unwrap_or_default();
    assert!(
        body.contains("not application/x-www-form-urlencoded"),
        "{body}"
    );
}
