//! The parts of Webflow's Assets API responses the importer reads (`spec/webflow-v2-assets.yml`).
//! Unknown fields are ignored and most fields are optional, so any Webflow-compatible API (and
//! Webflow's own, which marks almost nothing required) can be read.

use serde::{Deserialize, Serialize};

/// An asset folder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteFolder {
    /// Its id.
    pub id: String,
    /// Its name, unique among its siblings.
    #[serde(default)]
    pub display_name: String,
    /// Its parent, if it is not at the top.
    #[serde(default)]
    pub parent_folder: Option<String>,
}

/// A responsive-image variant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteVariant {
    /// Where it is served.
    pub hosted_url: String,
    /// Its width in pixels.
    pub width: i64,
    /// Why it could not be made, if it could not.
    #[serde(default)]
    pub error: Option<String>,
}

/// An asset, as a list item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAsset {
    /// Its id.
    pub id: String,
    /// Where its bytes are served.
    #[serde(default)]
    pub hosted_url: String,
    /// The file name it was uploaded with.
    #[serde(default)]
    pub original_file_name: String,
    /// The name shown to people.
    #[serde(default)]
    pub display_name: String,
    /// Alternative text.
    #[serde(default)]
    pub alt_text: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// The folder it is in (list responses only).
    #[serde(default)]
    pub folder_id: Option<String>,
    /// Its responsive variants.
    #[serde(default)]
    pub variants: Vec<RemoteVariant>,
}

impl RemoteAsset {
    /// The display name an API gives an asset by default, `{id}_{fileName}`: a source asset
    /// that still has it gets the destination's default too, rather than a name carrying an
    /// id it no longer has.
    pub fn has_default_name(&self) -> bool {
        self.display_name == default_display_name(&self.id, &self.original_file_name)
    }

    /// Variants that were made (not failed), by width.
    pub fn made_variants(&self) -> impl Iterator<Item = &RemoteVariant> {
        self.variants.iter().filter(|v| v.error.is_none())
    }
}

/// `{id}_{fileName}`.
pub fn default_display_name(id: &str, file_name: &str) -> String {
    format!("{id}_{file_name}")
}

/// `pagination` of a list response.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Pagination {
    /// Items in the whole set.
    #[serde(default)]
    pub total: u64,
}

/// List Assets response.
#[derive(Debug, Deserialize)]
pub struct AssetPage {
    /// This page's assets.
    #[serde(default)]
    pub assets: Vec<RemoteAsset>,
    /// The whole set's size.
    #[serde(default)]
    pub pagination: Pagination,
}

/// List Asset Folders response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderPage {
    /// This page's folders.
    #[serde(default)]
    pub asset_folders: Vec<RemoteFolder>,
    /// The whole set's size.
    #[serde(default)]
    pub pagination: Pagination,
}

/// Upload Asset response: what step 2 needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedAsset {
    /// The new asset's id.
    pub id: String,
    /// Where to post the form.
    pub upload_url: String,
    /// The form fields, in order.
    pub upload_details: serde_json::Map<String, serde_json::Value>,
    /// The Content-Type the policy pins.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Where the asset will be served.
    #[serde(default)]
    pub hosted_url: String,
}
