//! A provider's key set (RFC 7517) as published, sorted into the keys that may verify a
//! signature and the keys refused, each with its reason. Read from the raw JSON, because the
//! `openidconnect` crate's key type drops `key_ops` and hides `crv`, `n` and `x`.
//!
//! A key verifies signatures only if everything it says about itself allows it and it is
//! strong enough: `use` absent or `sig`; `key_ops` absent or a list of distinct operations
//! with `verify` (and consistent with `use`); no private key material; RSA keys of 2048 to
//! 4096 bits (RFC 7518 3.3, 3.5); EC keys on P-256 or P-384 with coordinates of the curve's
//! size; OKP keys on Ed25519; and an `alg`, if given, that fits the key. An EC or OKP key
//! without `alg` gets the one its curve implies, so that a token's `alg` must fit the curve
//! before the key is even tried.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::CoreJsonWebKeySet;
use serde_json::{Map, Value};

use crate::util::text::for_log;

/// At most this many keys of a key set are considered (the rest are refused).
pub(crate) const MAX_KEYS: usize = 100;

/// The keys that may verify signatures, and those refused.
pub(crate) struct KeySet {
    pub keys: CoreJsonWebKeySet,
    pub refused: Vec<RefusedKey>,
}

/// A key of the set that will never verify a signature, and why (for one log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefusedKey {
    /// The key's `kid`, made safe for a log line (`-` without one).
    pub kid: String,
    pub reason: String,
}

/// Sorts the `keys` of a key set document (an object whose `keys` is an array).
pub(crate) fn signing_keys(document: &Map<String, Value>) -> Result<KeySet, String> {
    let Some(Value::Array(published)) = document.get("keys") else {
        return Err("`keys` is not an array".into());
    };
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for (index, key) in published.iter().enumerate() {
        let kid = key
            .get("kid")
            .and_then(Value::as_str)
            .map_or_else(|| "-".to_owned(), |k| for_log(k, 64));
        let verdict = if index >= MAX_KEYS {
            Err(format!("more than {MAX_KEYS} keys in the set"))
        } else {
            usable(key)
        };
        match verdict {
            Ok(key) => kept.push(Value::Object(key)),
            Err(reason) => refused.push(RefusedKey { kid, reason }),
        }
    }
    let count = kept.len();
    let keys: CoreJsonWebKeySet = serde_json::from_value(serde_json::json!({ "keys": kept }))
        .map_err(|e| {
            format!(
                "the key set cannot be read: {}",
                for_log(&e.to_string(), 200)
            )
        })?;
    // Every kept key was checked above; one the parser still skipped is reported, not lost
    // silently.
    if keys.keys().len() != count {
        refused.push(RefusedKey {
            kid: "-".into(),
            reason: format!(
                "{} checked key(s) could not be read",
                count - keys.keys().len()
            ),
        });
    }
    Ok(KeySet { keys, refused })
}

/// The keys of a key set document a client may encrypt to (request objects): marked `use:
/// enc`, public parts only, RSA of 2048 to 4096 bits (`alg` absent or `RSA-OAEP-256`) or EC
/// P-256 (`alg` absent or of the `ECDH-ES` family; the point is checked when it is used). At
/// most the first [`MAX_KEYS`] of the set are looked at; the others are ignored.
pub(crate) fn encryption_keys(document: &Map<String, Value>) -> Vec<Value> {
    let Some(Value::Array(published)) = document.get("keys") else {
        return Vec::new();
    };
    published
        .iter()
        .take(MAX_KEYS)
        .filter_map(|key| {
            let key = key.as_object()?;
            if key.get("use").and_then(Value::as_str) != Some("enc") {
                return None;
            }
            let private = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
            if private.iter().any(|m| key.contains_key(*m)) {
                return None;
            }
            let alg = key.get("alg").map(Value::as_str);
            let fits = match key.get("kty").and_then(Value::as_str)? {
                "RSA" => {
                    let n = bytes(key, "n").ok()?;
                    bytes(key, "e").ok()?;
                    (2048..=4096).contains(&modulus_bits(&n))
                        && matches!(alg, None | Some(Some("RSA-OAEP-256")))
                }
                "EC" => {
                    key.get("crv").and_then(Value::as_str) == Some("P-256")
                        && bytes(key, "x").ok()?.len() == 32
                        && bytes(key, "y").ok()?.len() == 32
                        && matches!(
                            alg,
                            None | Some(Some("ECDH-ES" | "ECDH-ES+A128KW" | "ECDH-ES+A256KW"))
                        )
                }
                _ => false,
            };
            fits.then(|| Value::Object(key.clone()))
        })
        .collect()
}

