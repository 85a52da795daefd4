//! Encrypted ID tokens and userinfo answers (JWE) from the in-process provider: every key
//! management with every content encryption is decrypted and the signed token inside is
//! validated as usual (and is what logout sends as `id_token_hint`); every hostile message
//! (a plain token where encryption is configured, another recipient, `RSA1_5`, `dir`, another
//! `enc`, tampered parts, compression, an ephemeral key off the curve, a forged inner
//! signature) fails the login with the error view: no session, the reason logged, no token in
//! a log line or the page. Wrong settings stop the launch naming the key. The real provider's
//! encrypted messages are in tests/real_provider.rs.

mod support;

use std::path::PathBuf;

use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket_openidconnect::testing::{Behaviour, Encrypt, Signing, TestProvider};
use serde_json::{json, Value};

/// The app's decryption keys: an RSA key (a fixture: RSA generation is slow) and a P-256
/// key made for this run.
fn key_files(tag: &str) -> Vec<PathBuf> {
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    vec![
        support::key_file(tag, "enc-rsa.pem", include_str!("fixtures/rp-rsa2048.pem")),
        support::key_file(tag, "enc-ec.pem", &ec),
    ]
}

/// The public keys the app publishes for `files`: (RSA, EC).
async fn published(files: &[PathBuf]) -> (Value, Value) {
    let set = support::served_keys(&[], files).await;
    let keys = set["keys"].as_array().unwrap();
    let of = |kty: &str| keys.iter().find(|k| k["kty"] == kty).unwrap().clone();
    let (rsa, ec) = (of("RSA"), of("EC"));
    assert_eq!(rsa["use"], "enc");
    assert_eq!(ec["use"], "enc");
    assert!(rsa.get("d").is_none() && ec.get("d").is_none());
    (rsa, ec)
}

/// The example app for `provider` with decryption keys `files` and the provider settings
/// `settings`.
fn app(provider: &TestProvider, files: &[PathBuf], settings: Value) -> Figment {
    let mut figment = provider
        .app_figment()
        .merge(("oidc.encryption_keys", files))
        .merge(("oidc.jwks_path", "/jwks.json"));
    for (key, value) in settings.as_object().unwrap() {
        figment = figment.merge((format!("oidc.providers.default.{key}"), value.clone()));
    }
    figment
}

const ALGS: [&str; 4] = [
    "RSA-OAEP-256",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A256KW",
];
const ENCS: [&str; 3] = ["A128CBC-HS256", "A128GCM", "A256GCM"];

