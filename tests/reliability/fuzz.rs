//! Fuzz smoke run: the properties of the `cargo fuzz` targets in `fuzz/` (see RELIABILITY.md
//! for long runs), checked here with bounded proptest cases so that every `cargo test` runs
//! them. Inputs are arbitrary bytes and text, plus token soups that reach deep into the
//! parsers (random bytes rarely get past the first `{`).

use proptest::prelude::*;
use werf_sync::cache::{decode_record, encode_record};
use werf_sync::StageId;

/// Strings glued from fragments of werf's record format and of stage IDs.
fn token_soup(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(tokens), 0..24).prop_map(|t| t.concat())
}

const RECORD_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    " ",
    "\n",
    "\"stages\"",
    "\"digest\"",
    "\"uniqueID\"",
    "\"signature\"",
    "null",
    "true",
    "1",
    "-1",
    "0",
    "1647350000123",
    "9223372036854775807",
    "9223372036854775808",
    "1e3",
    "1.5",
    "\"a\"",
    "\"\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"é\"",
];

const STAGE_ID_TOKENS: &[&str] = &[
    "a",
    "0123456789abcdef",
    "-",
    "--",
    "1",
    "0",
    "1647350000123",
    "9223372036854775807",
    "9223372036854775808",
    "+1",
    " ",
    "é",
    "\0",
    "",
];

/// A valid input with up to three edits: a token inserted, a range deleted or a byte
/// replaced — the inputs that reach the parsers' later states.
fn mutated(valid: Vec<u8>, tokens: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        0..3u8,
        any::<prop::sample::Index>(),
        proptest::sample::select(tokens),
        any::<u8>(),
    );
    proptest::collection::vec(edit, 0..4).prop_map(move |edits| {
        let mut bytes = valid.clone();
        for (kind, at, token, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => drop(bytes.splice(i..i, token.bytes())),
                1 => drop(bytes.drain(i..(i + 3).min(bytes.len()))),
                _ if i < bytes.len() => bytes[i] = byte,
                _ => bytes.push(byte),
            }
        }
        bytes
    })
}

fn valid_record() -> Vec<u8> {
    let digest = "0123456789abcdef0123456789abcdef0123456789abcdef01234567";
    encode_record(&[
        StageId::new(digest, 1_647_350_000_123),
        StageId::new("x", -1),
    ])
}

/// The `cache_record` fuzz target's property.
fn record_property(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(stages) = decode_record(bytes) {
        let encoded = encode_record(&stages);
        prop_assert_eq!(
            decode_record(&encoded).expect("our own bytes parse"),
            stages
        );
    }
    Ok(())
}

/// The `stage_id` fuzz target's property.
fn stage_id_property(text: &str) -> Result<(), TestCaseError> {
    if let Ok(id) = text.parse::<StageId>() {
        prop_assert_eq!(
            id.to_string()
                .parse::<StageId>()
                .expect("printed ID parses"),
            id
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn cache_record_from_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        record_property(&bytes)?;
    }

    #[test]
    fn cache_record_from_token_soup(text in token_soup(RECORD_TOKENS)) {
        record_property(text.as_bytes())?;
    }

    #[test]
    fn cache_record_from_mutated_records(bytes in mutated(valid_record(), RECORD_TOKENS)) {
        record_property(&bytes)?;
    }

    #[test]
    fn stage_id_from_mutated_ids(bytes in mutated(b"0123456789abcdef-1647350000123".to_vec(), STAGE_ID_TOKENS)) {
        stage_id_property(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn stage_id_from_arbitrary_text(text in any::<String>()) {
        stage_id_property(&text)?;
    }

    #[test]
    fn stage_id_from_token_soup(text in token_soup(STAGE_ID_TOKENS)) {
        stage_id_property(&text)?;
    }
}
