//! Tokens for the APIs a session calls, against the real provider (`oidc-provider`): a login
//! whose access token is for a configured resource (RFC 8707), then a token for a second
//! resource by refresh token, cached; token exchange (RFC 8693, a test grant of the provider)
//! for another audience, cached per audience, one call for ten concurrent requests, and the
//! provider's refusal shown as a provider error.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use rocket::figment::Figment;
use rocket::http::{Accept, CookieJar, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_openidconnect::{AuthError, OidcUser, OpenIdConnect, TokenExchangeRequest};
use serde_json::{json, Value};

const CLIENT_ID: &str = "rocket-downstream";
const SECRET: &str = "downstream-secret-7c1e4b9a";
const CALLBACK: &str = "http://127.0.0.1:8000/redirect_uri";

#[get("/")]
fn index(user: OidcUser) -> String {
    user.access_token()
        .map(|t| t.secret().clone())
        .unwrap_or_default()
}

#[get("/resource?<r>")]
async fn resource(mut user: OidcUser, jar: &CookieJar<'_>, r: &str) -> Result<String, AuthError> {
    Ok(user.valid_access_token_for(jar, r).await?.secret().clone())
}

#[get("/exchange?<audience>")]
async fn exchange(user: OidcUser, audience: &str) -> Result<String, AuthError> {
    let request = TokenExchangeRequest::new().audience(audience);
    Ok(user.exchange_token(&request).await?.secret().clone())
}

fn app(figment: Figment) -> rocket::Rocket<rocket::Build> {
    rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![index, resource, exchange])
}

fn figment(issuer: &str, provider: Value) -> Figment {
    let mut table = json!({
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "scope": ["openid", "profile", "offline_access", "api"],
        "auth_request_params": {"prompt": "consent"},
    });
    for (k, v) in provider.as_object().unwrap() {
        table[k] = v.clone();
    }
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.base_url", "http://127.0.0.1:8000"))
        .merge(("oidc.providers.default", table))
}

async fn logged_in(op: &real_op::RealOp, provider: Value) -> Client {
    let client = Client::tracked(app(figment(&op.issuer, provider)))
        .await
        .unwrap();
    {
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        assert_eq!(start.status(), Status::SeeOther);
        let authorize = start.headers().get_one("Location").unwrap().to_owned();
        let browser = support::browser_with_jar().0;
        let callback = real_op::dev_login(&browser, &authorize, "dora", CALLBACK).await;
        let local = callback
            .trim_start_matches("http://127.0.0.1:8000")
            .to_owned();
        let done = client.get(local).header(Accept::HTML).dispatch().await;
        let status = done.status();
        let body = done.into_string().await.unwrap_or_default();
        assert_eq!(status, Status::SeeOther, "{body}\nOP: {}", op.stderr());
    }
    client
}

async fn text(client: &Client, path: &str) -> (Status, String) {
    let response = client
        .get(path.to_owned())
        .header(Accept::JSON)
        .dispatch()
        .await;
    (
        response.status(),
        response.into_string().await.unwrap_or_default(),
    )
}

fn audience_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["aud"].clone()
}

#[rocket::async_test]
async fn a_session_for_one_resource_gets_a_token_for_another_by_refresh() {
    let op = real_op::RealOp::start(CLIENT_ID, SECRET, &[CALLBACK], &[]).await;
    // The token for an API is not for userinfo: none is fetched.
    let provider = json!({
        "resource": ["https://api.example/jwt", "https://api.example/opaque"],
        "userinfo_method": "none",
    });
    let client = logged_in(&op, provider).await;
    let (_, main) = text(&client, "/").await;
    assert_eq!(
        audience_of(&main),
        "https://api.example/jwt",
        "{}",
        op.stderr()
    );
    let (status, other) = text(&client, "/resource?r=https://api.example/opaque").await;
    assert_eq!(status, Status::Ok, "{other}\nOP: {}", op.stderr());
    assert!(
        !other.contains('.'),
        "an opaque token for the second resource: {other}"
    );
    let (_, again) = text(&client, "/resource?r=https://api.example/opaque").await;
    assert_eq!(again, other, "cached");
    assert_eq!(
        op.stderr()
            .matches("OP refresh https://api.example/opaque")
            .count(),
        1
    );
    // The session's own token is unchanged.
    assert_eq!(text(&client, "/").await.1, main);
    // A resource the provider does not know: a provider error, the session goes on.
    let (status, _) = text(&client, "/resource?r=https://unknown.example/").await;
    assert_eq!(status.code, 502);
    assert_eq!(text(&client, "/").await.0, Status::Ok);
    let (status, _) = text(&client, "/resource?r=not-absolute").await;
    assert_eq!(status.code, 500);
}

#[rocket::async_test]
async fn tokens_are_exchanged_once_per_audience_and_a_refusal_is_a_provider_error() {
    let op = real_op::RealOp::start(CLIENT_ID, SECRET, &[CALLBACK], &[]).await;
    let client = logged_in(&op, json!({})).await;
    let (status, orders) = text(&client, "/exchange?audience=orders").await;
    assert_eq!(status, Status::Ok, "{orders}\nOP: {}", op.stderr());
    let (_, main) = text(&client, "/").await;
    assert_ne!(orders, main);
    assert_eq!(text(&client, "/exchange?audience=orders").await.1, orders);
    let calls = (0..10).map(|_| text(&client, "/exchange?audience=billing"));
    let results = rocket::futures::future::join_all(calls).await;
    assert!(results
        .iter()
        .all(|(s, t)| *s == Status::Ok && *t == results[0].1));
    assert_ne!(results[0].1, orders);
    support::eventually(
        "the exchanges at the provider",
        std::time::Duration::from_secs(20),
        || {
            let log = op.stderr();
            (log.matches("OP token_exchange dora billing").count() == 1
                && log.matches("OP token_exchange dora orders").count() == 1)
                .then_some(())
        },
    )
    .await;
    let (status, page) = text(&client, "/exchange?audience=refused").await;
    assert_eq!(status.code, 502, "{page}");
    assert!(!page.contains(SECRET));
}
