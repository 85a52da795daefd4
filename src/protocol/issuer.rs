//! Which `iss` a token of a provider may carry: exactly its issuer, or, for a multi-tenant
//! provider (Microsoft Entra ID style), its issuer template with the token's own `tid` filled
//! in, for an allowed tenant.

use serde_json::{Map, Value};

/// The placeholder of an issuer template.
pub(crate) const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The rule a token's `iss` follows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IssuerRule<'a> {
    /// Exactly this issuer.
    Exact(&'a str),
    /// `template` with `{tenantid}` replaced by the token's `tid`, which must be one of
    /// `allowed` (or `allowed` is `["*"]`).
    Tenant {
        template: &'a str,
        allowed: &'a [String],
    },
}

impl IssuerRule<'_> {
    /// Whether `iss` is right for a token with these `claims` (for a multi-tenant provider,
    /// `iss` must be the template filled with the token's own `tid`).
    pub fn accepts(&self, iss: &str, claims: &Map<String, Value>) -> bool {
        match self {
            IssuerRule::Exact(issuer) => iss == *issuer,
            IssuerRule::Tenant { .. } => {
                let tid = claims.get("tid").and_then(Value::as_str);
                tid.is_some() && self.tenant_of(iss) == tid
            }
        }
    }

    /// Whether `iss` (an RFC 9207 `iss` parameter, which comes without claims) is the issuer,
    /// or for a multi-tenant provider the issuer of an allowed tenant.
    pub fn accepts_parameter(&self, iss: &str) -> bool {
        match self {
            IssuerRule::Exact(issuer) => iss == *issuer,
            IssuerRule::Tenant { .. } => self.tenant_of(iss).is_some(),
        }
    }

    /// The allowed tenant whose issuer `iss` is (the template around it, a well-formed id).
    fn tenant_of<'i>(&self, iss: &'i str) -> Option<&'i str> {
        let IssuerRule::Tenant { template, allowed } = self else {
            return None;
        };
        let (prefix, suffix) = template.split_once(TENANT_PLACEHOLDER)?;
        let tid = iss.strip_prefix(prefix)?.strip_suffix(suffix)?;
        let well_formed = !tid.is_empty()
            && tid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        let allowed = allowed.iter().any(|t| t == "*" || t == tid);
        (well_formed && allowed).then_some(tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(tid: Value) -> Map<String, Value> {
        json!({ "tid": tid }).as_object().cloned().unwrap()
    }

    #[test]
    fn a_tenant_issuer_is_the_template_with_an_allowed_tid() {
        let template = "https://login.example/{tenantid}/v2.0";
        let allowed = vec!["t-1".to_string()];
        let rule = IssuerRule::Tenant {
            template,
            allowed: &allowed,
        };
        assert!(rule.accepts("https://login.example/t-1/v2.0", &claims(json!("t-1"))));
        assert!(!rule.accepts("https://login.example/t-2/v2.0", &claims(json!("t-2"))));
        assert!(
            !rule.accepts("https://login.example/t-2/v2.0", &claims(json!("t-1"))),
            "iss of another tenant than the token's tid"
        );
        assert!(!rule.accepts("https://login.example/t-1/v2.0", &Map::new()));
        assert!(!rule.accepts(template, &claims(json!("{tenantid}"))));
        let any = vec!["*".to_string()];
        let rule = IssuerRule::Tenant {
            template,
            allowed: &any,
        };
        assert!(rule.accepts("https://login.example/t-9/v2.0", &claims(json!("t-9"))));
        assert!(!rule.accepts("https://login.example/a/b/v2.0", &claims(json!("a/b"))));
        assert!(IssuerRule::Exact("https://op").accepts("https://op", &Map::new()));
        assert!(!IssuerRule::Exact("https://op").accepts("https://op/", &Map::new()));
    }
}
