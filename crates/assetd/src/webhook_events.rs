//! Asset webhook events: the trigger types assetd emits, the snapshot of the changed asset or
//! folder an event carries from the moment of the change, and the JSON body a receiver gets,
//! `{"triggerType": …, "payload": …}` as Webflow sends its own
//! (`shared/spec/webflow-webhooks-notes.md`).
//!
//! The snapshot is stored in the outbox in the same transaction as the change (so a delivery
//! retried hours later still says what happened then) with the database's column names, which
//! lets PostgreSQL write it with `row_to_json` inside the one statement that marks an upload
//! done. The body is rendered from it at delivery time, when the public URLs are known.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::ObjectId;
use crate::timestamp::{format, from_millis};
use crate::urls::UrlPlan;

/// What a webhook listens for. None of these is one of Webflow's own trigger types (Webflow
/// has no asset events); the names follow Webflow's `collection_item_*` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// An asset's bytes arrived and verified (it is listed and served from now on).
    AssetCreated,
    /// An asset's display name, alt text or folder changed (PATCH).
    AssetChanged,
    /// An asset's file was replaced, keeping its id.
    AssetReplaced,
    /// An asset was deleted (DELETE, or with its folder).
    AssetDeleted,
    /// A folder was created, renamed or moved, or deleted.
    AssetFolderChanged,
}

impl Trigger {
    /// Every trigger type, in documentation order.
    pub const EVERY: [Self; 5] = [
        Self::AssetCreated,
        Self::AssetChanged,
        Self::AssetReplaced,
        Self::AssetDeleted,
        Self::AssetFolderChanged,
    ];

    /// The wire name, e.g. `asset_created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AssetCreated => "asset_created",
            Self::AssetChanged => "asset_changed",
            Self::AssetReplaced => "asset_replaced",
            Self::AssetDeleted => "asset_deleted",
            Self::AssetFolderChanged => "asset_folder_changed",
        }
    }

    /// Whether the event's payload is an asset (else a folder).
    pub const fn is_about_an_asset(self) -> bool {
        !matches!(self, Self::AssetFolderChanged)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trigger type assetd does not emit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trigger type {0:?}")]
pub struct UnknownTrigger(pub String);

impl FromStr for Trigger {
    type Err = UnknownTrigger;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::EVERY
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTrigger(s.to_owned()))
    }
}

/// An asset as it was when the event happened: the columns of its row that the payload shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetSnapshot {
    /// Its id.
    pub id: ObjectId,
    /// Its site.
    pub site_id: ObjectId,
    /// Its folder.
    pub folder_id: Option<ObjectId>,
    /// The file name given at creation.
    pub original_file_name: String,
    /// The name shown to people.
    pub display_name: String,
    /// Alt text.
    pub alt_text: Option<String>,
    /// Content-Type.
    pub content_type: String,
    /// Object key (for `hostedUrl`).
    pub storage_key: String,
    /// Size in bytes once uploaded.
    pub size: Option<i64>,
    /// Creation, milliseconds since the epoch.
    pub created_on: i64,
    /// Last change, milliseconds since the epoch.
    pub last_updated: i64,
}

/// What happened to a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FolderChange {
    /// Created.
    Created,
    /// Renamed or moved.
    Updated,
    /// Deleted (alone, or as part of a recursive delete).
    Deleted,
}

/// A folder as it was when the event happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderSnapshot {
    /// Its id.
    pub id: ObjectId,
    /// Its site.
    pub site_id: ObjectId,
    /// Its parent.
    pub parent_folder: Option<ObjectId>,
    /// Its name.
    pub display_name: String,
    /// Creation, milliseconds since the epoch.
    pub created_on: i64,
    /// Last change, milliseconds since the epoch.
    pub last_updated: i64,
    /// What happened to it.
    pub change: FolderChange,
}

