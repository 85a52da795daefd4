//! Authorization in the type system: the example app's `/admin` (a claim requirement) and
//! `/stepup` (an `acr` requirement: a step-up login), roles, typed claims and RFC 9470
//! challenges, against the in-process provider.

mod support;

use std::sync::Arc;

use rocket::figment::Figment;
use rocket::form::Form;
use rocket::http::ContentType;
use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Json, Value};
use rocket::{get, post, routes, FromForm};
use rocket_openidconnect::testing::TestProvider;
use rocket_openidconnect::{
    literal, AllOf, AnyOf, Authorized, BearerError, BearerToken, ClaimContains, ClaimsError,
    HasRole, MaxAge, OidcUser, OpenIdConnect,
};
use serde::Deserialize;
use serde_json::Map;
use support::{client, json_page, unix_now, until_unix};

const MFA: &str = "urn:example:acr:mfa";

/// The provider's next ID tokens carry these claims on top of their own.
fn id_token_claims(provider: &TestProvider, extra: Value) {
    provider.configure(move |b| {
        let extra = extra.clone();
        b.id_token_claims = Some(Arc::new(move |claims: &mut Map<String, Value>| {
            for (name, value) in extra.as_object().unwrap() {
                claims.insert(name.clone(), value.clone());
            }
        }));
    });
}

