//! Loading the relying party's own keys (`signing_keys`, `encryption_keys`) at ignite: each
//! file read and checked (see [`RpKey`](crate::protocol::rp_keys::RpKey) and
//! [`DecryptionKey`]); a file that cannot be read or holds no acceptable key stops the launch
//! naming the key and the file, and so does a provider whose encryption needs a kind of key
//! that is not there.

use std::sync::Arc;

use crate::config::OidcConfig;
use crate::protocol::jwe::{decrypt, DecryptionKey, Encryption};
use crate::protocol::rp_keys::{RpKey, RpKeys};
use crate::util::text::for_log;

/// The keys of `oidc.signing_keys` (in their order) and `oidc.encryption_keys`.
pub(crate) fn load(config: &OidcConfig) -> Result<Arc<RpKeys>, String> {
    let mut keys = Vec::new();
    for (index, path) in config.signing_keys.iter().enumerate() {
        let name = format!(
            "oidc.signing_keys[{index}] ({})",
            for_log(&path.display().to_string(), 200)
        );
        let pem = std::fs::read(path).map_err(|e| format!("{name}: cannot be read: {e}"))?;
        let key = RpKey::from_pem(&pem).map_err(|why| format!("{name}: {why}"))?;
        if keys.iter().any(|k: &RpKey| k.kid() == key.kid()) {
            return Err(format!("{name}: holds a key listed before"));
        }
        keys.push(key);
    }
    let mut decryption = Vec::new();
    for (index, path) in config.encryption_keys.iter().enumerate() {
        let name = format!(
            "oidc.encryption_keys[{index}] ({})",
            for_log(&path.display().to_string(), 200)
        );
        let pem = std::fs::read(path).map_err(|e| format!("{name}: cannot be read: {e}"))?;
        let key = DecryptionKey::from_pem(&pem).map_err(|why| format!("{name}: {why}"))?;
        if decryption
            .iter()
            .any(|k: &DecryptionKey| k.kid() == key.kid())
            || keys.iter().any(|k| k.kid() == key.kid())
        {
            return Err(format!("{name}: holds a key listed before"));
        }
        decryption.push(key);
    }
    for (provider, settings) in &config.providers {
        for (what, encryption) in [
            ("id_token", settings.id_token_encryption()),
            ("userinfo", settings.userinfo_encryption()),
            ("authorization", settings.authorization_encryption()),
        ] {
            if let Some(encryption) = encryption {
                if !decryption.iter().any(|k| k.serves(encryption.alg)) {
                    let kind = if encryption.alg.is_rsa() {
                        "RSA"
                    } else {
                        "EC P-256"
                    };
                    return Err(format!(
                        "oidc.providers.{provider}.{what}_encrypted_response_alg: {} needs an \
                         {kind} key in oidc.encryption_keys",
                        encryption.alg.name()
                    ));
                }
            }
        }
    }
    Ok(Arc::new(RpKeys::new(keys).with_decryption(decryption)))
}

/// Why a JWE was not opened.
#[derive(Debug)]
pub(crate) enum Unopened {
    /// As many decryptions as allowed are running: nothing was tried (the caller answers
    /// 503, so that a provider tries again).
    Busy,
    /// It does not decrypt, or what it holds is not text: why.
    Refused(String),
}

/// At most this many private-key decryptions run at once: half the CPUs, at least one. JWEs
/// reach the back-channel logout route from anyone; a flood must cost a 503 each, not the
/// server's every core.
fn decryptions() -> &'static Arc<tokio::sync::Semaphore> {
    static PERMITS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(tokio::sync::Semaphore::new((cpus / 2).max(1)))
    })
}

/// The text inside `raw`, a compact JWE to the relying party's `keys` with `encryption`,
/// decrypted on a blocking thread (a private-key operation: up to milliseconds for RSA) so
/// that the server's async workers go on serving meanwhile; [`Unopened::Busy`] at once when
/// as many decryptions as allowed are running.
pub(crate) async fn decrypt_off_thread(
    keys: &Arc<RpKeys>,
    raw: &str,
    encryption: Encryption,
) -> Result<String, Unopened> {
    let permit = decryptions()
        .clone()
        .try_acquire_owned()
        .map_err(|_| Unopened::Busy)?;
    let (raw, keys) = (raw.to_owned(), keys.clone());
    let plain = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        decrypt(&raw, keys.decryption(), encryption)
    })
    .await
    .map_err(|_| Unopened::Refused("its decryption was cancelled".into()))?
    .map_err(Unopened::Refused)?;
    String::from_utf8(plain).map_err(|_| Unopened::Refused("what it holds is not text".into()))
}

/// The text inside `raw`, decrypted with the first of `settings` that opens it (the settings
/// given, each distinct one tried once, in order; a setting whose algorithms the header does
/// not name fails before any key operation), and that setting; else the reasons, one per
/// setting.
pub(crate) async fn decrypt_with_any(
    keys: &Arc<RpKeys>,
    raw: &str,
    settings: impl IntoIterator<Item = Option<Encryption>>,
) -> Result<(String, Encryption), Unopened> {
    let mut distinct: Vec<Encryption> = Vec::new();
    for encryption in settings.into_iter().flatten() {
        if !distinct.contains(&encryption) {
            distinct.push(encryption);
        }
    }
    let mut reasons = Vec::new();
    for encryption in distinct {
        match decrypt_off_thread(keys, raw, encryption).await {
            Ok(plain) => return Ok((plain, encryption)),
            Err(Unopened::Busy) => return Err(Unopened::Busy),
            Err(Unopened::Refused(why)) => reasons.push(why),
        }
    }
    Err(Unopened::Refused(if reasons.is_empty() {
        "no encryption is configured for it".into()
    } else {
        reasons.join("; ")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jwe::{ContentEncryption, KeyManagement};

    #[tokio::test]
    async fn decryptions_beyond_the_limit_are_refused_at_once_as_busy() {
        let keys = Arc::new(RpKeys::new(Vec::new()));
        let encryption = Encryption {
            alg: KeyManagement::EcdhEs,
            enc: ContentEncryption::A256Gcm,
        };
        let all = decryptions().available_permits() as u32;
        let held = decryptions().clone().acquire_many_owned(all).await.unwrap();
        let busy = decrypt_off_thread(&keys, "a.b.c.d.e", encryption).await;
        assert!(matches!(busy, Err(Unopened::Busy)), "{busy:?}");
        let busy = decrypt_with_any(&keys, "a.b.c.d.e", [Some(encryption)]).await;
        assert!(matches!(busy, Err(Unopened::Busy)), "{busy:?}");
        drop(held);
        let refused = decrypt_off_thread(&keys, "a.b.c.d.e", encryption).await;
        assert!(matches!(refused, Err(Unopened::Refused(_))), "{refused:?}");
    }
}