#[rocket::async_test]
async fn encrypted_id_tokens_of_every_algorithm_are_opened_and_validated() {
    support::logs::capture();
    let files = key_files("jwe-all");
    let (rsa, ec) = published(&files).await;
    let provider = TestProvider::start().await;
    provider.set_user("enc-user", json!({"email": "enc@example.com"}));
    for (i, alg) in ALGS.iter().enumerate() {
        for (j, enc) in ENCS.iter().enumerate() {
            let to = if *alg == "RSA-OAEP-256" { &rsa } else { &ec };
            provider
                .configure(|b| b.id_token_encryption = Some(Encrypt::new(to.clone(), alg, enc)));
            // Every other pair leaves `enc` to its default (A128CBC-HS256).
            let settings = if *enc == "A128CBC-HS256" && (i + j) % 2 == 0 {
                json!({"id_token_encrypted_response_alg": alg})
            } else {
                json!({"id_token_encrypted_response_alg": alg, "id_token_encrypted_response_enc": enc})
            };
            let client = support::client_with(app(&provider, &files, settings)).await;
            let login = provider.login(&client, "/").await;
            assert_eq!(
                login.status,
                Status::SeeOther,
                "{alg} {enc}: {}",
                login.body
            );
            assert!(login.session_created, "{alg} {enc}");
            let (status, page) = support::json_page(&client, "/", Accept::JSON).await;
            assert_eq!(status, Status::Ok, "{alg} {enc}");
            assert_eq!(page["id_token"]["sub"], "enc-user");
            assert_eq!(page["id_token"]["email"], "enc@example.com");
            // Logout sends the signed token inside, which the provider can read.
            let logout = client.get("/logout").header(Accept::HTML).dispatch().await;
            assert_eq!(logout.status(), Status::SeeOther);
            let end_session =
                url::Url::parse(logout.headers().get_one("Location").unwrap()).unwrap();
            let hint = end_session
                .query_pairs()
                .find(|(k, _)| k == "id_token_hint")
                .map(|(_, v)| v.into_owned())
                .expect("an id_token_hint");
            assert_eq!(
                hint.split('.').count(),
                3,
                "{alg} {enc}: a JWS, not the JWE"
            );
            assert!(provider.issued_tokens().contains(&hint));
        }
    }
    // Refreshed ID tokens are encrypted too, and opened the same way.
    provider.configure(|b| {
        b.id_token_encryption = Some(Encrypt::new(ec.clone(), "ECDH-ES", "A256GCM"));
    });
    let settings = json!({"id_token_encrypted_response_alg": "ECDH-ES",
                          "id_token_encrypted_response_enc": "A256GCM"});
    let client = support::client_with(app(&provider, &files, settings)).await;
    assert!(provider.login(&client, "/").await.session_created);
    let refreshes = provider.hits().refresh;
    let (status, _) = support::json_page(&client, "/token?force=true", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(provider.hits().refresh, refreshes + 1);
    assert_eq!(
        support::json_page(&client, "/", Accept::JSON).await.0,
        Status::Ok
    );
}

#[rocket::async_test]
async fn encrypted_userinfo_is_opened_with_or_without_a_signature_inside() {
    support::logs::capture();
    let files = key_files("jwe-userinfo");
    let (rsa, ec) = published(&files).await;
    let provider = TestProvider::start().await;
    provider.set_user("ui-user", json!({"email": "ui@example.com"}));
    for (signed, to, alg, enc) in [
        (false, &ec, "ECDH-ES+A128KW", "A128CBC-HS256"),
        (true, &rsa, "RSA-OAEP-256", "A256GCM"),
    ] {
        provider.configure(|b| {
            b.userinfo_encryption = Some(Encrypt::new(to.clone(), alg, enc));
            b.userinfo_signed = signed;
        });
        let mut settings = json!({"userinfo_encrypted_response_alg": alg,
                                  "userinfo_encrypted_response_enc": enc});
        if signed {
            settings["userinfo_signed_response_alg"] = "RS256".into();
        }
        let client = support::client_with(app(&provider, &files, settings)).await;
        let login = provider.login(&client, "/").await;
        assert_eq!(login.status, Status::SeeOther, "{alg}: {}", login.body);
        let (status, page) = support::json_page(&client, "/", Accept::JSON).await;
        assert_eq!(status, Status::Ok);
        assert_eq!(page["userinfo"]["email"], "ui@example.com", "{alg}");
        assert_eq!(page["userinfo"]["sub"], "ui-user");
    }
}

/// How a row sets the provider up, given the app's RSA and EC public keys.
type Setup = Box<dyn Fn(&mut Behaviour, &Value, &Value)>;

/// One hostile row: what the provider does, the app's provider settings, the reason the log
/// must show.
struct Row {
    name: &'static str,
    setup: Setup,
    settings: Value,
    reason: &'static str,
    status: Status,
}

fn row(
    name: &'static str,
    settings: Value,
    reason: &'static str,
    setup: impl Fn(&mut Behaviour, &Value, &Value) + 'static,
) -> Row {
    Row {
        name,
        setup: Box::new(setup),
        settings,
        reason,
        status: Status::BadGateway,
    }
}

#[rocket::async_test]
async fn hostile_encrypted_messages_fail_the_login_with_their_reason() {
    support::logs::capture();
    let files = key_files("jwe-hostile");
    let (_, other_ec) = published(&key_files("jwe-stranger")).await;
    let rsa_gcm = json!({"id_token_encrypted_response_alg": "RSA-OAEP-256",
                         "id_token_encrypted_response_enc": "A256GCM"});
    let ec_cbc = json!({"id_token_encrypted_response_alg": "ECDH-ES+A256KW"});
    let userinfo = json!({"userinfo_encrypted_response_alg": "ECDH-ES",
                          "userinfo_encrypted_response_enc": "A128GCM"});
    let undecryptable = "does not decrypt with our keys";
    let other_ec_no_kid = {
        let mut key = other_ec.clone();
        key.as_object_mut().unwrap().remove("kid");
        key
    };
    let mut rows = vec![
        row(
            "plain ID token",
            rsa_gcm.clone(),
            "it is not encrypted",
            |_, _, _| {},
        ),
        row(
            "another recipient, its kid",
            ec_cbc.clone(),
            "to a key that is not ours",
            {
                let other = other_ec.clone();
                move |b, _, _| {
                    b.id_token_encryption = Some(Encrypt::new(
                        other.clone(),
                        "ECDH-ES+A256KW",
                        "A128CBC-HS256",
                    ))
                }
            },
        ),
        row(
            "another recipient, no kid",
            ec_cbc.clone(),
            undecryptable,
            {
                let other = other_ec_no_kid.clone();
                move |b, _, _| {
                    b.id_token_encryption = Some(Encrypt::new(
                        other.clone(),
                        "ECDH-ES+A256KW",
                        "A128CBC-HS256",
                    ))
                }
            },
        ),
        row(
            "RSA1_5",
            rsa_gcm.clone(),
            "RSA1_5 is never accepted",
            |b, rsa, _| {
                b.id_token_encryption = Some(
                    Encrypt::new(rsa.clone(), "RSA-OAEP-256", "A256GCM")
                        .with_header(json!({"alg": "RSA1_5"})),
                )
            },
        ),
        row(
            "dir",
            rsa_gcm.clone(),
            "dir is never accepted",
            |b, rsa, _| {
                b.id_token_encryption = Some(
                    Encrypt::new(rsa.clone(), "RSA-OAEP-256", "A256GCM")
                        .with_header(json!({"alg": "dir"})),
                )
            },
        ),
        row(
            "another key management",
            rsa_gcm.clone(),
            "is not the configured one",
            |b, _, ec| b.id_token_encryption = Some(Encrypt::new(ec.clone(), "ECDH-ES", "A256GCM")),
        ),
        row(
            "another enc",
            rsa_gcm.clone(),
            "content encryption `A128GCM`",
            |b, rsa, _| {
                b.id_token_encryption = Some(Encrypt::new(rsa.clone(), "RSA-OAEP-256", "A128GCM"))
            },
        ),
        row(
            "compressed",
            rsa_gcm.clone(),
            "compressed (zip)",
            |b, rsa, _| {
                b.id_token_encryption = Some(
                    Encrypt::new(rsa.clone(), "RSA-OAEP-256", "A256GCM")
                        .with_header(json!({"zip": "DEF"})),
                )
            },
        ),
        row(
            "ephemeral key off the curve",
            ec_cbc.clone(),
            "(epk) is not a P-256",
            |b, _, ec| {
                let one = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
                b.id_token_encryption = Some(
                    Encrypt::new(ec.clone(), "ECDH-ES+A256KW", "A128CBC-HS256").with_header(
                        json!({"epk": {"kty": "EC", "crv": "P-256", "x": one, "y": one}}),
                    ),
                )
            },
        ),
        row(
            "userinfo not encrypted",
            userinfo.clone(),
            "the answer is not encrypted",
            |_, _, _| {},
        ),
        row(
            "userinfo tampered",
            userinfo.clone(),
            undecryptable,
            |b, _, ec| {
                b.userinfo_encryption =
                    Some(Encrypt::new(ec.clone(), "ECDH-ES", "A128GCM").tampered(3))
            },
        ),
    ];
    for (part, what) in [
        (1, "encrypted key"),
        (2, "IV"),
        (3, "ciphertext"),
        (4, "tag"),
    ] {
        let name: &'static str = Box::leak(format!("tampered {what}").into_boxed_str());
        rows.push(row(
            name,
            rsa_gcm.clone(),
            undecryptable,
            move |b, rsa, _| {
                b.id_token_encryption =
                    Some(Encrypt::new(rsa.clone(), "RSA-OAEP-256", "A256GCM").tampered(part))
            },
        ));
    }
    // Userinfo about another user, signed (and encrypted): refused as a plain one is (400).
    let mut both = userinfo.clone();
    both["userinfo_signed_response_alg"] = "RS256".into();
    let signed_only = json!({"userinfo_signed_response_alg": "RS256"});
    for (name, settings, encrypted) in [
        ("signed userinfo about another user", signed_only, false),
        (
            "signed and encrypted userinfo about another user",
            both,
            true,
        ),
    ] {
        let mut other_user = row(
            name,
            settings,
            "the userinfo subject does not match",
            move |b, _, ec| {
                b.userinfo_signed = true;
                b.userinfo_sub = Some("mallory".into());
                if encrypted {
                    b.userinfo_encryption = Some(Encrypt::new(ec.clone(), "ECDH-ES", "A128GCM"));
                }
            },
        );
        other_user.status = Status::BadRequest;
        rows.push(other_user);
    }
    rows.push(row(
        "encrypted userinfo signed inside, no signing configured",
        userinfo.clone(),
        "needs userinfo_signed_response_alg",
        |b, _, ec| {
            b.userinfo_signed = true;
            b.userinfo_encryption = Some(Encrypt::new(ec.clone(), "ECDH-ES", "A128GCM"));
        },
    ));
    // Decrypted, then validated as today: a forged signature inside is refused as such.
    let mut forged = row(
        "forged signature inside",
        ec_cbc.clone(),
        "signature",
        |b, _, ec| {
            b.signing = Signing::BadSignature;
            b.id_token_encryption =
                Some(Encrypt::new(ec.clone(), "ECDH-ES+A256KW", "A128CBC-HS256"))
        },
    );
    forged.status = Status::BadRequest;
    rows.push(forged);
    // An encrypted token where none is configured: malformed, not decrypted.
    let mut unexpected = row(
        "encrypted, not configured",
        json!({}),
        "encrypted",
        |b, rsa, _| {
            b.id_token_encryption = Some(Encrypt::new(rsa.clone(), "RSA-OAEP-256", "A256GCM"))
        },
    );
    unexpected.status = Status::BadRequest;
    rows.push(unexpected);

    let (rsa, ec) = published(&files).await;
    for row in rows {
        let provider = TestProvider::start().await;
        provider.set_user("hostile-enc", json!({}));
        provider.configure(|b| (row.setup)(b, &rsa, &ec));
        let before = support::logs::count(row.reason);
        let client = support::client_with(app(&provider, &files, row.settings.clone())).await;
        let login = provider.login(&client, "/").await;
        assert_eq!(login.status, row.status, "{}: {}", row.name, login.body);
        assert!(!login.session_created, "{}", row.name);
        assert!(
            login.body.contains("<html") || login.body.contains("<!DOCTYPE"),
            "{}: the error view",
            row.name
        );
        assert!(
            !login.body.contains("hostile-enc"),
            "{}: {}",
            row.name,
            login.body
        );
        assert_eq!(
            support::json_page(&client, "/", Accept::JSON).await.0,
            Status::Unauthorized,
            "{}",
            row.name
        );
        assert!(
            support::logs::count(row.reason) > before,
            "{}: no log line with `{}`: {:#?}",
            row.name,
            row.reason,
            support::logs::records()
                .iter()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
        );
        for token in provider.issued_tokens() {
            assert_eq!(
                support::logs::count(&token),
                0,
                "{}: a token logged",
                row.name
            );
            assert!(!login.body.contains(&token), "{}: a token shown", row.name);
        }
    }
}

#[rocket::async_test]
async fn wrong_encryption_settings_stop_the_launch_naming_the_key() {
    support::logs::capture();
    let provider = TestProvider::start().await;
    let files = key_files("jwe-launch");
    let key = "oidc.providers.default.id_token_encrypted_response";
    let rows = [
        (
            json!({"id_token_encrypted_response_alg": "RSA1_5"}),
            format!("{key}_alg: RSA1_5 is never accepted"),
        ),
        (
            json!({"id_token_encrypted_response_alg": "dir"}),
            format!("{key}_alg: dir is never accepted"),
        ),
        (
            json!({"id_token_encrypted_response_alg": "A128KW"}),
            format!("{key}_alg: is not one of"),
        ),
        (
            json!({"id_token_encrypted_response_alg": "ECDH-ES", "id_token_encrypted_response_enc": "A256CBC-HS512"}),
            format!("{key}_enc: is not one of"),
        ),
        (
            json!({"id_token_encrypted_response_enc": "A256GCM"}),
            format!("{key}_enc: needs id_token_encrypted_response_alg"),
        ),
        (
            json!({"userinfo_encrypted_response_alg": "RSA-OAEP"}),
            "oidc.providers.default.userinfo_encrypted_response_alg: is not one of".into(),
        ),
    ];
    for (settings, needle) in rows {
        support::launch_fails(app(&provider, &files, settings), &needle).await;
    }
    // Encryption without decryption keys, or without a key of the kind it needs.
    let rsa_only = &files[..1];
    let ecdh = json!({"id_token_encrypted_response_alg": "ECDH-ES"});
    let figment = app(&provider, rsa_only, ecdh.clone());
    support::launch_fails(
        figment,
        "oidc.providers.default.id_token_encrypted_response_alg: ECDH-ES needs an EC P-256 key in oidc.encryption_keys",
    )
    .await;
    let figment = app(&provider, &[], ecdh).merge(("oidc.jwks_path", Value::Null));
    support::launch_fails(
        figment,
        "oidc.providers.default.id_token_encrypted_response_alg: needs a key in oidc.encryption_keys",
    )
    .await;
    // Key files that are not keys we can use.
    let small = support::key_file(
        "jwe-launch",
        "small.pem",
        include_str!("fixtures/rsa1024.pem"),
    );
    let figment = app(&provider, &[small], json!({}));
    support::launch_fails(figment, "oidc.encryption_keys[0]").await;
    assert!(support::logs::count("1024 bits (2048 to 4096 are accepted)") >= 1);
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .serialize_pem();
    let ed = support::key_file("jwe-launch", "ed.pem", &ed);
    let figment = app(&provider, &[ed], json!({}));
    support::launch_fails(figment, "is not a PEM private key of EC P-256 or RSA").await;
    let same = vec![files[0].clone(), files[0].clone()];
    let figment = app(&provider, &same, json!({}));
    support::launch_fails(figment, "oidc.encryption_keys[1]").await;
}

#[rocket::async_test]
async fn registration_asks_for_the_configured_encryption() {
    let provider = TestProvider::start().await;
    let files = key_files("jwe-registration");
    let table = json!({
        "issuer": provider.issuer(),
        "scope": ["openid"],
        "registration": { "client_name": "encryption test" },
        "id_token_encrypted_response_alg": "ECDH-ES+A128KW",
        "userinfo_encrypted_response_alg": "RSA-OAEP-256",
        "userinfo_encrypted_response_enc": "A256GCM",
    });
    let figment = provider
        .app_figment()
        .merge(("oidc.providers.default", Value::Null))
        .merge(("oidc.providers.default", table))
        .merge(("oidc.encryption_keys", &files))
        .merge(("oidc.jwks_path", "/jwks.json"));
    let client = support::client_with(figment).await;
    let start = client.get("/").header(Accept::HTML).dispatch().await;
    assert_eq!(start.status(), Status::SeeOther);
    let sent = provider.last_registration().expect("a registration");
    assert_eq!(sent["id_token_encrypted_response_alg"], "ECDH-ES+A128KW");
    assert_eq!(sent["id_token_encrypted_response_enc"], "A128CBC-HS256");
    assert_eq!(sent["userinfo_encrypted_response_alg"], "RSA-OAEP-256");
    assert_eq!(sent["userinfo_encrypted_response_enc"], "A256GCM");
    assert_eq!(sent["jwks_uri"], "http://127.0.0.1:8000/jwks.json");
    // The published set holds both keys, for encryption.
    let jwks = client.get("/jwks.json").dispatch().await;
    let jwks: Value = serde_json::from_str(&jwks.into_string().await.unwrap()).unwrap();
    let uses: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["use"].as_str().unwrap())
        .collect();
    assert_eq!(uses, ["enc", "enc"]);
}

