//! Validation of the Upload Asset request body (`fileName`, `fileHash`, `parentFolder`).
//!
//! Pure: it turns JSON into a typed request or a list of Webflow `validation_error` details. The
//! checks that need the database (does the folder belong to the site?) happen in the handler.

use serde_json::Value;

use crate::error::FieldError;
use crate::file_types::{self, FileType};
use crate::ids::ObjectId;
use crate::keys;
use crate::variant_plan::VariantFormat;
// Bidi controls would let a name lie about itself (`gnp.exe` shown as `exe.png`).
use crate::labels::is_bidi_control;

/// Webflow: "File names must be less than 100 characters."
pub const MAX_FILE_NAME_CHARS: usize = 99;

/// A valid Upload Asset request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAssetRequest {
    /// The file name, as given.
    pub file_name: String,
    /// What the extension says about the file.
    pub file_type: FileType,
    /// MD5 of the content, lower-case hex.
    pub file_hash: String,
    /// The folder to place the asset in.
    pub parent_folder: Option<ObjectId>,
    /// The id the client chose (assetd's extension for `assetd import`; needs `assets:import`).
    pub id: Option<ObjectId>,
}

/// The optional `id` of a create body (Upload Asset, Create Asset Folder): an assetd extension
/// that lets an importer keep a resource's id. Absent or null means "generate one"; anything
/// but a 24-hex ObjectId is a validation error, so a typo is never silently replaced.
pub fn chosen_id(
    body: &serde_json::Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> Option<ObjectId> {
    match body.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => match id.parse::<ObjectId>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(FieldError::new(
                    "id",
                    "Provided ID is invalid: must be a 24-character hex ObjectId",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("id", "Must be a string"));
            None
        }
    }
}

/// Why a file name is refused, if it is.
pub fn file_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("File name must not be empty".to_owned());
    }
    if name.chars().count() > MAX_FILE_NAME_CHARS {
        return Some(format!(
            "File names must be less than 100 characters ({MAX_FILE_NAME_CHARS} at most)"
        ));
    }
    if name.contains(['/', '\\']) {
        return Some("File name must not contain path separators".to_owned());
    }
    if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Some("File name must not contain control or text-direction characters".to_owned());
    }
    if name != name.trim() {
        return Some("File name must not start or end with whitespace".to_owned());
    }
    // S3 replaces `${filename}` in the key field with the file part's name, so the key the
    // policy pins would never match what a client sends.
    if name.contains("${filename}") {
        return Some("File name must not contain ${filename}".to_owned());
    }
    None
}

/// Why a name is refused because its stored object or one of its variants would have a name
/// or key too long for the store (a multibyte name passes the 99-character limit at up to
/// 396 bytes; Linux allows 255 per file name), if it is.
fn stored_name_problem(name: &str, file_type: FileType) -> Option<String> {
    let gets_variants = VariantFormat::from_content_type(file_type.content_type).is_some();
    let max = keys::max_file_name_bytes(gets_variants);
    (name.len() > max).then(|| {
        format!(
            "File name must be at most {max} bytes in UTF-8{} (this one is {} bytes)",
            if gets_variants {
                ", to leave room for its variants' names"
            } else {
                ""
            },
            name.len()
        )
    })
}

fn string_field<'a>(
    body: &'a serde_json::Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match body.get(name) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(name, "Required field is missing"));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(FieldError::new(name, "Must be a string"));
            None
        }
    }
}

impl CreateAssetRequest {
    /// Validates a parsed JSON body, reporting every problem at once. Unknown keys are ignored.
    pub fn from_json(body: &Value) -> Result<Self, Vec<FieldError>> {
        let Value::Object(body) = body else {
            return Err(vec![FieldError::new(
                "body",
                "Request body must be a JSON object",
            )]);
        };
        let mut errors = Vec::new();

        let file = string_field(body, "fileName", &mut errors).and_then(|name| {
            if let Some(problem) = file_name_problem(name) {
                errors.push(FieldError::new("fileName", problem));
                return None;
            }
            match file_types::from_file_name(name) {
                Some(file_type) => {
                    if let Some(problem) = stored_name_problem(name, file_type) {
                        errors.push(FieldError::new("fileName", problem));
                        return None;
                    }
                    Some((name.to_owned(), file_type))
                }
                None => {
                    let allowed: Vec<_> = file_types::allowed_extensions().collect();
                    errors.push(FieldError::new(
                        "fileName",
                        format!(
                            "File type is not supported; allowed extensions: {}",
                            allowed.join(", ")
                        ),
                    ));
                    None
                }
            }
        });

        let hash = string_field(body, "fileHash", &mut errors).and_then(|hash| {
            if hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(hash.to_ascii_lowercase())
            } else {
                errors.push(FieldError::new(
                    "fileHash",
                    "Must be the file's MD5 as 32 hex digits",
                ));
                None
            }
        });

