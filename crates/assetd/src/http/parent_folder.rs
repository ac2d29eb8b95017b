//! The `parentFolder` field of a move (assetd's extension of Update Asset, and Update Asset
//! Folder): absent leaves the parent as it is, `null` moves to the top level, an id moves into
//! that folder. Whether the folder exists in the site is the metadata layer's check, made in
//! the statement that moves.

use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::ids::ObjectId;

/// The move `body` asks for: `None` for none, `Some(None)` for the top level.
pub fn parent_folder_change(
    body: &Map<String, Value>,
) -> Result<Option<Option<ObjectId>>, FieldError> {
    match body.get("parentFolder") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(id)) => id
            .parse()
            .map(|id| Some(Some(id)))
            .map_err(|_| FieldError::new("parentFolder", "Provided ID is invalid")),
        Some(_) => Err(FieldError::new(
            "parentFolder",
            "Must be an asset folder id or null",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(v: Value) -> Result<Option<Option<ObjectId>>, FieldError> {
        match v {
            Value::Object(map) => parent_folder_change(&map),
            _ => unreachable!("test bodies are objects"),
        }
    }

    #[test]
    fn absent_null_and_an_id_are_three_different_changes() {
        let id = "0123456789abcdef01234567";
        assert_eq!(change(json!({})).ok(), Some(None));
        assert_eq!(change(json!({"parentFolder": null})).ok(), Some(Some(None)));
        assert_eq!(
            change(json!({ "parentFolder": id })).ok(),
            Some(Some(id.parse().ok()))
        );
    }

    #[test]
    fn anything_else_names_the_field() {
        for bad in [json!({"parentFolder": "nope"}), json!({"parentFolder": 7})] {
            assert_eq!(
                change(bad).map_err(|e| e.param).err().as_deref(),
                Some("parentFolder")
            );
        }
    }
}
