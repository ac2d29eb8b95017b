//! The POST policy document: `{"expiration": …, "conditions": […]}`.
//!
//! Encoding writes the forms AWS documents; parsing is strict, following
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>:
//! exactly the two top-level keys, `{"field": "value"}` as a shorthand for `eq`, `eq` and
//! `starts-with` on a `$field`, and an inclusive `content-length-range` whose bounds may be
//! numbers or numeric strings (S3 accepts both).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::PolicyError;
use crate::json::{push_json_string, push_json_string_body};
use crate::timefmt::{parse_policy_expiration, push_policy_expiration};

/// Text in a condition: borrowed for the constant names and values a signer uses on every
/// request (no allocation), owned for what is parsed or computed.
pub type Text = std::borrow::Cow<'static, str>;

/// One condition of a POST policy. Field names are kept without the leading `$` and in the
/// case they were written; matching against form fields is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The form field must equal `value` exactly.
    Eq {
        /// Form field name.
        field: Text,
        /// Required value (case-sensitive).
        value: Text,
    },
    /// The form field must start with `prefix`; an empty prefix allows any value but the field
    /// must still be present.
    StartsWith {
        /// Form field name.
        field: Text,
        /// Required prefix (case-sensitive).
        prefix: Text,
    },
    /// The uploaded file's size in bytes must lie in `min..=max`.
    ContentLengthRange {
        /// Smallest allowed size.
        min: u64,
        /// Largest allowed size.
        max: u64,
    },
}

impl Condition {
    /// `{"field": "value"}`.
    pub fn eq(field: impl Into<Text>, value: impl Into<Text>) -> Self {
        Self::Eq {
            field: field.into(),
            value: value.into(),
        }
    }

    /// `["starts-with", "$field", "prefix"]`.
    pub fn starts_with(field: impl Into<Text>, prefix: impl Into<Text>) -> Self {
        Self::StartsWith {
            field: field.into(),
            prefix: prefix.into(),
        }
    }

    /// `["content-length-range", min, max]`.
    pub fn content_length_range(min: u64, max: u64) -> Self {
        Self::ContentLengthRange { min, max }
    }