async fn logged_in(provider: &TestProvider, client: &Client) {
    let login = provider.login(client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
}

#[rocket::async_test]
async fn admin_is_for_users_in_the_admins_group() {
    let provider = TestProvider::start().await;
    provider.set_user(
        "ann",
        json!({"groups": ["users", "admins"], "email": "ann@example.com"}),
    );
    let client = client(&provider).await;
    // No session: the usual login for a navigation, 401 for an API request.
    let navigation = client.get("/admin").header(Accept::HTML).dispatch().await;
    assert_eq!(navigation.status(), Status::SeeOther);
    let api = client.get("/admin").header(Accept::JSON).dispatch().await;
    assert_eq!(api.status(), Status::Unauthorized);
    logged_in(&provider, &client).await;
    let (status, claims) = json_page(&client, "/admin", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(claims["sub"], "ann");
    assert_eq!(claims["groups"], json!(["users", "admins"]));
}

#[rocket::async_test]
async fn admin_refuses_another_user_with_403_and_the_error_view() {
    let provider = TestProvider::start().await;
    provider.set_user("bob", json!({"groups": ["users"]}));
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    for accept in [Accept::HTML, Accept::JSON] {
        let page = client.get("/admin").header(accept).dispatch().await;
        assert_eq!(page.status(), Status::Forbidden);
        assert!(page.headers().get_one("Location").is_none(), "no redirect");
        let body = page.into_string().await.unwrap_or_default();
        assert!(body.contains("forbidden"), "{body}");
    }
    // The session is untouched.
    assert_eq!(json_page(&client, "/", Accept::JSON).await.0, Status::Ok);
}

#[rocket::async_test]
async fn the_groups_claim_may_come_from_userinfo() {
    let provider = TestProvider::start().await;
    // Only in userinfo (the test provider puts the user's claims in both: drop it from the ID
    // token).
    provider.set_user("carol", json!({"groups": ["admins"]}));
    provider.configure(|b| {
        b.id_token_claims = Some(Arc::new(|claims: &mut Map<String, Value>| {
            claims.remove("groups");
        }))
    });
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let (_, page) = json_page(&client, "/", Accept::JSON).await;
    assert!(page["id_token"].get("groups").is_none());
    assert_eq!(
        json_page(&client, "/admin", Accept::JSON).await.0,
        Status::Ok
    );
}

/// Starts a step-up at `path`: the navigation goes to the provider; returns the authorization
/// URL.
async fn step_up_redirect(client: &Client, path: &str) -> String {
    let navigation = client.get(path).header(Accept::HTML).dispatch().await;
    assert_eq!(navigation.status(), Status::SeeOther);
    navigation.headers().get_one("Location").unwrap().to_owned()
}

fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[rocket::async_test]
async fn stepup_sends_the_user_to_the_provider_again_and_back() {
    let provider = TestProvider::start().await;
    id_token_claims(&provider, json!({"acr": "urn:example:acr:pwd"}));
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let authorize = step_up_redirect(&client, "/stepup").await;
    assert_eq!(param(&authorize, "acr_values").as_deref(), Some(MFA));
    assert_eq!(param(&authorize, "prompt").as_deref(), Some("login"));
    assert!(
        param(&authorize, "id_token_hint").is_some(),
        "the session's ID token as hint"
    );
    // The provider authenticates the user with a second factor.
    id_token_claims(&provider, json!({"acr": MFA}));
    let done = provider
        .deliver(&client, &provider.authorize(&authorize).await)
        .await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/stepup"));
    let (status, page) = json_page(&client, "/stepup", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page["acr"], MFA);
}

#[rocket::async_test]
async fn a_provider_answering_a_step_up_with_less_gets_403_not_another_redirect() {
    let provider = TestProvider::start().await;
    id_token_claims(&provider, json!({"acr": "urn:example:acr:pwd"}));
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let (_, before) = json_page(&client, "/", Accept::JSON).await;
    let authorize = step_up_redirect(&client, "/stepup").await;
    // Still only a password.
    let done = provider
        .deliver(&client, &provider.authorize(&authorize).await)
        .await;
    assert_eq!(done.status, Status::Forbidden, "{}", done.body);
    assert!(done.location.is_none(), "no redirect");
    assert!(
        done.body.contains("insufficient_user_authentication"),
        "{}",
        done.body
    );
    assert!(!done.session_created, "the session was replaced");
    // The earlier session stays as it was.
    let (status, after) = json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(after["access_token"], before["access_token"]);
}

#[rocket::async_test]
async fn a_step_up_answered_for_another_user_is_refused() {
    let provider = TestProvider::start().await;
    provider.set_user("dave", json!({}));
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let authorize = step_up_redirect(&client, "/stepup").await;
    provider.set_user("mallory", json!({}));
    id_token_claims(&provider, json!({"acr": MFA}));
    let done = provider
        .deliver(&client, &provider.authorize(&authorize).await)
        .await;
    assert_eq!(done.status, Status::Forbidden, "{}", done.body);
    let (_, page) = json_page(&client, "/", Accept::JSON).await;
    assert_eq!(page["id_token"]["sub"], "dave");
}

#[rocket::async_test]
async fn an_api_request_needing_a_step_up_gets_an_rfc_9470_challenge() {
    let provider = TestProvider::start().await;
    let client = client(&provider).await;
    logged_in(&provider, &client).await;
    let api = client.get("/stepup").header(Accept::JSON).dispatch().await;
    assert_eq!(api.status(), Status::Unauthorized);
    let challenge = api
        .headers()
        .get_one("WWW-Authenticate")
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("acr_values=\"{MFA}\"")),
        "{challenge}"
    );
}

// -- An application of its own: roles, an age requirement, typed claims, bearer tokens. ----

literal!(Editor = "editor");
literal!(Groups = "groups");
literal!(Admins = "admins");
literal!(Realm = "realm_access.roles");

#[get("/editor")]
fn editor(user: Authorized<HasRole<Editor>>) -> Json<Vec<String>> {
    Json(user.roles().iter().map(|r| (*r).to_owned()).collect())
}

#[get("/recent")]
fn recent(_user: Authorized<MaxAge<300>>) -> &'static str {
    "recent enough"
}

type AdminGroup = ClaimContains<Groups, Admins>;
type EditorRole = ClaimContains<Realm, Editor>;

#[get("/either")]
fn either(_user: Authorized<AnyOf<(AdminGroup, EditorRole)>>) -> &'static str {
    "one of them"
}

