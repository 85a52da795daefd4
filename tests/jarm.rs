//! JWT Secured Authorization Responses (JARM) against the in-process provider: every JWT
//! response mode logs in (the callback carries only `response`), an encrypted response is
//! opened, a signed-only one is taken when the app has encryption keys but no JARM
//! encryption; every hostile response (bad signature, `alg: none`, HMAC, another algorithm,
//! audience or issuer, expired or no `exp`, plain parameters, encrypted when not configured or
//! plain when it is, to another key, a response replayed into another browser or twice, a
//! `response` to a login that did not ask for one) fails the login: no session, the reason
//! logged. Launch errors name the key. The real provider's JARM is in tests/real_provider.rs
//! and tests/browser.rs.

mod support;

use std::sync::Arc;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket_openidconnect::testing::{Alg, Behaviour, Encrypt, Signing, TestProvider};
use serde_json::{json, Map, Value};

/// The example app for `provider` with the provider settings `settings`.
fn app(provider: &TestProvider, settings: Value) -> Figment {
    let mut figment = provider.app_figment();
    for (key, value) in settings.as_object().unwrap() {
        figment = figment.merge((format!("oidc.providers.default.{key}"), value.clone()));
    }
    figment
}

/// The names of the parameters an authorization response (as `TestProvider::authorize`
/// returns it) carries, in its query, fragment or form body.
fn carried(callback: &str) -> Vec<String> {
    let encoded = if let Some((_, body)) = callback.split_once('\n') {
        body.to_owned()
    } else if let Some((_, fragment)) = callback.split_once('#') {
        fragment.to_owned()
    } else {
        url::Url::parse(callback)
            .unwrap()
            .query()
            .unwrap_or_default()
            .to_owned()
    };
    url::form_urlencoded::parse(encoded.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect()
}

/// Starts a login at `/` and returns the authorization URL.
async fn start(client: &rocket::local::asynchronous::Client) -> String {
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    start.headers().get_one("Location").unwrap().to_owned()
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[rocket::async_test]
async fn every_jwt_response_mode_logs_in_with_only_a_response_parameter() {
    let provider = TestProvider::start().await;
    provider.set_user("jarm-user", json!({}));
    // (response_type, configured mode, mode sent, how it arrives)
    let rows = [
        ("code", "jwt", "query.jwt", "query"),
        ("code", "query.jwt", "query.jwt", "query"),
        ("code", "form_post.jwt", "form_post.jwt", "form"),
        ("code", "fragment.jwt", "fragment.jwt", "fragment"),
        ("code id_token", "jwt", "fragment.jwt", "fragment"),
        ("code id_token", "form_post.jwt", "form_post.jwt", "form"),
        ("id_token token", "fragment.jwt", "fragment.jwt", "fragment"),
    ];
    for (response_type, mode, sent, arrives) in rows {
        let settings = json!({"response_type": response_type, "response_mode": mode});
        let client = support::client_with(app(&provider, settings)).await;
        let authorize = start(&client).await;
        assert_eq!(param(&authorize, "response_mode").as_deref(), Some(sent));
        let callback = provider.authorize(&authorize).await;
        match arrives {
            "form" => assert!(callback.starts_with("POST "), "{callback}"),
            "fragment" => assert!(callback.contains('#'), "{callback}"),
            _ => assert!(callback.contains("?response="), "{callback}"),
        }
        assert_eq!(carried(&callback), ["response"], "{mode}: {callback}");
        let done = provider.deliver(&client, &callback).await;
        assert_eq!(
            done.status,
            Status::SeeOther,
            "{response_type} {mode}: {}",
            done.body
        );
        assert!(done.session_created);
        let (status, page) = support::json_page(&client, "/", Accept::JSON).await;
        assert_eq!(status, Status::Ok);
        assert_eq!(page["id_token"]["sub"], "jarm-user");
    }
}

#[rocket::async_test]
async fn an_encrypted_response_is_opened_and_a_signed_one_taken_without_jarm_encryption() {
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let files = [support::key_file("jarm-enc", "ec.pem", &ec)];
    let published = support::served_keys(&[], &files).await["keys"][0].clone();
    let provider = TestProvider::start().await;
    provider.configure(|b| {
        b.authorization_encryption = Some(Encrypt::new(published.clone(), "ECDH-ES", "A256GCM"))
    });
    let encrypted = json!({
        "response_mode": "query.jwt",
        "authorization_encrypted_response_alg": "ECDH-ES",
        "authorization_encrypted_response_enc": "A256GCM",
    });
    let figment = app(&provider, encrypted).merge(("oidc.encryption_keys", &files));
    let client = support::client_with(figment).await;
    let authorize = start(&client).await;
    let callback = provider.authorize(&authorize).await;
    let response = param(&callback, "response").unwrap();
    assert_eq!(response.split('.').count(), 5, "a JWE");
    // A browser without a login under way: refused before anything is decrypted.
    let stranger = support::client_with(
        app(
            &provider,
            json!({"response_mode": "query.jwt",
                              "authorization_encrypted_response_alg": "ECDH-ES",
                              "authorization_encrypted_response_enc": "A256GCM"}),
        )
        .merge(("oidc.encryption_keys", &files)),
    )
    .await;
    let refused = provider.deliver(&stranger, &callback).await;
    assert_eq!(refused.status, Status::BadRequest, "{}", refused.body);
    assert!(
        refused.body.contains("no login under way in this browser"),
        "{}",
        refused.body
    );
    let done = provider.deliver(&client, &callback).await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    // Encryption keys (for ID tokens, say) do not make JARM encryption required.
    provider.configure(|b| b.authorization_encryption = None);
    let figment = app(&provider, json!({"response_mode": "form_post.jwt"}))
        .merge(("oidc.encryption_keys", &files));
    let client = support::client_with(figment).await;
    let done = provider.login(&client, "/").await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    assert!(done.session_created);
}

type Tweak = Arc<dyn Fn(&mut Map<String, Value>) + Send + Sync>;

fn tweak(f: impl Fn(&mut Map<String, Value>) + Send + Sync + 'static) -> Option<Tweak> {
    Some(Arc::new(f))
}

#[rocket::async_test]
async fn hostile_jarm_responses_fail_the_login_with_their_reason() {
    support::logs::capture();
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let files = [support::key_file("jarm-hostile", "ec.pem", &ec)];
    let ours = support::served_keys(&[], &files).await["keys"][0].clone();
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let stranger = [support::key_file("jarm-hostile", "stranger.pem", &stranger)];
    let theirs = support::served_keys(&[], &stranger).await["keys"][0].clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let plain = json!({"response_mode": "query.jwt"});
    let encrypted = json!({"response_mode": "query.jwt",
                           "authorization_encrypted_response_alg": "ECDH-ES+A128KW"});
    type Setup = Box<dyn Fn(&mut Behaviour, &str)>;
    // (row, provider key algorithm, app settings, provider behaviour, reason logged)
    let rows: Vec<(&str, Alg, &Value, Setup, &str)> = vec![
        (
            "bad signature",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| b.signing = Signing::BadSignature),
            "does not verify",
        ),
        (
            "alg none",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| b.signing = Signing::None),
            "does not verify",
        ),
        (
            "HS256 with the client secret",
            Alg::Rs256,
            &plain,
            Box::new(|b, secret| b.signing = Signing::Hs256(secret.to_owned())),
            "does not verify",
        ),
        (
            "ES256 where RS256 is configured",
            Alg::Es256,
            &plain,
            Box::new(|_, _| {}),
            "does not verify",
        ),
        (
            "another audience",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| {
                b.jarm_claims = tweak(|c| {
                    c.insert("aud".into(), "another-client".into());
                })
            }),
            "for another client",
        ),
        (
            "another issuer",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| {
                b.jarm_claims = tweak(|c| {
                    c.insert("iss".into(), "https://evil.example".into());
                })
            }),
            "from another issuer",
        ),
        (
            "expired",
            Alg::Rs256,
            &plain,
            Box::new(move |b, _| {
                b.jarm_claims = tweak(move |c| {
                    c.insert("exp".into(), (now - 600).into());
                })
            }),
            "it has expired",
        ),
        (
            "no exp",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| {
                b.jarm_claims = tweak(|c| {
                    c.remove("exp");
                })
            }),
            "it has no exp",
        ),
        (
            "a parameter not a string",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| {
                b.jarm_claims = tweak(|c| {
                    c.insert("code".into(), json!(["a"]));
                })
            }),
            "`code` in the JARM response is not a string",
        ),
        (
            "another kind of JWT (typ at+jwt)",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| {
                b.jarm_claims = tweak(|c| {
                    c["header"]["typ"] = json!("at+jwt");
                })
            }),
            "its typ is not JWT",
        ),
        (
            "an ID token's claims",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| {
                b.jarm_claims = tweak(|c| {
                    c.insert("sub".into(), "someone".into());
                    c.insert("nonce".into(), "n".into());
                })
            }),
            "as another kind of token does",
        ),
        (
            "plain parameters",
            Alg::Rs256,
            &plain,
            Box::new(|b, _| b.jarm_responses = false),
            "the response must be a JARM `response` only",
        ),
        (
            "encrypted, not configured",
            Alg::Rs256,
            &plain,
            {
                let ours = ours.clone();
                Box::new(move |b, _| {
                    b.authorization_encryption = Some(Encrypt::new(
                        ours.clone(),
                        "ECDH-ES+A128KW",
                        "A128CBC-HS256",
                    ))
                })
            },
            "does not decrypt as configured",
        ),
        (
            "signed only, encryption configured",
            Alg::Rs256,
            &encrypted,
            Box::new(|_, _| {}),
            "it is not encrypted",
        ),
        (
            "encrypted to another key",
            Alg::Rs256,
            &encrypted,
            {
                let theirs = theirs.clone();
                Box::new(move |b, _| {
                    b.authorization_encryption = Some(Encrypt::new(
                        theirs.clone(),
                        "ECDH-ES+A128KW",
                        "A128CBC-HS256",
                    ))
                })
            },
            "does not decrypt as configured",
        ),
    ];
    for (row, alg, settings, setup, reason) in rows {
        let provider = TestProvider::start_with(alg).await;
        provider.set_user("jarm-hostile", json!({}));
        let secret = provider.client_secret().to_owned();
        provider.configure(|b| setup(b, &secret));
        let before = support::logs::count(reason);
        let figment = app(&provider, settings.clone()).merge(("oidc.encryption_keys", &files));
        let client = support::client_with(figment).await;
        let done = provider.login(&client, "/").await;
        assert_eq!(
            done.status.code / 100,
            4,
            "{row}: {} {}",
            done.status,
            done.body
        );
        assert!(!done.session_created, "{row}");
        assert!(!done.body.contains("jarm-hostile"), "{row}: {}", done.body);
        assert_eq!(
            support::json_page(&client, "/", Accept::JSON).await.0,
            Status::Unauthorized,
            "{row}"
        );
        assert!(
            support::logs::count(reason) > before,
            "{row}: no log line with `{reason}`: {:#?}",
            support::logs::records()
                .iter()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
        );
        for token in provider.issued_tokens() {
            assert_eq!(support::logs::count(&token), 0, "{row}: a token logged");
        }
        // The code inside was never redeemed.
        assert_eq!(provider.hits().token, 0, "{row}");
    }
}

