//! Dynamic client registration (and its store), static metadata with it, and logins with
//! per-request parameters.

mod support;

use std::path::{Path, PathBuf};

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::TestProvider;
use serde_json::{json, Value};
use support::{assert_rejected, client_with};

/// A fresh path for a registration store.
fn store_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rocket_openidconnect-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("client.json")
}

/// An app whose `default` provider is `provider`, with a registration instead of a client.
fn registering_figment(provider: &TestProvider, store: Option<&PathBuf>, extra: Value) -> Figment {
    let mut table = json!({
        "issuer": provider.issuer(),
        "scope": ["openid", "profile"],
        "registration": { "client_name": "registration test", "contacts": ["ops@example.com"] },
    });
    if let Some(store) = store {
        table["registration_store"] = store.display().to_string().into();
    }
    for (key, value) in extra.as_object().unwrap() {
        table[key] = value.clone();
    }
    provider
        .app_figment()
        .merge(("oidc.providers.default", Value::Null))
        .merge(("oidc.providers.default", table))
}

#[rocket::async_test]
async fn a_registered_client_logs_in_and_is_reused_after_a_restart() {
    let provider = TestProvider::start().await;
    let store = store_path("reuse");
    let client = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(provider.hits().registration, 1);

    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    assert_eq!(stored["issuer"], provider.issuer());
    assert!(stored["client_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&store).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the store is private");
    }

    // A restart (another Rocket with the same store): no second registration.
    drop(client);
    let client = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(provider.hits().registration, 1);
}

#[rocket::async_test]
async fn a_refused_or_expired_stored_client_is_registered_anew() {
    let provider = TestProvider::start().await;
    let store = store_path("refused");
    let client = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    drop(client);

    // The provider no longer knows the stored secret: the login fails once, then a new
    // client is registered and used.
    let mut stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    stored["client_secret"] = "not-the-secret".into();
    std::fs::write(&store, stored.to_string()).unwrap();
    let client = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
    let failed = provider.login(&client, "/").await;
    assert_rejected(&failed, 400, &provider);
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(provider.hits().registration, 2);
    drop(client);

    // An expired secret: registered anew at once.
    let mut stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    stored["client_secret_expires_at"] = 1_000.into();
    std::fs::write(&store, stored.to_string()).unwrap();
    let client = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    assert_eq!(provider.hits().registration, 3);
}

#[rocket::async_test]
async fn a_failing_registration_shows_the_error_view_without_blocking_launch() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.registration_status = 400);
    let client = client_with(registering_figment(&provider, None, json!({}))).await;
    let response = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::BadGateway);
    let body = response.into_string().await.unwrap();
    assert!(
        body.contains("registration endpoint answered HTTP 400"),
        "{body}"
    );
    assert_eq!(client.get("/public").dispatch().await.status(), Status::Ok);
}

#[rocket::async_test]
async fn the_initial_access_token_is_sent() {
    let provider = TestProvider::start().await;
    provider.configure(|b| b.initial_access_token = Some("let-me-register".into()));
    let without = client_with(registering_figment(&provider, None, json!({}))).await;
    let response = without.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::BadGateway);

    let table =
        json!({"registration": {"client_name": "t", "initial_access_token": "let-me-register"}});
    let with = client_with(registering_figment(&provider, None, table)).await;
    let login = provider.login(&with, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
}

#[rocket::async_test]
async fn static_metadata_works_with_dynamic_registration() {
    let provider = TestProvider::start().await;
    let table = json!({"issuer": Value::Null, "metadata": provider.metadata_table()});
    let figment = registering_figment(&provider, None, table);
    let client = client_with(figment).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(
        provider.hits().discovery,
        0,
        "static metadata: no discovery"
    );
    assert_eq!(provider.hits().registration, 1);
}

