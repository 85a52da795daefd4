//! A session's encoding into cookie-sized chunks (pure: the cookie jar encrypts each chunk).
//!
//! Each chunk is encrypted separately by the private cookie jar, with the cookie name (which
//! carries the chunk index) as associated data, so chunks cannot be reordered; a random
//! generation tag in every chunk stops chunks of two different sessions from being mixed.

/// Plaintext bytes per cookie chunk: after AES-GCM, base64 and percent-encoding a chunk stays
/// under the 4096 bytes every browser accepts.
pub(crate) const CHUNK_PLAINTEXT: usize = 2400;
/// At most this many chunks (about 24 KB of session) are written or read.
pub(crate) const MAX_CHUNKS: usize = 10;

/// Splits `plaintext` into chunks of at most [`CHUNK_PLAINTEXT`] bytes, each prefixed with
/// `generation:count:`. Returns `None` if more than [`MAX_CHUNKS`] would be needed.
pub(crate) fn encode_chunks(plaintext: &str, generation: u64) -> Option<Vec<String>> {
    let mut pieces = Vec::new();
    let mut rest = plaintext;
    while !rest.is_empty() || pieces.is_empty() {
        let mut cut = rest.len().min(CHUNK_PLAINTEXT);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if pieces.len() > MAX_CHUNKS {
        return None;
    }
    let count = pieces.len();
    Some(
        pieces
            .into_iter()
            .map(|piece| format!("{generation:x}:{count}:{piece}"))
            .collect(),
    )
}

/// Reassembles chunks read by index (`chunk(i)` is the decrypted value of chunk `i`). Any
/// missing, foreign or inconsistent chunk gives `None`: no session.
pub(crate) fn decode_chunks(mut chunk: impl FnMut(usize) -> Option<String>) -> Option<String> {
    let first = chunk(0)?;
    let (generation, count, data) = split_chunk(&first)?;
    if count == 0 || count > MAX_CHUNKS {
        return None;
    }
    let mut plaintext = String::from(data);
    for index in 1..count {
        let value = chunk(index)?;
        let (g, c, data) = split_chunk(&value)?;
        if g != generation || c != count {
            return None;
        }
        plaintext.push_str(data);
    }
    Some(plaintext)
}

fn split_chunk(value: &str) -> Option<(&str, usize, &str)> {
    let (generation, rest) = value.split_once(':')?;
    let (count, data) = rest.split_once(':')?;
    Some((generation, count.parse().ok()?, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> Option<String> {
        let chunks = encode_chunks(text, 7)?;
        decode_chunks(|i| chunks.get(i).cloned())
    }

    #[test]
    fn chunks_roundtrip_at_every_size() {
        for len in [
            0,
            1,
            CHUNK_PLAINTEXT - 1,
            CHUNK_PLAINTEXT,
            CHUNK_PLAINTEXT + 1,
            9_000,
        ] {
            let text: String = "é-x".chars().cycle().take(len).collect();
            assert_eq!(
                roundtrip(&text).as_deref(),
                Some(text.as_str()),
                "len {len}"
            );
        }
        assert_eq!(encode_chunks(&"x".repeat(5_000), 1).unwrap().len(), 3);
        assert!(encode_chunks(&"x".repeat(CHUNK_PLAINTEXT * MAX_CHUNKS + 1), 1).is_none());
    }

    #[test]
    fn missing_mixed_or_extra_chunks_give_no_session() {
        let a = encode_chunks(&"a".repeat(5_000), 1).unwrap();
        let b = encode_chunks(&"b".repeat(5_000), 2).unwrap();
        // A chunk missing.
        assert!(decode_chunks(|i| if i == 1 { None } else { a.get(i).cloned() }).is_none());
        // A chunk from another session.
        assert!(decode_chunks(|i| if i == 1 {
            b.get(1).cloned()
        } else {
            a.get(i).cloned()
        })
        .is_none());
        // Garbage.
        assert!(decode_chunks(|_| Some("nonsense".into())).is_none());
        assert!(decode_chunks(|_| Some("1:99:x".into())).is_none());
        // An extra stale chunk past the count is ignored (and cleared on the next write).
        let mut with_extra = a.clone();
        with_extra.push(b[0].clone());
        assert_eq!(
            decode_chunks(|i| with_extra.get(i).cloned()).map(|s| s.len()),
            Some(5_000)
        );
    }
}