        let parent_folder = match body.get("parentFolder") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => match id.parse::<ObjectId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.push(FieldError::new("parentFolder", "Provided ID is invalid"));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new("parentFolder", "Must be a string"));
                None
            }
        };

        let id = chosen_id(body, &mut errors);

        match (file, hash) {
            (Some((file_name, file_type)), Some(file_hash)) if errors.is_empty() => Ok(Self {
                file_name,
                file_type,
                file_hash,
                parent_folder,
                id,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HASH: &str = "3c7d87c9575702bc3b1e991f4d3c638e";

    fn params(body: Value) -> Vec<String> {
        CreateAssetRequest::from_json(&body)
            .expect_err("should be refused")
            .into_iter()
            .map(|e| e.param)
            .collect()
    }

    #[test]
    fn accepts_the_spec_example_and_normalises_the_hash() {
        let req = CreateAssetRequest::from_json(&json!({
            "fileName": "file.png", "fileHash": HASH.to_uppercase(), "parentFolder": null, "extra": 1
        }))
        .expect("valid");
        assert_eq!(req.file_name, "file.png");
        assert_eq!(req.file_hash, HASH);
        assert_eq!(req.file_type.content_type, "image/png");
        assert_eq!(req.parent_folder, None);
    }

    #[test]
    fn reports_every_invalid_field() {
        assert_eq!(params(json!({})), ["fileName", "fileHash"]);
        assert_eq!(
            params(json!({"fileName": 1, "fileHash": HASH})),
            ["fileName"]
        );
        assert_eq!(
            params(json!({"fileName": "a.png", "fileHash": "xyz"})),
            ["fileHash"]
        );
        assert_eq!(
            params(json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": "1"})),
            ["parentFolder"]
        );
        assert_eq!(
            params(json!({"fileName": "a.png", "fileHash": HASH, "parentFolder": 5})),
            ["parentFolder"]
        );
        assert_eq!(params(json!([1])), ["body"]);
        assert_eq!(
            params(json!({"fileName": "a.png", "fileHash": HASH, "id": "abc"})),
            ["id"]
        );
        assert_eq!(
            params(json!({"fileName": "a.png", "fileHash": HASH, "id": 7})),
            ["id"]
        );
    }

    #[test]
    fn takes_a_chosen_id_when_given() {
        let id = "6390c49674a71f84b51a08d8";
        let req = CreateAssetRequest::from_json(
            &json!({"fileName": "a.png", "fileHash": HASH, "id": id}),
        )
        .expect("valid");
        assert_eq!(req.id, Some(id.parse().expect("an id")));
        let req = CreateAssetRequest::from_json(
            &json!({"fileName": "a.png", "fileHash": HASH, "id": null}),
        )
        .expect("valid");
        assert_eq!(req.id, None);
    }

    #[test]
    fn refuses_bad_file_names() {
        let long = format!("{}.png", "a".repeat(96));
        assert_eq!(long.chars().count(), 100);
        let just_fits = format!("{}.png", "a".repeat(95));
        assert!(file_name_problem(&just_fits).is_none());
        for name in [
            "",
            "   ",
            long.as_str(),
            "../a.png",
            "a/b.png",
            "a\\b.png",
            "a\u{0}.png",
            "a\n.png",
            "a\u{7f}.png",
            "gnp\u{202E}.exe",
            " a.png",
            "a.png ",
        ] {
            assert!(file_name_problem(name).is_some(), "accepted {name:?}");
        }
        assert_eq!(
            params(json!({"fileName": "virus.exe", "fileHash": HASH})),
            ["fileName"]
        );
        assert_eq!(
            params(json!({"fileName": "noext", "fileHash": HASH})),
            ["fileName"]
        );
        assert!(file_name_problem("résumé été.pdf").is_none());
    }

    #[test]
    fn issue_27_refuses_names_whose_stored_keys_would_not_fit() {
        // 80 CJK characters: 99 characters at most, but 244 bytes.
        let cjk = format!("{}.png", "\u{6587}".repeat(80));
        assert!(file_name_problem(&cjk).is_none());
        let refused = CreateAssetRequest::from_json(&json!({"fileName": cjk, "fileHash": HASH}))
            .expect_err("too long in bytes");
        assert_eq!(refused[0].param, "fileName");
        assert!(refused[0].description.contains("223 bytes"), "{refused:?}");
        // Near the edge: the original would fit, its widest variant would not.
        let edge = format!("{}.png", "\u{6587}".repeat(74));
        assert_eq!(edge.len(), 226);
        assert!(
            CreateAssetRequest::from_json(&json!({"fileName": edge, "fileHash": HASH})).is_err()
        );
        // A PDF gets no variants: the same length is fine.
        let pdf = format!("{}.pdf", "\u{6587}".repeat(74));
        assert!(CreateAssetRequest::from_json(&json!({"fileName": pdf, "fileHash": HASH})).is_ok());
        let fits = format!("{}.png", "\u{6587}".repeat(73));
        assert!(
            CreateAssetRequest::from_json(&json!({"fileName": fits, "fileHash": HASH})).is_ok()
        );
    }

    #[test]
    fn issue_27_refuses_the_s3_filename_placeholder() {
        assert!(file_name_problem("a${filename}.png").is_some());
        assert_eq!(
            params(json!({"fileName": "${filename}.png", "fileHash": HASH})),
            ["fileName"]
        );
    }
}
