//! Criterion benches of signed and encrypted messages: a login round trip (the in-process
//! provider's work included) with a signed ID token, with an ID token encrypted with ECDH-ES
//! and with RSA-OAEP-256, and with a JARM response signed and signed-then-encrypted; and one
//! JWE decryption per key management (the `jwe` fuzz target's entry: decryption, then the
//! header read again for its assertions).
//!
//! `cargo bench --features fuzzing --bench messages` (release). `cargo test --benches
//! --all-features` runs each once (CI smoke).

use criterion::{criterion_group, criterion_main, Criterion};
use rocket::figment::Figment;
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_openidconnect::testing::{Alg, Encrypt, TestProvider};
use rocket_openidconnect::{OidcUser, OpenIdConnect};
use serde_json::Value;

#[get("/guarded")]
fn guarded(user: OidcUser) -> &'static str {
    let _ = user.claims().subject();
    "ok"
}

fn app(figment: Figment) -> rocket::Rocket<rocket::Build> {
    rocket::custom(figment)
        .attach(OpenIdConnect::fairing())
        .mount("/", routes![guarded])
}

/// A decryption key file of the bench (RSA: the tests' fixture; EC: made now).
fn key_files() -> Vec<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("roidc-bench-messages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .expect("an EC key")
        .serialize_pem();
    let files = [
        (
            "rsa.pem",
            include_str!("../tests/fixtures/rp-rsa2048.pem").to_owned(),
        ),
        ("ec.pem", ec),
    ];
    files
        .into_iter()
        .map(|(name, pem)| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("a key file");
            path
        })
        .collect()
}

/// A login bench: its name, the app's settings of provider `default`, what the provider
/// encrypts to (key, alg, enc), and whether that is the JARM response (else the ID token).
type Run<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    Option<(Value, &'a str, &'a str)>,
    bool,
);

fn benches(c: &mut Criterion) {
    let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let files = key_files();
    let (provider, clients) = runtime.block_on(async {
        let provider = TestProvider::start_with(Alg::Es256).await;
        let with_keys = provider
            .app_figment()
            .merge(("oidc.encryption_keys", &files))
            .merge(("oidc.jwks_path", "/jwks.json"));
        // The app's public keys, to encrypt to.
        let probe = Client::tracked(app(with_keys.clone()))
            .await
            .expect("the app");
        let set: Value = serde_json::from_str(
            &probe
                .get("/jwks.json")
                .dispatch()
                .await
                .into_string()
                .await
                .unwrap(),
        )
        .expect("a key set");
        let of = |kty: &str| {
            set["keys"]
                .as_array()
                .and_then(|keys| keys.iter().find(|k| k["kty"] == kty))
                .cloned()
                .expect("a key")
        };
        let (rsa, ec) = (of("RSA"), of("EC"));
        let mut clients = Vec::new();
        // (name, app settings for provider `default`, what the provider encrypts)
        let runs: [Run; 5] = [
            ("signed ID token", &[], None, false),
            (
                "ID token encrypted, ECDH-ES A128GCM",
                &[
                    ("id_token_encrypted_response_alg", "ECDH-ES"),
                    ("id_token_encrypted_response_enc", "A128GCM"),
                ],
                Some((ec.clone(), "ECDH-ES", "A128GCM")),
                false,
            ),
            (
                "ID token encrypted, RSA-OAEP-256 A256GCM",
                &[
                    ("id_token_encrypted_response_alg", "RSA-OAEP-256"),
                    ("id_token_encrypted_response_enc", "A256GCM"),
                ],
                Some((rsa.clone(), "RSA-OAEP-256", "A256GCM")),
                false,
            ),
            (
                "JARM query.jwt, signed",
                &[
                    ("response_mode", "query.jwt"),
                    ("authorization_signed_response_alg", "ES256"),
                ],
                None,
                false,
            ),
            (
                "JARM query.jwt, signed then encrypted (ECDH-ES)",
                &[
                    ("response_mode", "query.jwt"),
                    ("authorization_encrypted_response_alg", "ECDH-ES"),
                    ("authorization_signed_response_alg", "ES256"),
                ],
                Some((ec.clone(), "ECDH-ES", "A128CBC-HS256")),
                true,
            ),
        ];
        for (name, settings, encrypt, jarm) in runs {
            let mut figment = with_keys.clone();
            for (key, value) in settings {
                figment = figment.merge((format!("oidc.providers.default.{key}"), *value));
            }
            let client = Client::tracked(app(figment)).await.expect("the app");
            let encrypt = encrypt.map(|(to, alg, enc)| Encrypt::new(to, alg, enc));
            clients.push((name, client, encrypt, jarm));
        }
        (provider, clients)
    });

    let mut group = c.benchmark_group("messages login");
    group.sample_size(20);
    for (name, client, encrypt, jarm) in &clients {
        group.bench_function(format!("round trip, {name}"), |b| {
            provider.configure(|behaviour| {
                behaviour.id_token_encryption = encrypt.clone().filter(|_| !jarm);
                behaviour.authorization_encryption = encrypt.clone().filter(|_| *jarm);
            });
            b.to_async(&runtime).iter(|| async {
                client.get("/logout").dispatch().await;
                let login = provider.login(client, "/guarded").await;
                assert_eq!(login.status.code, 303, "{name}: {}", login.body);
            })
        });
    }
    group.finish();

    let seeds = rocket_openidconnect::fuzzing::jwe_seeds(&[b'x'; 900]);
    let mut group = c.benchmark_group("jwe decrypt");
    for (index, name) in [
        (2, "RSA-OAEP-256 A256GCM"),
        (5, "ECDH-ES A256GCM"),
        (11, "ECDH-ES+A256KW A256GCM"),
    ] {
        let seed = &seeds[index];
        group.bench_function(name, |b| {
            b.iter(|| rocket_openidconnect::fuzzing::jwe(seed))
        });
    }
    group.finish();
}

criterion_group!(messages, benches);
criterion_main!(messages);