#[rocket::async_test]
async fn a_jarm_response_replayed_into_another_browser_or_twice_is_refused() {
    support::logs::capture();
    let provider = TestProvider::start().await;
    provider.set_user("replayed", json!({}));
    let figment = app(&provider, json!({"response_mode": "form_post.jwt"}));
    let victim = support::client_with(figment.clone()).await;
    let attacker = support::client_with(figment).await;
    let authorize = start(&victim).await;
    let callback = provider.authorize(&authorize).await;
    // The attacker's browser has no pending login for the response's state.
    let stolen = provider.deliver(&attacker, &callback).await;
    assert_eq!(stolen.status, Status::BadRequest, "{}", stolen.body);
    assert!(!stolen.session_created);
    assert!(
        stolen.body.contains("no login under way in this browser"),
        "{}",
        stolen.body
    );
    assert_eq!(provider.hits().token, 0);
    // The browser that started the login completes it, once.
    let done = provider.deliver(&victim, &callback).await;
    assert_eq!(done.status, Status::SeeOther, "{}", done.body);
    let again = provider.deliver(&victim, &callback).await;
    assert_eq!(again.status, Status::BadRequest, "{}", again.body);
    assert!(!again.session_created);
    assert_eq!(provider.hits().token, 1);
}

#[rocket::async_test]
async fn a_response_parameter_is_refused_where_no_jarm_was_asked_for() {
    support::logs::capture();
    let provider = TestProvider::start().await;
    // The app asks for `query`; the provider (or an attacker) answers with a JARM response.
    let client = support::client_with(app(&provider, json!({}))).await;
    let authorize = start(&client).await;
    let jarm_url = authorize.replace(
        "response_type=code",
        "response_type=code&response_mode=query.jwt",
    );
    let callback = provider.authorize(&jarm_url).await;
    assert_eq!(carried(&callback), ["response"]);
    let done = provider.deliver(&client, &callback).await;
    assert_eq!(done.status, Status::BadRequest, "{}", done.body);
    assert!(!done.session_created);
    assert!(support::logs::count("which no login under way in this browser asked for") >= 1);
}