/// The exact size in bits of the big-endian unsigned integer `n` (an RSA modulus).
pub(crate) fn modulus_bits(n: &[u8]) -> usize {
    let leading_zeros = n.iter().take_while(|b| **b == 0).count();
    let significant = &n[leading_zeros..];
    significant.len() * 8
        - significant
            .first()
            .map_or(0, |b| b.leading_zeros() as usize)
}

/// A public key sent with a message (a DPoP proof's `jwk`) to verify it with `alg`: the rules
/// of a provider's keys, and `alg` must fit the key.
pub(crate) fn public_key_for(key: &Value, alg: &str) -> Result<Map<String, Value>, String> {
    let Value::Object(key) = key else {
        return Err("not a JSON object".into());
    };
    let mut key = key.clone();
    match key.get("alg") {
        None => {
            key.insert("alg".into(), alg.into());
        }
        Some(Value::String(own)) if own == alg => {}
        Some(_) => return Err("its `alg` is not the message's".into()),
    }
    usable(&Value::Object(key))
}

/// The key as it will be used (an implied `alg` added), or why it is refused.
fn usable(key: &Value) -> Result<Map<String, Value>, String> {
    let Value::Object(key) = key else {
        return Err("not a JSON object".into());
    };
    let mut key = key.clone();
    if !matches!(key.get("kid"), None | Some(Value::String(_))) {
        return Err("its `kid` is not a string".into());
    }
    check_purpose(&key)?;
    let private = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    if let Some(member) = private.iter().find(|m| key.contains_key(**m)) {
        return Err(format!(
            "it publishes private or secret key material (`{member}`)"
        ));
    }
    let alg = match key.get("alg") {
        None => None,
        Some(Value::String(alg)) => Some(alg.clone()),
        Some(_) => return Err("its `alg` is not a string".into()),
    };
    let implied = match key.get("kty").and_then(Value::as_str) {
        Some("RSA") => check_rsa(&key, alg.as_deref())?,
        Some("EC") => check_ec(&key, alg.as_deref())?,
        Some("OKP") => check_okp(&key, alg.as_deref())?,
        Some("oct") => return Err("a symmetric key has no place in a public key set".into()),
        Some(other) => {
            return Err(format!(
                "key type `{}` is not supported",
                for_log(other, 16)
            ))
        }
        None => return Err("no `kty`".into()),
    };
    if let Some(implied) = implied {
        key.insert("alg".into(), implied.into());
    }
    Ok(key)
}

/// `use` and `key_ops` (RFC 7517 4.2, 4.3): the key is for verifying signatures.
fn check_purpose(key: &Map<String, Value>) -> Result<(), String> {
    match key.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(u)) if u == "enc" => return Err("it is marked for encryption".into()),
        Some(other) => {
            return Err(format!(
                "its `use` {} is not `sig`",
                for_log(&other.to_string(), 32)
            ))
        }
    }
    let Some(ops) = key.get("key_ops") else {
        return Ok(());
    };
    let Value::Array(ops) = ops else {
        return Err("its `key_ops` is not a list".into());
    };
    let mut seen: Vec<&str> = Vec::new();
    for op in ops {
        let Some(op) = op.as_str() else {
            return Err("its `key_ops` holds something else than names".into());
        };
        if seen.contains(&op) {
            return Err("its `key_ops` names an operation twice".into());
        }
        seen.push(op);
    }
    if !seen.contains(&"verify") {
        return Err("its `key_ops` do not include `verify`".into());
    }
    // With `use: sig`, only signature operations are consistent.
    if key.contains_key("use") && seen.iter().any(|op| !matches!(*op, "sign" | "verify")) {
        return Err("its `use` and `key_ops` disagree".into());
    }
    Ok(())
}

/// The bytes of a base64url member.
fn bytes(key: &Map<String, Value>, member: &str) -> Result<Vec<u8>, String> {
    let text = key
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no `{member}`"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("its `{member}` is not base64url"))
}

/// An RSA key of 2048 to 4096 bits, for RS* or PS*.
fn check_rsa(key: &Map<String, Value>, alg: Option<&str>) -> Result<Option<&'static str>, String> {
    if let Some(alg) = alg {
        if !matches!(
            alg,
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
        ) {
            return Err(alg_mismatch(alg, "an RSA key"));
        }
    }
    let n = bytes(key, "n")?;
    bytes(key, "e")?;
    let bits = modulus_bits(&n);
    if bits < 2048 {
        return Err(format!(
            "an RSA key of {bits} bits is too weak (at least 2048)"
        ));
    }
    if bits > 4096 {
        return Err(format!(
            "an RSA key of {bits} bits is larger than supported (at most 4096)"
        ));
    }
    Ok(None)
}

