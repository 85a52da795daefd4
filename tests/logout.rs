//! Logout: the fairing's route and the `OidcLogout` guard, RP-initiated logout with its state,
//! token revocation.

mod support;

use rocket::http::{Accept, Header, Status};
use rocket_openidconnect::testing::TestProvider;
use serde_json::Value;
use support::{assert_logged_out, client, client_with};

async fn logged_in(provider: &TestProvider, client: &rocket::local::asynchronous::Client) {
    let login = provider.login(client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[rocket::async_test]
async fn logout_goes_through_the_provider_and_comes_back_with_its_state() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let id_token_claims = client
        .get("/")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(id_token_claims.contains("id_token"));

    let start = client.get("/logout").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let set: Vec<String> = start
        .headers()
        .get("Set-Cookie")
        .map(str::to_owned)
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("oidc_session.0=;")),
        "{set:?}"
    );
    assert!(
        set.iter().any(|c| c.starts_with("oidc_session_logout=")),
        "{set:?}"
    );
    let to_provider = start.headers().get_one("Location").unwrap().to_owned();
    assert!(to_provider.starts_with(&format!("{}/end_session?", provider.issuer())));
    assert!(param(&to_provider, "id_token_hint").is_some_and(|t| t.starts_with("eyJ")));
    assert_eq!(
        param(&to_provider, "client_id").as_deref(),
        Some(provider.client_id())
    );
    assert_eq!(
        param(&to_provider, "post_logout_redirect_uri").as_deref(),
        Some("http://127.0.0.1:8000/logout")
    );
    assert_eq!(param(&to_provider, "state").map(|s| s.len()), Some(43));

    let back = provider.authorize(&to_provider).await;
    let done = provider.deliver(&client, &back).await;
    assert_eq!(done.status, Status::Ok, "{}", done.body);
    assert!(done.body.contains("logged out"));
    assert!(done.cookies.iter().any(|c| c == "oidc_session_logout"));
    assert_eq!(provider.hits().end_session, 1);
    assert_logged_out(&client, &provider).await;

    // The same return a second time: no logout is pending any more.
    let replay = provider.deliver(&client, &back).await;
    assert_eq!(replay.status, Status::BadRequest);
}