    /// The form field this condition is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Eq { field, .. } | Self::StartsWith { field, .. } => Some(field),
            Self::ContentLengthRange { .. } => None,
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Self::Eq { field, value } => {
                out.push('{');
                push_json_string(out, field);
                out.push(':');
                push_json_string(out, value);
                out.push('}');
            }
            Self::StartsWith { field, prefix } => {
                out.push_str("[\"starts-with\",\"$");
                push_json_string_body(out, field);
                out.push_str("\",");
                push_json_string(out, prefix);
                out.push(']');
            }
            Self::ContentLengthRange { min, max } => {
                out.push_str("[\"content-length-range\",");
                out.push_str(&min.to_string());
                out.push(',');
                out.push_str(&max.to_string());
                out.push(']');
            }
        }
    }

    #[cfg(test)]
    fn to_json(&self) -> Value {
        match self {
            Self::Eq { field, value } => {
                let mut map = serde_json::Map::with_capacity(1);
                map.insert(field.to_string(), Value::String(value.to_string()));
                Value::Object(map)
            }
            Self::StartsWith { field, prefix } => Value::Array(vec![
                Value::from("starts-with"),
                Value::String(format!("${field}")),
                Value::String(prefix.to_string()),
            ]),
            Self::ContentLengthRange { min, max } => Value::Array(vec![
                Value::from("content-length-range"),
                Value::from(*min),
                Value::from(*max),
            ]),
        }
    }

    fn from_json(index: usize, value: &Value) -> Result<Self, PolicyError> {
        let fail = |reason| PolicyError::Condition { index, reason };
        match value {
            Value::Object(map) => {
                let mut entries = map.iter();
                match (entries.next(), entries.next()) {
                    (Some((field, Value::String(value))), None) => {
                        Ok(Self::eq(field.clone(), value.clone()))
                    }
                    (Some(_), None) => Err(fail("a simple condition's value must be a string")),
                    _ => Err(fail("a simple condition must have exactly one property")),
                }
            }
            Value::Array(items) => {
                let op = items
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| fail("an array condition must start with its operator"))?;
                if items.len() != 3 {
                    return Err(fail("an array condition must have exactly three elements"));
                }
                if op.eq_ignore_ascii_case("content-length-range") {
                    let bound = |v: &Value| match v {
                        Value::Number(n) => n.as_u64(),
                        Value::String(s) => s.trim().parse::<u64>().ok(),
                        _ => None,
                    };
                    let min =
                        bound(&items[1]).ok_or_else(|| fail("bad content-length-range minimum"))?;
                    let max =
                        bound(&items[2]).ok_or_else(|| fail("bad content-length-range maximum"))?;
                    if min > max {
                        return Err(fail("content-length-range minimum exceeds maximum"));
                    }
                    return Ok(Self::content_length_range(min, max));
                }
                let field = items[1]
                    .as_str()
                    .and_then(|f| f.strip_prefix('$'))
                    .filter(|f| !f.is_empty())
                    .ok_or_else(|| fail("the field of an eq or starts-with must be \"$name\""))?;
                let operand = items[2]
                    .as_str()
                    .ok_or_else(|| fail("the value of an eq or starts-with must be a string"))?;
                if op.eq_ignore_ascii_case("eq") {
                    Ok(Self::eq(field.to_owned(), operand.to_owned()))
                } else if op.eq_ignore_ascii_case("starts-with") {
                    Ok(Self::starts_with(field.to_owned(), operand.to_owned()))
                } else {
                    Err(fail("unknown condition operator"))
                }
            }
            _ => Err(fail("a condition must be an object or an array")),
        }
    }
}

/// A POST policy: when it expires and what a form must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// The instant after which the policy is no longer accepted.
    pub expiration: DateTime<Utc>,
    /// The conditions, in document order.
    pub conditions: Vec<Condition>,
}