/// POSTs `token` to the back-channel logout route: status and body.
async fn backchannel(
    client: &rocket::local::asynchronous::Client,
    token: &str,
) -> (Status, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish();
    let response = client
        .post("/backchannel_logout")
        .header(rocket::http::ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    let status = response.status();
    (status, response.into_string().await.unwrap_or_default())
}

/// Why an encrypted logout token that does not open is refused (the same for every reason: the
/// details, which name the providers' settings, go to the log only).
const UNOPENED: &str =
    "it does not decrypt with our keys as the providers' ID tokens are encrypted";

/// Back-Channel Logout 2.6, step 1: a provider that encrypts ID tokens encrypts its logout
/// tokens the same way. Such a token ends the session; one not encrypted, or encrypted
/// otherwise, altered or to someone else, is refused (400, the reason in the answer,
/// the session untouched, no token echoed).
#[rocket::async_test]
async fn encrypted_logout_tokens_end_the_session_and_others_are_refused() {
    support::logs::capture();
    let files = key_files("jwe-logout");
    let (rsa, ec) = published(&files).await;
    let (_, other_ec) = published(&key_files("jwe-logout-stranger")).await;
    let provider = TestProvider::start().await;
    let ours = Encrypt::new(ec.clone(), "ECDH-ES", "A256GCM");
    provider.configure(|b| b.id_token_encryption = Some(ours.clone()));
    let settings = json!({"id_token_encrypted_response_alg": "ECDH-ES",
                          "id_token_encrypted_response_enc": "A256GCM"});
    // A second provider, whose ID tokens are not encrypted.
    let partner = TestProvider::start().await;
    let figment = app(&provider, &files, settings)
        .merge(("oidc.providers.partner", partner.provider_table()));
    let client = support::client_with(figment).await;
    assert!(provider.login(&client, "/").await.session_created);
    let (status, page) = support::json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    let sid = page["id_token"]["sid"].as_str().expect("a sid").to_owned();
    let token_with = |encryption: Option<Encrypt>| {
        provider.configure(|b| b.id_token_encryption = encryption);
        let sid = sid.clone();
        provider.logout_token(serde_json::Map::new(), |c| {
            c.insert("sid".into(), sid.into());
        })
    };
    let rows = [
        (
            "plain",
            None,
            "it is not encrypted (ECDH-ES with A256GCM is configured)",
        ),
        (
            "another recipient",
            Some(Encrypt::new(other_ec.clone(), "ECDH-ES", "A256GCM")),
            UNOPENED,
        ),
        (
            "another key management",
            Some(Encrypt::new(rsa.clone(), "RSA-OAEP-256", "A256GCM")),
            UNOPENED,
        ),
        (
            "another content encryption",
            Some(Encrypt::new(ec.clone(), "ECDH-ES", "A128GCM")),
            UNOPENED,
        ),
        ("tampered tag", Some(ours.clone().tampered(4)), UNOPENED),
        (
            "tampered ciphertext",
            Some(ours.clone().tampered(3)),
            UNOPENED,
        ),
    ];
    for (what, encryption, because) in rows {
        let token = token_with(encryption);
        let (status, body) = backchannel(&client, &token).await;
        assert_eq!(status, Status::BadRequest, "{what}: {body}");
        assert!(body.contains(because), "{what}: {body}");
        assert!(
            !body.contains("eyJ"),
            "{what}: a token in the answer: {body}"
        );
        let (status, _) = support::json_page(&client, "/", Accept::JSON).await;
        assert_eq!(status, Status::Ok, "{what}: the session ended");
    }
    // Encrypted as the first provider's ID tokens are, but from the second, which does not
    // encrypt: decrypted, then refused by its sender's setting.
    partner.configure(|b| b.id_token_encryption = Some(ours.clone()));
    let theirs = partner.logout_token(serde_json::Map::new(), |c| {
        c.insert("sub".into(), "someone".into());
    });
    let (status, body) = backchannel(&client, &theirs).await;
    assert_eq!(status, Status::BadRequest, "{body}");
    assert!(
        body.contains("it is not encrypted as its provider's ID tokens are"),
        "{body}"
    );
    let (status, _) = support::json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Ok);
    // Encrypted as the provider's ID tokens are: the session ends.
    let (status, body) = backchannel(&client, &token_with(Some(ours.clone()))).await;
    assert_eq!(status, Status::Ok, "{body}");
    let (status, _) = support::json_page(&client, "/", Accept::JSON).await;
    assert_eq!(status, Status::Unauthorized);
}