#[get("/both")]
fn both(_user: Authorized<AllOf<(AdminGroup, EditorRole)>>) -> &'static str {
    "both"
}

#[derive(Deserialize)]
struct Profile {
    sub: String,
    level: u32,
}

#[get("/profile")]
fn profile(user: OidcUser) -> Result<Json<Value>, String> {
    match user.claims_as::<Profile>() {
        Ok(profile) => Ok(Json(json!({"sub": profile.sub, "level": profile.level}))),
        Err(ClaimsError { claim, reason, .. }) => Err(format!("{claim}: {reason}")),
    }
}

#[get("/payments")]
fn payments(token: BearerToken) -> Result<&'static str, BearerError> {
    token.require_authentication(Some(MFA), None)?;
    Ok("paid")
}

#[derive(FromForm)]
struct Note {
    text: String,
}

#[post("/notes", data = "<note>")]
fn notes(_user: OidcUser, note: Form<Note>) -> String {
    format!("saved {}", note.text)
}

async fn own_app(provider: &TestProvider, extra: &[(&str, Value)]) -> Client {
    let mut figment: Figment = provider.app_figment();
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    let rocket = rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount(
            "/",
            routes![editor, recent, either, both, profile, payments, notes],
        );
    Client::tracked(rocket).await.expect("the app")
}

#[rocket::async_test]
async fn roles_come_from_the_configured_claim() {
    let provider = TestProvider::start().await;
    provider.set_user(
        "erin",
        json!({"realm_access": {"roles": ["editor", "viewer"]}}),
    );
    let client = own_app(
        &provider,
        &[(
            "oidc.providers.default.roles_claim",
            "realm_access.roles".into(),
        )],
    )
    .await;
    let login = provider.login(&client, "/editor").await;
    assert_eq!(login.status, Status::SeeOther);
    let (status, roles) = json_page(&client, "/editor", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(roles, json!(["editor", "viewer"]));
    assert_eq!(
        json_page(&client, "/either", Accept::JSON).await.0,
        Status::Ok
    );
    assert_eq!(
        json_page(&client, "/both", Accept::JSON).await.0,
        Status::Forbidden,
        "not in the admins group"
    );
}

#[rocket::async_test]
async fn without_the_role_or_a_roles_claim_the_user_is_refused() {
    let provider = TestProvider::start().await;
    provider.set_user("frank", json!({"realm_access": {"roles": ["viewer"]}}));
    let client = own_app(
        &provider,
        &[(
            "oidc.providers.default.roles_claim",
            "realm_access.roles".into(),
        )],
    )
    .await;
    assert_eq!(
        provider.login(&client, "/editor").await.status,
        Status::SeeOther
    );
    assert_eq!(
        json_page(&client, "/editor", Accept::JSON).await.0,
        Status::Forbidden
    );
    // No roles_claim configured: no roles at all.
    let provider = TestProvider::start().await;
    provider.set_user("gina", json!({"realm_access": {"roles": ["editor"]}}));
    let client = own_app(&provider, &[]).await;
    assert_eq!(
        provider.login(&client, "/editor").await.status,
        Status::SeeOther
    );
    assert_eq!(
        json_page(&client, "/editor", Accept::JSON).await.0,
        Status::Forbidden
    );
}

#[rocket::async_test]
async fn an_old_authentication_steps_up_with_max_age_and_prompt_login() {
    let provider = TestProvider::start().await;
    let long_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3_600;
    // The user authenticated an hour ago (a single sign-on session at the provider).
    id_token_claims(&provider, json!({"auth_time": long_ago}));
    let client = own_app(&provider, &[]).await;
    assert_eq!(
        provider.login(&client, "/recent").await.status,
        Status::SeeOther
    );
    let authorize = step_up_redirect(&client, "/recent").await;
    assert_eq!(param(&authorize, "max_age").as_deref(), Some("300"));
    assert_eq!(param(&authorize, "prompt").as_deref(), Some("login"));
    // Authenticated again now: the provider's own auth_time.
    provider.configure(|b| b.id_token_claims = None);
    let done = provider
        .deliver(&client, &provider.authorize(&authorize).await)
        .await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert_eq!(
        json_page(&client, "/recent", Accept::JSON).await.0,
        Status::Ok
    );
}

#[rocket::async_test]
async fn claims_fit_the_applications_own_type_or_the_error_names_the_claim() {
    let provider = TestProvider::start().await;
    provider.set_user("hana", json!({"level": 3}));
    let client = own_app(&provider, &[]).await;
    assert_eq!(
        provider.login(&client, "/profile").await.status,
        Status::SeeOther
    );
    let (status, page) = json_page(&client, "/profile", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(page, json!({"sub": "hana", "level": 3}));
    let provider = TestProvider::start().await;
    provider.set_user("ivan", json!({"level": "high"}));
    let client = own_app(&provider, &[]).await;
    assert_eq!(
        provider.login(&client, "/profile").await.status,
        Status::SeeOther
    );
    let page = client.get("/profile").dispatch().await;
    let body = page.into_string().await.unwrap_or_default();
    assert!(body.starts_with("level: invalid type"), "{body}");
}

#[rocket::async_test]
async fn a_bearer_token_without_the_required_acr_gets_an_rfc_9470_challenge() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.jwt_access_tokens = true);
    let client = own_app(&provider, &[]).await;
    let call = |token: String| {
        client
            .get("/payments")
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
    };
    let weak = call(provider.issue_access_token("jo", "api")).await;
    assert_eq!(weak.status(), Status::Unauthorized);
    let challenge = weak
        .headers()
        .get_one("WWW-Authenticate")
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("acr_values=\"{MFA}\"")),
        "{challenge}"
    );
    provider.configure(|b| {
        b.access_token_claims = Some(Arc::new(|claims: &mut Map<String, Value>| {
            claims.insert("acr".into(), MFA.into());
        }))
    });
    let strong = call(provider.issue_access_token("jo", "api")).await;
    assert_eq!(strong.status(), Status::Ok);
}

