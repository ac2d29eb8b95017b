//! 24-hex ObjectIds, the id format of every Webflow resource.
//!
//! Layout as MongoDB's: 4 bytes of seconds since the epoch, 5 random bytes chosen once per
//! process, 3 bytes of a counter that starts at a random value. Ids are therefore unique across
//! nodes without coordination and roughly sortable by creation time.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use rand::Rng;

/// A 12-byte id, shown as 24 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

static PROCESS_RANDOM: LazyLock<[u8; 5]> = LazyLock::new(|| rand::rng().random());
static COUNTER: LazyLock<AtomicU32> = LazyLock::new(|| AtomicU32::new(rand::rng().random()));

impl ObjectId {
    /// A new id stamped with `now`.
    pub fn generate(now: DateTime<Utc>) -> Self {
        let mut bytes = [0u8; 12];
        // Seconds wrap in 2106, as MongoDB's do; the id stays unique because of the other bytes.
        let secs = now.timestamp() as u32;
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        bytes[4..9].copy_from_slice(&*PROCESS_RANDOM);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        Self(bytes)
    }
}

/// The text was not 24 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a 24-character hex ObjectId")]
pub struct InvalidObjectId;

impl FromStr for ObjectId {
    type Err = InvalidObjectId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 12];
        if s.len() != 24 {
            return Err(InvalidObjectId);
        }
        hex::decode_to_slice(s, &mut bytes).map_err(|_| InvalidObjectId)?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 24];
        hex::encode_to_slice(self.0, &mut buf).expect("24 bytes hold 12 as hex");
        f.write_str(std::str::from_utf8(&buf).expect("hex is ASCII"))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex_unique_and_round_trip() {
        let now = Utc::now();
        let a = ObjectId::generate(now);
        let b = ObjectId::generate(now);
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 24);
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(text.parse::<ObjectId>(), Ok(a));
        assert_eq!(&text[..8], format!("{:08x}", now.timestamp() as u32));
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        for bad in [
            "",
            "abc",
            "6390c49674a71f84b51a08d",
            "6390c49674a71f84b51a08d8a",
            "6390c49674a71f84b51a08zz",
            "６390c49674a71f84b51a08d",
        ] {
            assert_eq!(bad.parse::<ObjectId>(), Err(InvalidObjectId), "{bad}");
        }
        assert!("6390C49674A71F84B51A08D8".parse::<ObjectId>().is_ok());
    }
}