#[rocket::async_test]
async fn a_wrong_state_on_return_is_an_error_not_a_silent_success() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.logout_state = Some("B".repeat(43)));
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let done = provider.logout(&client, "/logout").await;
    assert_eq!(done.status, Status::BadRequest, "{}", done.body);
    assert!(done.body.contains("invalid_state"), "{}", done.body);
    // Logged out locally all the same.
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn a_state_parameter_alone_never_skips_logging_out() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let forged = format!("/logout?state={}", "C".repeat(43));
    let response = client.get(forged).header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(response
        .headers()
        .get_one("Location")
        .unwrap()
        .contains("/end_session?"));
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn without_an_end_session_endpoint_the_logout_is_local() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.logout_endpoints = false);
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let done = provider.logout(&client, "/logout").await;
    assert_eq!(done.status, Status::Ok, "{}", done.body);
    assert_eq!(provider.hits().end_session, 0);
    assert_logged_out(&client, &provider).await;

    // The application's own route runs its handler at once.
    logged_in(&provider, &client).await;
    let goodbye = provider.logout(&client, "/goodbye").await;
    assert_eq!(goodbye.status, Status::Ok);
    assert_eq!(goodbye.body, "Goodbye! You are logged out.");
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn the_application_logout_route_comes_back_to_itself() {
    let provider = TestProvider::start().await;
    provider.allow_post_logout_redirect_uri("http://127.0.0.1:8000/goodbye");
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let start = client.get("/goodbye").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let to_provider = start.headers().get_one("Location").unwrap().to_owned();
    assert_eq!(
        param(&to_provider, "post_logout_redirect_uri").as_deref(),
        Some("http://127.0.0.1:8000/goodbye")
    );
    let back = provider.authorize(&to_provider).await;
    let done = provider.deliver(&client, &back).await;
    assert_eq!(done.status, Status::Ok);
    assert_eq!(done.body, "Goodbye! You are logged out.");
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn tokens_are_revoked_when_configured() {
    let provider = TestProvider::start().await;
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.revoke_tokens_on_logout", true));
    let client = client_with(figment).await;
    logged_in(&provider, &client).await;
    let page: Value = serde_json::from_str(
        &client
            .get("/")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    )
    .unwrap();
    let access_token = page["access_token"].as_str().unwrap().to_owned();
    let done = provider.logout(&client, "/logout").await;
    assert_eq!(done.status, Status::Ok);
    let revoked = provider.revoked_tokens();
    assert_eq!(revoked.len(), 2, "the refresh and the access token");
    assert_eq!(revoked[1], access_token);
    assert_ne!(revoked[0], access_token);

    // Not configured: nothing is revoked.
    let provider = TestProvider::start().await;
    let plain = support::client(&provider).await;
    logged_in(&provider, &plain).await;
    provider.logout(&plain, "/logout").await;
    assert_eq!(provider.hits().revocation, 0);
}

#[rocket::async_test]
async fn a_failing_revocation_does_not_block_logout() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.revocation_status = 503);
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.revoke_tokens_on_logout", true));
    let client = client_with(figment).await;
    logged_in(&provider, &client).await;
    let done = provider.logout(&client, "/logout").await;
    assert_eq!(done.status, Status::Ok, "{}", done.body);
    assert_eq!(provider.hits().revocation, 2);
    assert!(provider.revoked_tokens().is_empty());
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn only_configured_post_logout_redirect_uris_are_used() {
    let provider = TestProvider::start().await;
    provider.allow_post_logout_redirect_uri("http://127.0.0.1:8000/public");
    let figment = provider.app_figment().merge((
        "oidc.providers.default.post_logout_redirect_uri",
        "http://127.0.0.1:8000/public",
    ));
    let client = client_with(figment).await;
    logged_in(&provider, &client).await;
    let evil = "/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F";
    let response = client.get(evil).header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::BadRequest);
    assert_eq!(provider.hits().end_session, 0);
    // A refused logout request changes nothing: a logout is complete or does not happen.
    assert_eq!(client.get("/").dispatch().await.status(), Status::Ok);

    let response = client.get("/logout").header(Accept::HTML).dispatch().await;
    let to_provider = response.headers().get_one("Location").unwrap().to_owned();
    assert_eq!(
        param(&to_provider, "post_logout_redirect_uri").as_deref(),
        Some("http://127.0.0.1:8000/public")
    );
}

#[rocket::async_test]
async fn a_cross_site_logout_link_asks_first() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let response = client
        .get("/logout")
        .header(Accept::HTML)
        .header(Header::new("Sec-Fetch-Site", "cross-site"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.headers().get_one("X-Frame-Options"), Some("DENY"));
    let page = response.into_string().await.unwrap();
    assert!(
        page.contains("<form method=\"post\" action=\"/logout\">"),
        "{page}"
    );
    // Still logged in.
    assert_eq!(client.get("/").dispatch().await.status(), Status::Ok);
    // The confirmation (a same-origin POST) logs out.
    let confirmed = client
        .post("/logout")
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(confirmed.status(), Status::SeeOther);
    assert_logged_out(&client, &provider).await;
}

#[rocket::async_test]
async fn every_cookie_of_the_library_is_removed_and_post_logout_path_is_used() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.logout_endpoints = false);
    let figment = provider
        .app_figment()
        .merge(("oidc.post_logout_path", "/public"));
    let client = client_with(figment).await;
    // A login left pending in another tab, then a login.
    client.get("/?tab=2").header(Accept::HTML).dispatch().await;
    logged_in(&provider, &client).await;
    let names: Vec<String> = client
        .cookies()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("oidc_session_login.")),
        "{names:?}"
    );

    let response = client.get("/logout").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/public"));
    let left: Vec<String> = client
        .cookies()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert!(
        left.iter().all(|n| !n.starts_with("oidc_session")),
        "{left:?}"
    );
}

#[rocket::async_test]
async fn a_foreign_site_cannot_log_out_with_odd_parameters_either() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    for (site, query) in [
        ("cross-site", "/logout?state=a&state=b"),
        ("same-site", "/logout"),
        ("cross-site", "/goodbye?post_logout_redirect_uri=x"),
    ] {
        let response = client
            .get(query)
            .header(Accept::HTML)
            .header(Header::new("Sec-Fetch-Site", site))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok, "{site} {query}");
        let page = response.into_string().await.unwrap();
        assert!(page.contains("action=\"/logout\""), "{page}");
        assert_eq!(client.get("/").dispatch().await.status(), Status::Ok);
    }
}