/// A form POST that meets an ended session is answered 401 with the error view: its body is
/// not kept and replayed after a new login (docs/features.md says why), no login starts, no
/// cookie is set; the app (or the page's script) decides what to do.
#[rocket::async_test]
async fn a_form_post_on_an_ended_session_gets_401_and_starts_no_login() {
    let provider = TestProvider::start().await;
    let client = own_app(&provider, &[("oidc.session_lifetime", json!(1))]).await;
    let post = || {
        client
            .post("/notes")
            .header(ContentType::Form)
            .header(Accept::HTML)
            .header(Header::new("Sec-Fetch-Mode", "navigate"))
            .header(Header::new("Sec-Fetch-Dest", "document"))
            .body("text=hello")
    };
    let login = provider.login(&client, "/profile").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let logged_in_at = unix_now();
    let saved = post().dispatch().await;
    assert_eq!(saved.status(), Status::Ok);
    assert_eq!(saved.into_string().await.unwrap(), "saved hello");

    until_unix(logged_in_at + 2).await;
    let authorize_before = provider.hits().authorize;
    let refused = post().dispatch().await;
    assert_eq!(refused.status(), Status::Unauthorized);
    assert!(refused.headers().get_one("Location").is_none(), "no login");
    assert_eq!(
        refused.headers().get("Set-Cookie").count(),
        0,
        "no pending login, nothing kept"
    );
    let body = refused.into_string().await.unwrap_or_default();
    assert!(
        body.contains("<html") || body.contains("<!DOCTYPE"),
        "{body}"
    );
    assert!(!body.contains("hello"), "the body is not echoed: {body}");
    assert_eq!(provider.hits().authorize, authorize_before);
    // A navigation afterwards logs in as usual.
    let page = client.get("/profile").header(Accept::HTML).dispatch().await;
    assert_eq!(page.status(), Status::SeeOther);
}