#[rocket::async_test]
async fn wrong_jarm_settings_stop_the_launch_naming_the_key() {
    support::logs::capture();
    let provider = TestProvider::start().await;
    let key = "oidc.providers.default";
    let rows = [
        (
            json!({"authorization_signed_response_alg": "RS256"}),
            format!("{key}.authorization_signed_response_alg: needs a JWT response_mode"),
        ),
        (
            json!({"authorization_encrypted_response_alg": "ECDH-ES"}),
            format!("{key}.authorization_encrypted_response_alg: needs a JWT response_mode"),
        ),
        (
            json!({"response_mode": "query.jwt", "authorization_signed_response_alg": "HS256"}),
            format!("{key}.authorization_signed_response_alg: "),
        ),
        (
            json!({"response_type": "code id_token", "response_mode": "query.jwt"}),
            format!("{key}.response_mode: `query.jwt` with response_type `code id_token`"),
        ),
        (
            json!({"response_mode": "jwt", "authorization_encrypted_response_alg": "RSA1_5"}),
            format!("{key}.authorization_encrypted_response_alg: RSA1_5 is never accepted"),
        ),
        (
            json!({"response_mode": "jwt", "authorization_encrypted_response_alg": "ECDH-ES"}),
            format!(
                "{key}.authorization_encrypted_response_alg: needs a key in oidc.encryption_keys"
            ),
        ),
        (
            json!({"response_mode": "query.jwt.x"}),
            format!("{key}.response_mode"),
        ),
    ];
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let files = [support::key_file("jarm-launch", "ec.pem", &ec)];
    for (settings, needle) in rows {
        let figment = app(&provider, settings.clone());
        // With a decryption key, but for the row about its absence.
        let figment = if needle.contains("oidc.encryption_keys") {
            figment
        } else {
            figment.merge(("oidc.encryption_keys", &files))
        };
        support::launch_fails(figment, &needle).await;
    }
}

