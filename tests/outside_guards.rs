//! What an application does beside the guards: the request's session read and ended outside
//! them (`CurrentSession`, with every session store), a provider handle making the
//! application's own authenticated calls (`ProviderHandle`), and client-credentials tokens
//! asked for with an audience, resources and other parameters (`ClientCredentialsRequest`),
//! cached per request; a resource indicator honoured by the real provider.

#[path = "support/real_op.rs"]
mod real_op;
mod support;

use rocket::figment::Figment;
use rocket::http::{Accept, ContentType, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::Json;
use rocket::{get, post, routes};
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::{
    AuthError, ClientCredentialsGrant, ClientCredentialsRequest, CurrentSession, OidcUser,
    OpenIdConnect, ProviderError, ProviderHandle,
};
use serde_json::{json, Value};
use support::redis::Redis;

#[get("/")]
fn index(user: OidcUser) -> Json<Value> {
    Json(json!({ "sub": user.claims().subject() }))
}

/// The session, looked at without a login.
#[get("/peek")]
async fn peek(current: CurrentSession<'_>) -> Json<Value> {
    let session = current.get().await.expect("the store answers");
    Json(json!({ "sub": session.map(|s| s.claims().subject().to_owned()) }))
}

/// The session, ended here (an account deletion, say).
#[post("/end")]
async fn end(current: CurrentSession<'_>) -> Json<Value> {
    Json(json!({ "ended": current.end().await.expect("the store answers") }))
}

/// The provider's introspection endpoint, called by the application itself.
#[post("/introspect", data = "<token>")]
async fn introspect(provider: ProviderHandle, token: String) -> Json<Value> {
    let endpoint = provider
        .metadata()
        .await
        .unwrap()
        .introspection_endpoint
        .unwrap();
    let answer = provider
        .post_form(&endpoint, &[("token", &token)])
        .await
        .unwrap();
    Json(json!({ "status": answer.status, "body": answer.json().unwrap() }))
}

/// A client-authenticated call to somewhere else: refused before anything is sent.
#[get("/elsewhere")]
async fn elsewhere(provider: ProviderHandle) -> String {
    match provider.post_form("https://127.0.0.1:9/steal", &[]).await {
        Err(ProviderError::ForeignEndpoint(_)) => "refused".into(),
        other => format!("{other:?}"),
    }
}

/// A client-credentials token for the request in the query.
#[get("/app-token?<scope>&<resource>&<audience>")]
async fn app_token(
    grant: ClientCredentialsGrant,
    scope: Option<&str>,
    resource: Vec<String>,
    audience: Option<&str>,
) -> Result<String, AuthError> {
    let mut request = ClientCredentialsRequest::new().scope(scope.unwrap_or_default());
    for r in &resource {
        request = request.resource(r);
    }
    if let Some(audience) = audience {
        request = request.audience(audience);
    }
    Ok(grant.token_for(&request).await?.secret().clone())
}

fn app(figment: Figment) -> rocket::Rocket<rocket::Build> {
    rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount(
            "/",
            routes![index, peek, end, introspect, elsewhere, app_token],
        )
}

async fn json(client: &Client, path: &str) -> Value {
    let response = client
        .get(path.to_owned())
        .header(Accept::JSON)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok, "{path}");
    serde_json::from_str(&response.into_string().await.unwrap()).unwrap()
}

/// Read, end, and a copy of the ended session's cookies, with the store `figment` says.
async fn read_and_end_outside_the_guards(provider: &TestProvider, figment: Figment, shared: bool) {
    let client = Client::tracked(app(figment)).await.unwrap();
    // No session: nothing, and no login started.
    let page = client.get("/peek").header(Accept::HTML).dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    assert!(page.headers().get_one("Set-Cookie").is_none());
    assert_eq!(json(&client, "/peek").await["sub"], Value::Null);
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let page = client.get("/peek").dispatch().await;
    assert!(
        page.headers().get_one("Set-Cookie").is_none(),
        "nothing written"
    );
    assert_eq!(json(&client, "/peek").await["sub"], "alice");
    let copy: Vec<_> = client.cookies().iter().cloned().collect();
    let before = provider.hits();
    let ended = client.post("/end").dispatch().await;
    assert_eq!(ended.status(), Status::Ok);
    let body: Value = serde_json::from_str(&ended.into_string().await.unwrap()).unwrap();
    assert_eq!(body["ended"], true);
    assert_eq!(json(&client, "/peek").await["sub"], Value::Null);
    let again = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(again.status(), Status::SeeOther, "a new login");
    // The provider was not asked (a local end), and a copy of the cookies is no session.
    let after = provider.hits();
    assert_eq!(
        (after.end_session, after.revocation),
        (before.end_session, before.revocation)
    );
    // To this instance; with Redis, to another instance too (in memory, an end is known to
    // the instance that made it).
    let other = Client::tracked(app(client.rocket().figment().clone()))
        .await
        .unwrap();
    let instances = if shared {
        vec![&client, &other]
    } else {
        vec![&client]
    };
    for instance in instances {
        let mut request = instance.get("/peek").header(Accept::JSON);
        for cookie in copy.clone() {
            request = request.cookie(cookie);
        }
        let body = request.dispatch().await.into_string().await.unwrap();
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["sub"], Value::Null, "the copy of an ended session");
    }
    let ended_twice = client.post("/end").dispatch().await;
    let body: Value = serde_json::from_str(&ended_twice.into_string().await.unwrap()).unwrap();
    assert_eq!(body["ended"], false);
}

