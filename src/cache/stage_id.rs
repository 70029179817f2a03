//! A stage ID: the digest of a stage plus the moment it was stored (spec §4).

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One stage in the stages storage: its digest and its unique ID, the Unix epoch time in
/// milliseconds (UTC) when it was stored.
///
/// The string form is `DIGEST-UNIXMILLIS` (werf's image tag). A digest may itself contain
/// `-`, so parsing splits at the *last* one. Serializes as werf's `{"digest","uniqueID"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StageId {
    /// The stage digest (in werf: 56 lower-case hex characters).
    pub digest: String,
    /// Unix epoch milliseconds when the stage was stored.
    #[serde(rename = "uniqueID")]
    pub unique_id: i64,
}

impl StageId {
    /// A stage ID.
    pub fn new(digest: impl Into<String>, unique_id: i64) -> Self {
        StageId {
            digest: digest.into(),
            unique_id,
        }
    }

    /// A stage ID stamped with the current time, as werf stamps a stage it has just stored.
    pub fn now(digest: impl Into<String>) -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        StageId::new(digest, millis)
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.digest, self.unique_id)
    }
}

impl FromStr for StageId {
    type Err = Error;

    /// Parses `DIGEST-UNIXMILLIS`: a non-empty digest, the last `-`, then decimal digits
    /// only (no sign, so the form stays canonical and a negative ID cannot be written).
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid("stage ID", format!("{text:?}: {why}"));
        let (digest, millis) = text
            .rsplit_once('-')
            .ok_or_else(|| bad("expected DIGEST-UNIXMILLIS"))?;
        if digest.is_empty() {
            return Err(bad("the digest before the last '-' is empty"));
        }
        if millis.is_empty() || !millis.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the part after the last '-' is not a decimal number"));
        }
        let unique_id = millis
            .parse()
            .map_err(|_| bad("the unique ID does not fit in 64 bits"))?;
        Ok(StageId::new(digest, unique_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_at_the_last_dash() {
        let id: StageId = "a-b-c-1647350000123".parse().unwrap();
        assert_eq!(id, StageId::new("a-b-c", 1647350000123));
        assert_eq!(id.to_string(), "a-b-c-1647350000123");
    }

    #[test]
    fn rejects_malformed_ids_naming_them() {
        for text in [
            "",
            "abc",
            "-123",
            "abc-",
            "abc-12x",
            "abc-+5",
            "a-99999999999999999999",
        ] {
            let err = text.parse::<StageId>().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidArgument {
                        what: "stage ID",
                        ..
                    }
                ),
                "{text}: {err}"
            );
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn now_is_epoch_milliseconds() {
        let id = StageId::now("d");
        // After 2020-01-01 and before 2100-01-01, in milliseconds.
        assert!(
            (1_577_836_800_000..4_102_444_800_000).contains(&id.unique_id),
            "{id}"
        );
    }

    #[test]
    fn serde_uses_werf_keys() {
        let json = serde_json::to_string(&StageId::new("d", 7)).unwrap();
        assert_eq!(json, r#"{"digest":"d","uniqueID":7}"#);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(digest in "[a-z0-9-]{1,70}", unique_id in 0i64..=i64::MAX) {
            let id = StageId::new(digest, unique_id);
            prop_assert_eq!(id.to_string().parse::<StageId>().unwrap(), id);
        }
    }
}