#[rocket::async_test]
async fn a_login_route_takes_allow_listed_per_request_parameters() {
    let provider = TestProvider::start().await;
    let figment = provider
        .app_figment()
        .merge(("oidc.login_path", "/login"))
        .merge((
            "oidc.providers.default.login_params",
            ["login_hint", "max_age"],
        ))
        .merge((
            "oidc.providers.default.auth_request_params",
            json!({"prompt": "login"}),
        ));
    let client = client_with(figment).await;
    let start = client
        .get("/login?login_hint=alice%40example.com&return_to=%2Fpublic")
        .dispatch()
        .await;
    assert_eq!(start.status(), Status::SeeOther);
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    assert!(
        authorize.contains("login_hint=alice%40example.com"),
        "{authorize}"
    );
    assert!(authorize.contains("prompt=login"), "{authorize}");
    let done = provider
        .deliver(&client, &provider.authorize(&authorize).await)
        .await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/public"));

    for refused in [
        "/login?ui_locales=fr",
        "/login?state=x",
        "/login?login_hint=a&login_hint=b",
        "/login?provider=nope",
    ] {
        let response = client.get(refused).dispatch().await;
        assert_eq!(response.status(), Status::BadRequest, "{refused}");
    }
    // An off-site return_to falls back to `/`.
    let start = client
        .get("/login?return_to=%2F%2Fevil.example")
        .dispatch()
        .await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    let done = provider
        .deliver(&client, &provider.authorize(&authorize).await)
        .await;
    assert_eq!(done.location.as_deref(), Some("/"));
}

#[rocket::async_test]
async fn a_per_request_max_age_requires_auth_time() {
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.id_token_claims = Some(std::sync::Arc::new(
            |c: &mut serde_json::Map<String, Value>| {
                c.remove("auth_time");
            },
        ))
    });
    let figment = provider
        .app_figment()
        .merge(("oidc.login_path", "/login"))
        .merge(("oidc.providers.default.login_params", ["max_age"]));
    let client = client_with(figment).await;
    let start = client.get("/login?max_age=0").dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    assert!(authorize.contains("max_age=0"));
    let attempt = provider
        .deliver(&client, &provider.authorize(&authorize).await)
        .await;
    assert_rejected(&attempt, 400, &provider);
    // Without max_age the same token is fine.
    let start = client.get("/login").dispatch().await;
    let authorize = start.headers().get_one("Location").unwrap().to_owned();
    let done = provider
        .deliver(&client, &provider.authorize(&authorize).await)
        .await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
}

#[rocket::async_test]
async fn static_metadata_works_with_a_static_client() {
    let provider = TestProvider::start().await;
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default.issuer", Value::Null))
        .merge(("oidc.providers.default.metadata", provider.metadata_table()));
    let client = client_with(figment).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(provider.hits().discovery, 0);
    assert_eq!(provider.hits().registration, 0);
}

#[rocket::async_test]
async fn registration_sends_the_logout_uris_and_the_response_type() {
    let provider = TestProvider::start().await;
    let figment = registering_figment(&provider, None, json!({ "response_type": "code id_token" }))
        .merge(("oidc.base_url", "https://app.example/prefix"));
    let client = client_with(figment).await;
    // The first login registers the client.
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let sent = provider.last_registration().expect("a registration");
    assert_eq!(
        sent["redirect_uris"],
        json!(["https://app.example/prefix/redirect_uri"])
    );
    assert_eq!(
        sent["backchannel_logout_uri"],
        "https://app.example/prefix/backchannel_logout"
    );
    assert_eq!(
        sent["frontchannel_logout_uri"],
        "https://app.example/prefix/frontchannel_logout"
    );
    assert_eq!(sent["backchannel_logout_session_required"], true);
    assert_eq!(sent["frontchannel_logout_session_required"], true);
    assert_eq!(sent["response_types"], json!(["code id_token"]));
    assert_eq!(
        sent["grant_types"],
        json!(["authorization_code", "refresh_token", "implicit"])
    );
    assert_eq!(sent["client_name"], "registration test");
}

/// The registration store's content.
fn stored_client(store: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(store).unwrap()).unwrap()
}

/// The `client_id` of the authorization request a navigation to `/` is sent to (the app's
/// credentials, once its provider is ready).
async fn authorization_client_id(client: &Client, provider: &TestProvider) -> String {
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let location = start
        .headers()
        .get_one("Location")
        .unwrap_or_default()
        .to_owned();
    assert!(location.starts_with(provider.issuer()), "{location}");
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| *name == "client_id")
        .map(|(_, value)| value.into_owned())
        .expect("a client_id")
}