#[rocket::async_test]
async fn the_session_is_read_and_ended_outside_the_guards_with_every_store() {
    let provider = TestProvider::start().await;
    provider.set_user("alice", json!({}));
    let secret =
        "GIlLiBWeDA0JCRqy4gbyD+4fjB5Eq9ajakg69W7Op5/2/vFVwVadLP/2h4L3CNxAHNqv1Qs6+QL2lWQakz/jQw==";
    let base = provider.app_figment().merge(("secret_key", secret));
    read_and_end_outside_the_guards(&provider, base.clone(), false).await;
    let memory = base.clone().merge(("oidc.session_store", "memory"));
    read_and_end_outside_the_guards(&provider, memory, false).await;
    let redis = Redis::start(support::free_port()).await;
    let shared = base
        .merge(("oidc.session_store", "redis"))
        .merge(("oidc.redis_url", redis.url()));
    read_and_end_outside_the_guards(&provider, shared, true).await;
}

#[rocket::async_test]
async fn a_provider_handle_calls_the_provider_as_the_client_and_nowhere_else() {
    let provider = TestProvider::start().await;
    let client = Client::tracked(app(provider.app_figment())).await.unwrap();
    let token = provider.issue_access_token("svc", "api");
    let before = provider.hits().introspection;
    let answer = client
        .post("/introspect")
        .header(ContentType::Text)
        .body(token)
        .dispatch()
        .await;
    let answer: Value = serde_json::from_str(&answer.into_string().await.unwrap()).unwrap();
    // The provider authenticated the client (else: 401 invalid_client).
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"]["active"], true);
    assert_eq!(answer["body"]["sub"], "svc");
    assert_eq!(provider.hits().introspection, before + 1);
    let refused = client.get("/elsewhere").dispatch().await;
    assert_eq!(refused.into_string().await.unwrap(), "refused");
}

#[rocket::async_test]
async fn client_credentials_tokens_are_cached_per_request_and_asked_for_once() {
    let provider = TestProvider::start().await;
    let client = Client::tracked(app(provider.app_figment())).await.unwrap();
    let token = |path: &'static str| {
        let client = &client;
        async move {
            let response = client.get(path).dispatch().await;
            assert_eq!(response.status(), Status::Ok, "{path}");
            response.into_string().await.unwrap()
        }
    };
    let start = provider.hits().token;
    let a = token("/app-token?scope=a%20b&resource=https://r1.example").await;
    let same = token("/app-token?scope=b%20a&resource=https://r1.example").await;
    assert_eq!(a, same, "the same request: the cached token");
    let other = token("/app-token?scope=a%20b&resource=https://r2.example").await;
    assert_ne!(a, other);
    let both =
        token("/app-token?scope=a%20b&resource=https://r2.example&resource=https://r1.example")
            .await;
    let both_again =
        token("/app-token?scope=a%20b&resource=https://r1.example&resource=https://r2.example")
            .await;
    assert_eq!(both, both_again);
    let audience = token("/app-token?scope=a%20b&audience=reports").await;
    assert_ne!(audience, a);
    assert_eq!(provider.hits().token - start, 4);
    // Ten at once for a new request: one call.
    let before = provider.hits().token;
    let tokens = futures_join(&client, "/app-token?scope=c&resource=https://r3.example").await;
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(provider.hits().token - before, 1);
    // A request that cannot be sent: 500, and nothing sent.
    let before = provider.hits().token;
    let bad = client.get("/app-token?resource=relative").dispatch().await;
    assert_eq!(bad.status(), Status::InternalServerError);
    assert_eq!(provider.hits().token, before);
}

async fn futures_join(client: &Client, path: &'static str) -> Vec<String> {
    let calls = (0..10).map(|_| async move {
        client
            .get(path)
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap()
    });
    let mut results = Vec::new();
    let handles: Vec<_> = calls.collect();
    for result in rocket::futures::future::join_all(handles).await {
        results.push(result);
    }
    results
}

#[rocket::async_test]
async fn the_real_provider_issues_a_token_for_the_resource_asked_for() {
    const CLIENT_ID: &str = "rocket-resource";
    const SECRET: &str = "resource-secret-4f2a9c7e";
    let op = real_op::RealOp::start(
        CLIENT_ID,
        SECRET,
        &["http://127.0.0.1:8000/redirect_uri"],
        &[],
    )
    .await;
    let figment = Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc.base_url", "http://127.0.0.1:8000"))
        .merge((
            "oidc.providers.default",
            json!({"issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": SECRET}),
        ));
    let client = Client::tracked(app(figment)).await.unwrap();
    let response = client
        .get("/app-token?scope=api&resource=https://api.example/jwt")
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok, "OP: {}", op.stderr());
    let jwt = response.into_string().await.unwrap();
    let payload = jwt.split('.').nth(1).expect("a JWT access token");
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "https://api.example/jwt", "{claims}");
    assert_eq!(claims["client_id"], CLIENT_ID);
}