#[rocket::async_test]
async fn registration_asks_for_the_jarm_algorithms() {
    let provider = TestProvider::start().await;
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let files = [support::key_file("jarm-registration", "ec.pem", &ec)];
    let table = json!({
        "issuer": provider.issuer(),
        "scope": ["openid"],
        "registration": { "client_name": "jarm test" },
        "response_mode": "form_post.jwt",
        "authorization_signed_response_alg": "ES256",
        "authorization_encrypted_response_alg": "ECDH-ES",
    });
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default", Value::Null))
        .merge(("oidc.providers.default", table))
        .merge(("oidc.encryption_keys", &files))
        .merge(("oidc.jwks_path", "/jwks.json"));
    let client = support::client_with(figment).await;
    let authorize = start(&client).await;
    assert_eq!(
        param(&authorize, "response_mode").as_deref(),
        Some("form_post.jwt")
    );
    let sent = provider.last_registration().expect("a registration");
    assert_eq!(sent["authorization_signed_response_alg"], "ES256");
    assert_eq!(sent["authorization_encrypted_response_alg"], "ECDH-ES");
    assert_eq!(
        sent["authorization_encrypted_response_enc"],
        "A128CBC-HS256"
    );
}

#[rocket::async_test]
async fn what_the_provider_does_not_offer_fails_the_login_naming_the_setting() {
    support::logs::capture();
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let files = [support::key_file("jarm-offered", "ec.pem", &ec)];
    // (the provider's metadata, the app's settings, the refusal)
    let rows = [
        (
            json!({"response_modes_supported": ["query", "fragment"]}),
            json!({"response_mode": "form_post.jwt"}),
            "does not offer response_mode `form_post.jwt`",
        ),
        (
            json!({"authorization_signing_alg_values_supported": ["RS256"]}),
            json!({"response_mode": "jwt", "authorization_signed_response_alg": "ES256"}),
            "does not offer authorization_signed_response_alg `ES256`",
        ),
        (
            json!({"id_token_encryption_alg_values_supported": ["RSA-OAEP-256"]}),
            json!({"id_token_encrypted_response_alg": "ECDH-ES"}),
            "does not offer id_token_encrypted_response_alg `ECDH-ES`",
        ),
        (
            json!({"userinfo_encryption_alg_values_supported": ["ECDH-ES"],
                   "userinfo_encryption_enc_values_supported": ["A256GCM"]}),
            json!({"userinfo_encrypted_response_alg": "ECDH-ES"}),
            "does not offer userinfo_encrypted_response_enc `A128CBC-HS256`",
        ),
        (
            json!({"authorization_encryption_alg_values_supported": ["RSA-OAEP-256"]}),
            json!({"response_mode": "query.jwt", "authorization_encrypted_response_alg": "ECDH-ES"}),
            "does not offer authorization_encrypted_response_alg `ECDH-ES`",
        ),
    ];
    for (metadata, settings, refusal) in rows {
        let provider = TestProvider::start().await;
        provider.configure(|b| {
            b.discovery_document = Some(Arc::new(move |document: &mut Value| {
                for (key, value) in metadata.as_object().unwrap() {
                    document[key] = value.clone();
                }
            }))
        });
        let figment = app(&provider, settings).merge(("oidc.encryption_keys", &files));
        let client = support::client_with(figment).await;
        let start = client.get("/").header(Accept::HTML).dispatch().await;
        assert_eq!(start.status(), Status::BadGateway, "{refusal}");
        assert!(start.headers().get_one("Location").is_none());
        let body = start.into_string().await.unwrap_or_default();
        assert!(body.contains(refusal), "{refusal}: {body}");
        assert_eq!(provider.hits().authorize, 0, "{refusal}");
    }
}