/// An EC key on P-256 (ES256) or P-384 (ES384), with coordinates of the curve's size.
fn check_ec(key: &Map<String, Value>, alg: Option<&str>) -> Result<Option<&'static str>, String> {
    let (curve_alg, size) = match key.get("crv").and_then(Value::as_str) {
        Some("P-256") => ("ES256", 32),
        Some("P-384") => ("ES384", 48),
        Some("P-521") => return Err("curve P-521 (ES512) is not supported".into()),
        Some(other) => return Err(format!("curve `{}` is not supported", for_log(other, 16))),
        None => return Err("no `crv`".into()),
    };
    for coordinate in ["x", "y"] {
        if bytes(key, coordinate)?.len() != size {
            return Err(format!(
                "its `{coordinate}` is not {size} bytes long, as its curve requires"
            ));
        }
    }
    match alg {
        None => Ok(Some(curve_alg)),
        Some(alg) if alg == curve_alg => Ok(None),
        Some(alg) => Err(alg_mismatch(alg, &format!("a key for {curve_alg}"))),
    }
}

/// An OKP key on Ed25519, for EdDSA.
fn check_okp(key: &Map<String, Value>, alg: Option<&str>) -> Result<Option<&'static str>, String> {
    match key.get("crv").and_then(Value::as_str) {
        Some("Ed25519") => {}
        Some(other) => return Err(format!("curve `{}` is not supported", for_log(other, 16))),
        None => return Err("no `crv`".into()),
    }
    if bytes(key, "x")?.len() != 32 {
        return Err("its `x` is not 32 bytes long, as Ed25519 requires".into());
    }
    match alg {
        None => Ok(Some("EdDSA")),
        Some("EdDSA") => Ok(None),
        // The fully specified name (RFC 9864) of the same algorithm.
        Some("Ed25519") => Ok(Some("EdDSA")),
        Some(alg) => Err(alg_mismatch(alg, "an Ed25519 key")),
    }
}

