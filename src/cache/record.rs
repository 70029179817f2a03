//! The record format: exactly what Go's `encoding/json` writes for werf's
//! `StagesStorageCacheRecord`, plus `\n` (spec §4):
//!
//! ```text
//! {"stages":[{"digest":"<digest>","uniqueID":1647350000123}]}
//! {"stages":null}                      <- an empty record ("cached: no stages")
//! ```
//!
//! Reading accepts exactly that shape, whitespace-insensitive, with `null` or `[]` for an
//! empty list. Anything else is undecodable and the caller treats it as a miss — including
//! werf's legacy records (a `signature` key instead of `digest`, or a string `uniqueID`).
//! werf itself misses on a string `uniqueID`; on a `signature` key Go would yield stages with
//! empty digests, which are no stages at all, so a miss is the safe reading of both.

use std::io::Write;

use serde::Deserialize;

use super::StageId;

/// Encodes `stages` byte-for-byte as werf writes them.
pub(crate) fn encode(stages: &[StageId]) -> Vec<u8> {
    let size: usize = stages.iter().map(|s| s.digest.len() + 40).sum();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(b"{\"stages\":");
    if stages.is_empty() {
        // Go marshals a nil slice as `null`, and werf passes nil for "no stages".
        out.extend_from_slice(b"null");
    } else {
        out.push(b'[');
        for (i, stage) in stages.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"digest\":");
            encode_go_string(&stage.digest, &mut out);
            out.extend_from_slice(b",\"uniqueID\":");
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{}", stage.unique_id);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.extend_from_slice(b"}\n");
    out
}

/// A JSON string as Go's `encoding/json` writes it with HTML escaping on (the default of
/// `json.Marshal`): `"` `\` `\n` `\r` `\t` short, other control characters and `<` `>` `&`
/// as `\u00XX`, U+2028 and U+2029 as `\u2028`/`\u2029`. (Go ≥ 1.22 writes `\b` and `\f`
/// short; werf v1.2 predates that, and every JSON reader accepts both.)
fn encode_go_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    // Runs of bytes that need no escape (all of a digest) are found with a table and copied
    // in one piece: escaping char by char made encoding most of the cost of storing a large
    // record. A byte that is not plain is ASCII or 0xE2, so it always starts a character.
    let bytes = text.as_bytes();
    let (mut run_start, mut i) = (0, 0);
    while i < bytes.len() {
        if PLAIN[usize::from(bytes[i])] {
            i += 1;
            continue;
        }
        let ch = text[i..]
            .chars()
            .next()
            .expect("a non-plain byte starts a character");
        let mut buf = [0; 6];
        if let Some(escape) = go_escape(ch, &mut buf) {
            out.extend_from_slice(&bytes[run_start..i]);
            out.extend_from_slice(escape);
            run_start = i + ch.len_utf8();
        }
        i += ch.len_utf8();
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// Bytes copied as they are without a look at their character: all but the ASCII that Go
/// escapes and 0xE2, the first byte of U+2028 and U+2029.
const PLAIN: [bool; 256] = {
    let mut table = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = false;
        b += 1;
    }
    let mut i = 0;
    let special = b"\"\\<>&\xe2";
    while i < special.len() {
        table[special[i] as usize] = false;
        i += 1;
    }
    table
};

/// The escape Go writes for `ch` (in `buf` when it is computed), or `None` when `ch` is
/// written as it is.
fn go_escape(ch: char, buf: &mut [u8; 6]) -> Option<&[u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    Some(match ch {
        '"' => b"\\\"",
        '\\' => b"\\\\",
        '\n' => b"\\n",
        '\r' => b"\\r",
        '\t' => b"\\t",
        '\u{2028}' => b"\\u2028",
        '\u{2029}' => b"\\u2029",
        c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
            let b = c as u8;
            *buf = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ];
            &buf[..]
        }
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn {
    // `deserialize_with` makes the key required: a missing `stages` is not werf's format.
    #[serde(deserialize_with = "Option::deserialize")]
    stages: Option<Vec<StageIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageIn {
    digest: String,
    #[serde(rename = "uniqueID")]
    unique_id: i64,
}

/// Decodes a record; the error says why it is not one (for the diagnostic of a miss).
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<StageId>, serde_json::Error> {
    let record: RecordIn = serde_json::from_slice(bytes)?;
    Ok(record
        .stages
        .unwrap_or_default()
        .into_iter()
        .map(|s| StageId::new(s.digest, s.unique_id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_escapes_html_and_line_separators() {
        let mut out = Vec::new();
        encode_go_string("a<b>&\"\\\n\t\u{1}é\u{2028}", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a\u003cb\u003e\u0026\"\\\n\t\u0001é\u2028""#
        );
    }

    #[test]
    fn legacy_and_foreign_shapes_are_undecodable() {
        for bad in [
            r#"{"stages":[{"signature":"d","uniqueID":1}]}"#,
            r#"{"stages":[{"digest":"d","uniqueID":"1"}]}"#,
            r#"{"stages":[{"digest":"d","uniqueID":1.5}]}"#,
            r#"{"stages":[{"digest":"d"}]}"#,
            r#"{"stages":[{"digest":"d","uniqueID":1,"extra":2}]}"#,
            r#"{"stages":[]}x"#,
            r#"{}"#,
            r#"null"#,
            "",
        ] {
            assert!(decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn null_and_empty_list_are_an_empty_record() {
        assert_eq!(decode(b"{\"stages\":null}\n").unwrap(), vec![]);
        assert_eq!(decode(b" { \"stages\" : [ ] } ").unwrap(), vec![]);
    }

    /// The escaping spelled out one character at a time, to check the run-copying encoder.
    fn go_string_char_by_char(text: &str) -> Vec<u8> {
        let mut out = vec![b'"'];
        for ch in text.chars() {
            match ch {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c if (c as u32) < 0x20 || "<>&".contains(c) => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => out.extend_from_slice(c.to_string().as_bytes()),
            }
        }
        out.push(b'"');
        out
    }

    proptest! {
        #[test]
        fn escaping_matches_char_by_char(text in ".*|[a-z<>&\"\\\\\n\u{1}\u{2028}é]*") {
            let mut out = Vec::new();
            encode_go_string(&text, &mut out);
            prop_assert_eq!(out, go_string_char_by_char(&text));
        }

        #[test]
        fn round_trip(stages in proptest::collection::vec(
            (any::<String>(), any::<i64>()).prop_map(|(d, u)| StageId::new(d, u)), 0..8)) {
            let bytes = encode(&stages);
            prop_assert_eq!(decode(&bytes).unwrap(), stages.clone());
            // Any JSON reader sees the same document (our escaping is valid JSON).
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let expected = if stages.is_empty() {
                serde_json::json!({ "stages": null })
            } else {
                serde_json::json!({ "stages": stages })
            };
            prop_assert_eq!(value, expected);
        }
    }
}