impl PostPolicy {
    /// The policy as compact JSON text, keys in AWS's order (expiration first).
    pub fn to_json(&self) -> String {
        // Written directly rather than through serde_json values: this runs on every presign,
        // and building a value tree costs more than signing. The encoding is checked against
        // serde_json in the tests.
        let mut out = String::with_capacity(64 + self.conditions.len() * 64);
        out.push_str("{\"expiration\":\"");
        push_policy_expiration(&mut out, self.expiration);
        out.push_str("\",\"conditions\":[");
        for (i, condition) in self.conditions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            condition.write_json(&mut out);
        }
        out.push_str("]}");
        out
    }

    /// The policy as the base64 string that is signed and sent in the `policy` form field.
    pub fn to_base64(&self) -> String {
        // SIMD base64: the base64 crate's scalar encoder was 14 % of a presign in `perf`.
        base64_simd::STANDARD.encode_to_string(self.to_json())
    }

    /// Parses a policy from its base64 form field.
    pub fn from_base64(encoded: &str) -> Result<Self, PolicyError> {
        let json = BASE64
            .decode(encoded.trim())
            .map_err(|_| PolicyError::Base64)?;
        Self::from_json(&json)
    }

    /// Parses a policy from JSON text, rejecting any shape AWS rejects.
    pub fn from_json(json: &[u8]) -> Result<Self, PolicyError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| PolicyError::Json(e.to_string()))?;
        let Value::Object(top) = value else {
            return Err(PolicyError::Json("top level is not an object".to_owned()));
        };
        if top.len() != 2 {
            return Err(PolicyError::Shape);
        }
        let expiration = match top.get("expiration") {
            Some(Value::String(s)) => parse_policy_expiration(s).ok_or(PolicyError::Expiration)?,
            Some(_) => return Err(PolicyError::Expiration),
            None => return Err(PolicyError::Shape),
        };
        let Some(Value::Array(items)) = top.get("conditions") else {
            return Err(PolicyError::Shape);
        };
        let conditions = items
            .iter()
            .enumerate()
            .map(|(index, item)| Condition::from_json(index, item))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            expiration,
            conditions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 12, 30, h, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn round_trips_every_condition_form() {
        let policy = PostPolicy {
            expiration: at(12),
            conditions: vec![
                Condition::eq("bucket", "b\"q"),
                Condition::starts_with("key", "user/"),
                Condition::content_length_range(1, 4_000_000),
            ],
        };
        assert_eq!(
            policy.to_json(),
            r#"{"expiration":"2015-12-30T12:00:00.000Z","conditions":[{"bucket":"b\"q"},["starts-with","$key","user/"],["content-length-range",1,4000000]]}"#
        );
        assert_eq!(PostPolicy::from_base64(&policy.to_base64()), Ok(policy));
    }

    #[test]
    fn hand_written_json_equals_serde_json_for_awkward_text() {
        let awkward = "q\"b\\s\n\r\t\u{1}\u{1f}é€😀/<>&";
        let policy = PostPolicy {
            expiration: at(12),
            conditions: vec![
                Condition::eq(awkward, awkward),
                Condition::starts_with(awkward, awkward),
                Condition::content_length_range(0, u64::MAX),
            ],
        };
        let ours: Value = serde_json::from_str(&policy.to_json()).expect("valid JSON");
        let reference = serde_json::json!({
            "expiration": "2015-12-30T12:00:00.000Z",
            "conditions": policy.conditions.iter().map(Condition::to_json).collect::<Vec<_>>(),
        });
        assert_eq!(ours, reference);
        assert_eq!(
            PostPolicy::from_json(policy.to_json().as_bytes()),
            Ok(policy)
        );
    }

    #[test]
    fn parses_explicit_eq_numeric_string_ranges_and_operator_case() {
        let json = br#"{"conditions":[["eq","$acl","public-read"],["Starts-With","$Content-Type",""],["content-length-range","0","10"]],"expiration":"2015-12-30T12:00:00Z"}"#;
        let policy = PostPolicy::from_json(json).expect("valid policy");
        assert_eq!(
            policy.conditions,
            vec![
                Condition::eq("acl", "public-read"),
                Condition::starts_with("Content-Type", ""),
                Condition::content_length_range(0, 10),
            ]
        );
    }

    #[test]
    fn rejects_malformed_documents() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "json"),
            (b"[]", "array top level"),
            (br#"{"expiration":"2015-12-30T12:00:00Z"}"#, "no conditions"),
            (br#"{"conditions":[]}"#, "no expiration"),
            (br#"{"Expiration":"2015-12-30T12:00:00Z","conditions":[]}"#, "key case"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":[],"x":1}"#, "extra key"),
            (br#"{"expiration":"tomorrow","conditions":[]}"#, "bad expiration"),
            (br#"{"expiration":5,"conditions":[]}"#, "numeric expiration"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":{}}"#, "conditions object"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":[{"a":"1","b":"2"}]}"#, "two props"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":[{"a":1}]}"#, "number value"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":[["eq","key","x"]]}"#, "no dollar"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":[["in","$key","x"]]}"#, "unknown op"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":[["eq","$key"]]}"#, "two elements"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":[["content-length-range",5,1]]}"#, "min > max"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":[["content-length-range",-1,1]]}"#, "negative"),
            (br#"{"expiration":"2015-12-30T12:00:00Z","conditions":["key"]}"#, "bare string"),
        ];
        for (json, why) in cases {
            assert!(PostPolicy::from_json(json).is_err(), "accepted: {why}");
        }
        assert_eq!(PostPolicy::from_base64("!!!"), Err(PolicyError::Base64));
    }
}