fn alg_mismatch(alg: &str, what: &str) -> String {
    format!(
        "its `alg` `{}` does not fit {what} (or is no signature algorithm)",
        for_log(alg, 32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(len: usize, first: u8) -> String {
        let mut bytes = vec![0x55u8; len];
        bytes[0] = first;
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa(bits: usize) -> Value {
        json!({"kty": "RSA", "kid": "r", "n": b64(bits / 8, 0xc5), "e": "AQAB"})
    }

    fn ec(crv: &str, size: usize) -> Value {
        json!({"kty": "EC", "kid": "e", "crv": crv, "x": b64(size, 1), "y": b64(size, 2)})
    }

    fn with(mut key: Value, member: &str, value: Value) -> Value {
        key[member] = value;
        key
    }

    fn sort(key: Value) -> Result<Map<String, Value>, String> {
        usable(&key)
    }

    #[test]
    fn keys_for_encryption_or_without_verify_never_verify() {
        let good = rsa(2048);
        assert!(sort(good.clone()).is_ok());
        for (label, key) in [
            ("use enc", with(good.clone(), "use", json!("enc"))),
            ("use other", with(good.clone(), "use", json!("SIG"))),
            (
                "ops encrypt",
                with(good.clone(), "key_ops", json!(["encrypt"])),
            ),
            (
                "ops sign only",
                with(good.clone(), "key_ops", json!(["sign"])),
            ),
            (
                "ops twice",
                with(good.clone(), "key_ops", json!(["verify", "verify"])),
            ),
            (
                "ops a string",
                with(good.clone(), "key_ops", json!("verify")),
            ),
            ("ops empty", with(good.clone(), "key_ops", json!([]))),
            (
                "use and ops disagree",
                with(
                    with(good.clone(), "use", json!("sig")),
                    "key_ops",
                    json!(["verify", "encrypt"]),
                ),
            ),
        ] {
            assert!(sort(key).is_err(), "{label}");
        }
        for ops in [json!(["verify"]), json!(["sign", "verify"])] {
            assert!(sort(with(good.clone(), "key_ops", ops)).is_ok());
        }
        assert!(sort(with(good, "use", json!("sig"))).is_ok());
    }

    #[test]
    fn weak_oversized_or_mismatched_keys_are_refused() {
        let reason = |key| sort(key).unwrap_err();
        assert!(reason(rsa(512)).contains("512 bits is too weak"));
        assert!(reason(rsa(1024)).contains("too weak"));
        assert!(sort(rsa(2048)).is_ok() && sort(rsa(4096)).is_ok());
        assert!(reason(rsa(8192)).contains("larger"));
        assert!(sort(with(rsa(2048), "alg", json!("PS256"))).is_ok());
        assert!(sort(with(rsa(2048), "alg", json!("ES256"))).is_err());
        assert!(sort(with(rsa(2048), "alg", json!("RSA-OAEP"))).is_err());
        // EC: the curve's algorithm, implied when absent; coordinates of its size.
        assert_eq!(sort(ec("P-256", 32)).unwrap()["alg"], "ES256");
        assert_eq!(sort(ec("P-384", 48)).unwrap()["alg"], "ES384");
        assert!(sort(with(ec("P-384", 48), "alg", json!("ES256"))).is_err());
        assert!(sort(ec("P-256", 31)).is_err());
        assert!(reason(ec("P-521", 66)).contains("not supported"));
        assert!(sort(ec("secp256k1", 32)).is_err());
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(32, 9)});
        assert_eq!(sort(ed.clone()).unwrap()["alg"], "EdDSA");
        assert_eq!(
            sort(with(ed.clone(), "alg", json!("Ed25519"))).unwrap()["alg"],
            "EdDSA"
        );
        assert!(sort(with(ed, "crv", json!("Ed448"))).is_err());
    }

    #[test]
    fn secrets_private_parts_and_nonsense_are_refused() {
        assert!(sort(json!({"kty": "oct", "k": "c2VjcmV0"})).is_err());
        assert!(sort(with(rsa(2048), "d", json!("AQAB")))
            .unwrap_err()
            .contains("`d`"));
        assert!(sort(with(rsa(2048), "kid", json!(5))).is_err());
        assert!(sort(json!("a string")).is_err());
        assert!(sort(json!({"kid": "x"})).is_err());
    }

    #[test]
    fn a_key_set_keeps_the_good_keys_and_names_the_refused_ones_safely() {
        let document = json!({"keys": [
            rsa(2048),
            with(rsa(1024), "kid", json!("weak\r\n[ERROR] forged")),
            with(ec("P-256", 32), "use", json!("enc")),
        ]});
        let set = signing_keys(document.as_object().unwrap()).unwrap();
        assert_eq!(set.keys.keys().len(), 1);
        assert_eq!(set.refused.len(), 2);
        assert_eq!(set.refused[0].kid, "weak\\r\\n[ERROR] forged");
        assert!(set.refused[1].reason.contains("encryption"));
        let many: Vec<Value> = (0..MAX_KEYS + 2).map(|_| rsa(2048)).collect();
        let set = signing_keys(json!({"keys": many}).as_object().unwrap()).unwrap();
        assert_eq!((set.keys.keys().len(), set.refused.len()), (MAX_KEYS, 2));
        assert!(signing_keys(json!({"keys": {}}).as_object().unwrap()).is_err());
    }

    #[test]
    fn encryption_keys_are_the_usable_enc_keys_only() {
        let n = URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
        let small = URL_SAFE_NO_PAD.encode([0xc5u8; 128]);
        let c = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let document = serde_json::json!({"keys": [
            {"kty": "RSA", "use": "enc", "n": n, "e": "AQAB", "kid": "rsa"},
            {"kty": "RSA", "use": "enc", "n": small, "e": "AQAB", "kid": "small"},
            {"kty": "RSA", "use": "sig", "n": n, "e": "AQAB", "kid": "sig"},
            {"kty": "RSA", "n": n, "e": "AQAB", "kid": "no-use"},
            {"kty": "RSA", "use": "enc", "alg": "RSA1_5", "n": n, "e": "AQAB", "kid": "rsa15"},
            {"kty": "EC", "use": "enc", "crv": "P-256", "x": c, "y": c, "kid": "ec"},
            {"kty": "EC", "use": "enc", "crv": "P-384", "x": c, "y": c, "kid": "p384"},
            {"kty": "EC", "use": "enc", "crv": "P-256", "x": c, "y": c, "d": c, "kid": "private"},
            {"kty": "oct", "use": "enc", "k": c, "kid": "oct"},
        ]});
        let kept: Vec<_> = encryption_keys(document.as_object().unwrap())
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kept, ["rsa", "ec"]);
    }
}
