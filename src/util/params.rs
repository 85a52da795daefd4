//! `application/x-www-form-urlencoded` parameters of untrusted requests (callbacks, logout
//! returns, logout tokens, login requests).

use thiserror::Error;

/// Largest query or form body accepted.
pub(crate) const MAX_PARAMS_LEN: usize = 16 * 1024;

/// Why parameters were refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub(crate) enum ParamError {
    /// Longer than [`MAX_PARAMS_LEN`].
    #[error("the request is too large")]
    TooLarge,
    /// A parameter appears twice (never "first wins" or "last wins").
    #[error("the parameter `{0}` appears more than once")]
    Repeated(String),
}

/// Parses at most [`MAX_PARAMS_LEN`] bytes into the parameters named in `known` (others are
/// ignored). A known parameter given twice is an error.
pub(crate) fn parse_params<const N: usize>(
    input: &str,
    known: [&str; N],
) -> Result<[Option<String>; N], ParamError> {
    if input.len() > MAX_PARAMS_LEN {
        return Err(ParamError::TooLarge);
    }
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for (key, value) in url::form_urlencoded::parse(input.as_bytes()) {
        let Some(index) = known.iter().position(|name| *name == key) else {
            continue;
        };
        if values[index].is_some() {
            return Err(ParamError::Repeated(crate::util::text::for_log(&key, 64)));
        }
        values[index] = Some(value.into_owned());
    }
    Ok(values)
}

/// Parses at most [`MAX_PARAMS_LEN`] bytes into every parameter, in order; any parameter
/// given twice is an error.
pub(crate) fn parse_all_params(input: &str) -> Result<Vec<(String, String)>, ParamError> {
    if input.len() > MAX_PARAMS_LEN {
        return Err(ParamError::TooLarge);
    }
    let mut all: Vec<(String, String)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(input.as_bytes()) {
        if all.iter().any(|(k, _)| *k == key) {
            return Err(ParamError::Repeated(crate::util::text::for_log(&key, 64)));
        }
        all.push((key.into_owned(), value.into_owned()));
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_are_read_once() {
        let [a, b] = parse_params("a=1&c=3&b=%2F", ["a", "b"]).unwrap();
        assert_eq!((a.as_deref(), b.as_deref()), (Some("1"), Some("/")));
        assert_eq!(
            parse_params("a=1&a=2", ["a"]),
            Err(ParamError::Repeated("a".into()))
        );
        assert!(
            parse_params("c=1&c=2", ["a"]).is_ok(),
            "unknown ones are ignored"
        );
        assert_eq!(
            parse_params(&"a".repeat(MAX_PARAMS_LEN + 1), ["a"]),
            Err(ParamError::TooLarge)
        );
        assert_eq!(parse_all_params("x=1&y=2").unwrap().len(), 2);
        assert!(parse_all_params("x=1&x=1").is_err());
    }
}