/// A stored snapshot that does not parse (written by another version, or damaged).
#[derive(Debug, thiserror::Error)]
#[error("webhook payload does not parse: {0}")]
pub struct BadPayload(#[from] serde_json::Error);

/// The payload of an asset event: the asset as Get Asset shows it (variants left out: an event
/// says what changed, the receiver reads the asset for its current variants), plus
/// `parentFolder`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssetPayload<'a> {
    id: ObjectId,
    content_type: &'a str,
    size: i64,
    site_id: ObjectId,
    hosted_url: String,
    original_file_name: &'a str,
    display_name: &'a str,
    last_updated: String,
    created_on: String,
    alt_text: Option<&'a str>,
    parent_folder: Option<ObjectId>,
}

/// The payload of a folder event: the folder as Get Asset Folder shows it (without `assets`),
/// plus what happened to it (`change`: `created`, `updated` or `deleted`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FolderPayload<'a> {
    id: ObjectId,
    display_name: &'a str,
    parent_folder: Option<ObjectId>,
    site_id: ObjectId,
    created_on: String,
    last_updated: String,
    change: FolderChange,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<P> {
    trigger_type: &'static str,
    payload: P,
}

/// The exact JSON text sent to a receiver (and signed) for a stored snapshot.
pub fn render(trigger: Trigger, snapshot: &str, urls: &UrlPlan) -> Result<String, BadPayload> {
    let trigger_type = trigger.as_str();
    let text = if trigger.is_about_an_asset() {
        let a: AssetSnapshot = serde_json::from_str(snapshot)?;
        serde_json::to_string(&Body {
            trigger_type,
            payload: AssetPayload {
                id: a.id,
                content_type: &a.content_type,
                size: a.size.unwrap_or(0),
                site_id: a.site_id,
                hosted_url: urls.hosted_url(&a.storage_key),
                original_file_name: &a.original_file_name,
                display_name: &a.display_name,
                last_updated: format(from_millis(a.last_updated)),
                created_on: format(from_millis(a.created_on)),
                alt_text: a.alt_text.as_deref(),
                parent_folder: a.folder_id,
            },
        })?
    } else {
        let f: FolderSnapshot = serde_json::from_str(snapshot)?;
        serde_json::to_string(&Body {
            trigger_type,
            payload: FolderPayload {
                id: f.id,
                display_name: &f.display_name,
                parent_folder: f.parent_folder,
                site_id: f.site_id,
                created_on: format(from_millis(f.created_on)),
                last_updated: format(from_millis(f.last_updated)),
                change: f.change,
            },
        })?
    };
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_round_trip() {
        for trigger in Trigger::EVERY {
            assert_eq!(trigger.as_str().parse::<Trigger>(), Ok(trigger));
        }
        assert!("form_submission".parse::<Trigger>().is_err());
    }

    #[test]
    fn a_postgres_row_snapshot_renders_like_a_rust_one() {
        // What `row_to_json` writes: every column, unknown ones included.
        let row = r#"{"id":"63e5889e7fe4eafa7384cea4","site_id":"6b06481c2a1787de214716b7",
            "folder_id":null,"original_file_name":"a.png","display_name":"a","alt_text":null,
            "content_type":"image/png","file_hash":"x","storage_key":"6b06481c2a1787de214716b7/63e5889e7fe4eafa7384cea4_a.png",
            "size":3,"state":"uploaded","upload_expires_at":5,"created_on":0,"last_updated":1,
            "list_seq":7,"old_state":"pending"}"#;
        let urls = UrlPlan::embedded("http://h", "assetd");
        let body: serde_json::Value =
            serde_json::from_str(&render(Trigger::AssetCreated, row, &urls).expect("renders"))
                .expect("JSON");
        assert_eq!(body["triggerType"], "asset_created");
        assert_eq!(body["payload"]["id"], "63e5889e7fe4eafa7384cea4");
        assert_eq!(body["payload"]["size"], 3);
        assert_eq!(body["payload"]["createdOn"], "1970-01-01T00:00:00.000Z");
        assert!(
            body["payload"]["hostedUrl"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://h/"))
        );
    }
}
