//! Loading the relying party's own keys (`signing_keys`) at ignite: each file read and checked
//! (see [`RpKey`](crate::protocol::rp_keys::RpKey)); a file that cannot be read or holds no
//! acceptable key stops the launch naming the key and the file.

use std::sync::Arc;

use crate::config::OidcConfig;
use crate::protocol::rp_keys::{RpKey, RpKeys};
use crate::util::text::for_log;

/// The keys of `oidc.signing_keys`, in their order.
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
    Ok(Arc::new(RpKeys::new(keys)))
}
