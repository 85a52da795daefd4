//! Loading the relying party's own keys (`signing_keys`, `encryption_keys`) at ignite: each
//! file read and checked (see [`RpKey`](crate::protocol::rp_keys::RpKey) and
//! [`DecryptionKey`]); a file that cannot be read or holds no acceptable key stops the launch
//! naming the key and the file, and so does a provider whose encryption needs a kind of key
//! that is not there.

use std::sync::Arc;

use crate::config::OidcConfig;
use crate::protocol::jwe::DecryptionKey;
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