/// How many lock requests wait for the lock on `path` (from `/proc/locks`, Linux: the lines
/// with `->` are blocked requests, naming the file's inode); `None` where that cannot be seen.
fn lock_waiters(path: &Path) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(path).ok()?.ino();
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        let inode = format!(":{inode} ");
        Some(
            locks
                .lines()
                .filter(|line| line.contains("->") && line.contains(&inode))
                .count(),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

#[rocket::async_test]
async fn two_instances_sharing_a_store_register_one_client() {
    let provider = TestProvider::start().await;
    let store = store_path("lock");
    // The test holds the store's lock (`<store>.lock`) while both instances start: each
    // discovers the provider at liftoff, then must wait for the lock before it reads the
    // (empty) store. Without the lock both would find it empty and register.
    let lock_path = store.with_file_name("client.json.lock");
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.lock().unwrap();
    let a = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
    let b = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
    if lock_waiters(&lock_path).is_some() {
        support::eventually(
            "both instances waiting for the registration store's lock",
            support::PATIENCE,
            || (lock_waiters(&lock_path) == Some(2)).then_some(()),
        )
        .await;
    } else {
        // Without /proc/locks: both fetched the keys, the step just before the store.
        support::eventually(
            "both instances at the registration store",
            support::PATIENCE,
            || (provider.hits().jwks == 2).then_some(()),
        )
        .await;
    }
    assert_eq!(
        provider.hits().registration,
        0,
        "registered while another holds the store's lock"
    );

    drop(held);
    let id_a = authorization_client_id(&a, &provider).await;
    let id_b = authorization_client_id(&b, &provider).await;
    assert_eq!(provider.hits().registration, 1, "one registration for two");
    assert_eq!(id_a, id_b, "both use the one registered client");
    assert_eq!(stored_client(&store)["client_id"], id_a.as_str());
    for client in [&a, &b] {
        let login = provider.login(client, "/").await;
        assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    }
    assert_eq!(provider.hits().registration, 1);
}

#[rocket::async_test]
async fn a_stored_client_of_another_redirect_uri_or_issuer_is_not_reused() {
    let provider = TestProvider::start().await;
    let store = store_path("moved");
    let client = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
    assert_eq!(provider.login(&client, "/").await.status, Status::SeeOther);
    assert_eq!(provider.hits().registration, 1);
    let first = stored_client(&store);
    assert_eq!(first["redirect_uri"], "http://127.0.0.1:8000/redirect_uri");
    drop(client);

    // The application moved (another base_url, so another redirect URI): the stored client,
    // registered for the old one, is not reused; a new one is registered and stored.
    let moved = registering_figment(&provider, Some(&store), json!({}))
        .merge(("oidc.base_url", "http://127.0.0.1:9000"));
    let client = client_with(moved).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(
        provider.hits().registration,
        2,
        "registered for the new URI"
    );
    let second = stored_client(&store);
    assert_eq!(second["redirect_uri"], "http://127.0.0.1:9000/redirect_uri");
    assert_ne!(second["client_id"], first["client_id"]);
    let sent_client_id = provider
        .last_authorization_request()
        .into_iter()
        .find(|(name, _)| name == "client_id")
        .map(|(_, value)| value);
    assert_eq!(sent_client_id.as_deref(), second["client_id"].as_str());
    drop(client);

    // Another provider (another issuer) with the same store: the stored client is the first
    // provider's, unknown to this one (whose authorization endpoint would refuse it); a new
    // one is registered there.
    let other = TestProvider::start().await;
    let client = client_with(registering_figment(&other, Some(&store), json!({}))).await;
    let login = other.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    assert_eq!(
        other.hits().registration,
        1,
        "registered at the other issuer"
    );
    assert_eq!(provider.hits().registration, 2);
    let third = stored_client(&store);
    assert_eq!(third["issuer"], other.issuer());
    assert_ne!(third["client_id"], second["client_id"]);
}

#[rocket::async_test]
async fn a_stored_secret_expiring_within_a_minute_is_not_reused() {
    let provider = TestProvider::start().await;
    // A store written by hand for the provider's own client (so that a reused client logs in):
    // its secret expires in 90 s (reused: more than the 60 s margin), or in 30 s (within it:
    // registered anew).
    for (expires_in, reused) in [(90, true), (30, false)] {
        let store = store_path("margin");
        let stored = json!({
            "issuer": provider.issuer(),
            "redirect_uri": "http://127.0.0.1:8000/redirect_uri",
            "client_id": provider.client_id(),
            "client_secret": provider.client_secret(),
            "client_secret_expires_at": support::unix_now() + expires_in,
            "token_endpoint_auth_method": "client_secret_basic",
        });
        std::fs::write(&store, stored.to_string()).unwrap();
        let before = provider.hits().registration;
        let client = client_with(registering_figment(&provider, Some(&store), json!({}))).await;
        let login = provider.login(&client, "/").await;
        assert_eq!(login.status, Status::SeeOther, "{}", login.body);
        let registrations = provider.hits().registration - before;
        let now_stored = stored_client(&store);
        if reused {
            assert_eq!(
                registrations, 0,
                "a secret valid for {expires_in} s more must be reused"
            );
            assert_eq!(now_stored["client_id"], provider.client_id());
        } else {
            assert_eq!(
                registrations, 1,
                "a secret expiring in {expires_in} s (within the 60 s margin) must not be reused"
            );
            assert_ne!(now_stored["client_id"], provider.client_id());
            assert_eq!(now_stored["client_secret_expires_at"], 0);
        }
    }
}

/// The relying party's keys in a registration: the URL of `jwks_path` where it is served,
/// else the public key set inline; with the auth method `private_key_jwt`.
#[rocket::async_test]
async fn registration_sends_the_keys_by_url_or_inline_with_private_key_jwt() {
    let dir = store_path("keys");
    let key = dir.with_file_name("rp.pem");
    std::fs::write(&key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    for served in [true, false] {
        let provider = TestProvider::start().await;
        let mut figment = registering_figment(
            &provider,
            None,
            json!({ "token_endpoint_auth_method": "private_key_jwt" }),
        )
        .merge(("oidc.base_url", "https://app.example"))
        .merge(("oidc.signing_keys", [&key]));
        if served {
            figment = figment.merge(("oidc.jwks_path", "/jwks.json"));
        }
        let client = client_with(figment).await;
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        assert_eq!(start.status(), Status::SeeOther);
        let sent = provider.last_registration().expect("a registration");
        assert_eq!(sent["token_endpoint_auth_method"], "private_key_jwt");
        if served {
            assert_eq!(sent["jwks_uri"], "https://app.example/jwks.json");
            assert!(sent.get("jwks").is_none());
        } else {
            assert!(sent.get("jwks_uri").is_none());
            let jwk = &sent["jwks"]["keys"][0];
            assert_eq!(jwk["kty"], "EC");
            assert!(jwk.get("d").is_none(), "public parts only: {jwk}");
        }
    }
}

#[rocket::async_test]
async fn configured_id_token_algorithms_ask_for_one_the_provider_offers() {
    let provider = TestProvider::start_with(rocket_openidconnect::testing::Alg::Es256).await;
    provider.configure(|b| {
        b.discovery_document = Some(std::sync::Arc::new(|document: &mut Value| {
            document["id_token_signing_alg_values_supported"] = json!(["RS256", "ES256"]);
        }))
    });
    let algs = json!({"id_token_signing_algs": ["PS256", "ES256"]});
    let client = client_with(registering_figment(&provider, None, algs)).await;
    let login = provider.login(&client, "/").await;
    assert_eq!(login.status, Status::SeeOther, "{}", login.body);
    let sent = provider.last_registration().expect("a registration");
    assert_eq!(sent["id_token_signed_response_alg"], "ES256", "{sent}");

    // Without configured algorithms the provider's default stands: nothing is asked for.
    let other = TestProvider::start().await;
    let client = client_with(registering_figment(&other, None, json!({}))).await;
    assert!(other.login(&client, "/").await.session_created);
    let sent = other.last_registration().expect("a registration");
    assert!(sent.get("id_token_signed_response_alg").is_none(), "{sent}");
}
