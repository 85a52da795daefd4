//! docs/configuration.md is the one place where configuration keys are documented: every key of
//! `[default.oidc]` and of a provider table has its `### `key`` heading there, in its section,
//! and every such heading is a key. The keys are read from the configuration types themselves
//! (the field names their `Deserialize` asks for), so neither side can drift.

use std::collections::BTreeSet;

use rocket_openidconnect::{OidcConfig, ProviderConfig};
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A deserializer that only records the field names a struct asks for.
struct FieldNames<'a>(&'a mut Vec<&'static str>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.extend_from_slice(fields);
        Err(de::Error::custom("only the field names were wanted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

fn keys_of<'de, T: Deserialize<'de>>() -> BTreeSet<String> {
    let mut fields = Vec::new();
    let _ = T::deserialize(FieldNames(&mut fields));
    assert!(!fields.is_empty(), "no field names were read");
    fields.into_iter().map(str::to_owned).collect()
}

/// The `### `key`` headings of the `## ` section whose heading starts with `section`.
fn documented(doc: &str, section: &str) -> BTreeSet<String> {
    let start = doc
        .lines()
        .position(|l| l.starts_with("## ") && l[3..].starts_with(section))
        .unwrap_or_else(|| panic!("docs/configuration.md has no section `## {section}`"));
    doc.lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

fn reference() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    std::fs::read_to_string(path).expect("docs/configuration.md")
}

#[test]
fn every_key_of_the_oidc_table_is_documented_once_and_nothing_else() {
    let doc = reference();
    let keys = keys_of::<OidcConfig>();
    assert!(
        keys.contains("base_url") && keys.contains("providers"),
        "{keys:?}"
    );
    assert_eq!(documented(&doc, "The `oidc` table"), keys);
}

#[test]
fn every_key_of_a_provider_table_is_documented_once_and_nothing_else() {
    let doc = reference();
    let keys = keys_of::<ProviderConfig>();
    assert!(
        keys.contains("issuer") && keys.contains("client_id"),
        "{keys:?}"
    );
    assert_eq!(documented(&doc, "A provider"), keys);
}

#[test]
fn a_heading_is_counted_once() {
    let doc = reference();
    for section in ["The `oidc` table", "A provider"] {
        let start = doc.find(&format!("## {section}")).unwrap();
        let body = &doc[start..];
        let body = &body[3..body[3..].find("\n## ").map_or(body.len(), |i| i + 3)];
        let headings: Vec<&str> = body.lines().filter(|l| l.starts_with("### `")).collect();
        let unique: BTreeSet<&str> = headings
            .iter()
            .map(|l| l[5..].split('`').next().unwrap())
            .collect();
        assert_eq!(
            headings.len(),
            unique.len(),
            "a key documented twice in {section}"
        );
    }
}
