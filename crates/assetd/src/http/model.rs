//! The JSON shapes of assets and folders, as Webflow's OpenAPI text and the official SDKs expect
//! them (`spec/webflow-v2-assets.yml`, `spec/webflow-assets-notes.md` §1).

use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::ObjectId;
use crate::meta::{Asset, Folder, Page, PageRequest, Variant, VariantState};
use crate::timestamp;
use crate::urls::UrlPlan;
use crate::variant_plan as plan;

/// A responsive-image variant: made ones, and failed ones with their `error`. Variants still
/// being made are not listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantBody {
    hosted_url: String,
    original_file_name: String,
    display_name: String,
    /// The original's extension, lower case (`png`, `jpg`, `gif`, `webp`), as Webflow reports
    /// it. assetd extension: with `--variant-formats original,webp` each width also has a lossy
    /// WebP variant, `format: "webp"` (`{stem}-p-{width}.webp`, served as `image/webp`), listed
    /// after all the same-format ones.
    format: String,
    width: i64,
    height: Option<i64>,
    /// 85 for JPEG variants, 90 for the lossy WebP ones, 100 for lossless encodings.
    quality: i64,
    error: Option<String>,
}

/// An asset (Get, Update, and each list item).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetBody {
    #[schema(value_type = String, example = "63e5889e7fe4eafa7384cea4")]
    id: ObjectId,
    content_type: String,
    size: i64,
    #[schema(value_type = String)]
    site_id: ObjectId,
    hosted_url: String,
    original_file_name: String,
    display_name: String,
    #[schema(example = "2023-03-01T23:42:57.862Z")]
    last_updated: String,
    #[schema(example = "2023-02-09T23:58:22.294Z")]
    created_on: String,
    variants: Vec<VariantBody>,
    alt_text: Option<String>,
}

impl VariantBody {
    /// The body of `variant` of `asset`.
    pub fn new(asset: &Asset, variant: &Variant, urls: &UrlPlan) -> Self {
        let width = u32::try_from(variant.width).unwrap_or(0);
        let encoding = plan::Encoding::of_variant(&asset.content_type, &variant.format);
        let display_name = variant
            .storage_key
            .rsplit_once('/')
            .map_or(variant.storage_key.as_str(), |(_, name)| name);
        Self {
            hosted_url: urls.hosted_url(&variant.storage_key),
            original_file_name: encoding.file_name(&asset.original_file_name, width),
            display_name: display_name.to_owned(),
            format: variant.format.clone(),
            width: variant.width,
            height: variant.height,
            quality: variant.quality,
            error: variant.error.clone(),
        }
    }
}

impl AssetBody {
    /// The body of `asset`, with its `hostedUrl` from `urls` and those of `variants` (which may
    /// include other assets' variants) that belong to it.
    pub fn new(asset: &Asset, variants: &[Variant], urls: &UrlPlan) -> Self {
        Self {
            id: asset.id,
            content_type: asset.content_type.clone(),
            size: asset.size.unwrap_or(0),
            site_id: asset.site_id,
            hosted_url: urls.hosted_url(&asset.storage_key),
            original_file_name: asset.original_file_name.clone(),
            display_name: asset.display_name.clone(),
            last_updated: timestamp::format(asset.last_updated),
            created_on: timestamp::format(asset.created_on),
            variants: variant_bodies(asset, variants, urls),
            alt_text: asset.alt_text.clone(),
        }
    }
}

/// The listed variants of `asset` among `variants`: the same-format ones first, by width, as
/// before WebP variants existed (a client that picks `variants[i]` gets what it always got),
/// then the optional WebP ones, by width.
fn variant_bodies(asset: &Asset, variants: &[Variant], urls: &UrlPlan) -> Vec<VariantBody> {
    let mut listed: Vec<&Variant> = variants
        .iter()
        .filter(|v| v.asset_id == asset.id && v.state != VariantState::Pending)
        .collect();
    // Stable: each group keeps the by-width order the metadata returns.
    listed.sort_by_key(|v| {
        plan::Encoding::of_variant(&asset.content_type, &v.format) == plan::Encoding::LossyWebP
    });
    listed
        .into_iter()
        .map(|v| VariantBody::new(asset, v, urls))
        .collect()
}

/// A list item: an asset plus the folder it is in (`folderId` appears only in lists).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedAsset {
    #[serde(flatten)]
    asset: AssetBody,
    #[schema(value_type = Option<String>)]
    folder_id: Option<ObjectId>,
}

/// `pagination` of list responses.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Pagination {
    limit: i64,
    offset: i64,
    total: i64,
}

impl Pagination {
    /// The pagination of `page` fetched with `request`.
    pub fn new<T>(request: PageRequest, page: &Page<T>) -> Self {
        Self {
            limit: request.limit,
            offset: request.offset,
            total: page.total,
        }
    }
}

/// List Assets response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssetList {
    assets: Vec<ListedAsset>,
    pagination: Pagination,
}

impl AssetList {
    /// The response for one page of assets, with their variants.
    pub fn new(
        request: PageRequest,
        page: &Page<Asset>,
        variants: &[Variant],
        urls: &UrlPlan,
    ) -> Self {
        Self {
            assets: page
                .items
                .iter()
                .map(|asset| ListedAsset {
                    asset: AssetBody::new(asset, variants, urls),
                    folder_id: asset.folder_id,
                })
                .collect(),
            pagination: Pagination::new(request, page),
        }
    }
}

/// An asset folder.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FolderBody {
    #[schema(value_type = String)]
    id: ObjectId,
    display_name: String,
    #[schema(value_type = Option<String>)]
    parent_folder: Option<ObjectId>,
    #[schema(value_type = Vec<String>)]
    assets: Vec<ObjectId>,
    #[schema(value_type = String)]
    site_id: ObjectId,
    created_on: String,
    last_updated: String,
}

impl FolderBody {
    /// The body of `folder` holding `assets`.
    pub fn new(folder: &Folder, assets: Vec<ObjectId>) -> Self {
        Self {
            id: folder.id,
            display_name: folder.display_name.clone(),
            parent_folder: folder.parent_folder,
            assets,
            site_id: folder.site_id,
            created_on: timestamp::format(folder.created_on),
            last_updated: timestamp::format(folder.last_updated),
        }
    }
}

/// List Asset Folders response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FolderList {
    asset_folders: Vec<FolderBody>,
    pagination: Pagination,
}

impl FolderList {
    /// The response for one page of folders, each with the ids of the assets directly in it.
    pub fn new(
        request: PageRequest,
        page: &Page<Folder>,
        contents: &[(ObjectId, ObjectId)],
    ) -> Self {
        let asset_folders = page
            .items
            .iter()
            .map(|folder| {
                let assets = contents
                    .iter()
                    .filter(|(f, _)| *f == folder.id)
                    .map(|(_, a)| *a)
                    .collect();
                FolderBody::new(folder, assets)
            })
            .collect();
        Self {
            asset_folders,
            pagination: Pagination::new(request, page),
        }
    }
}
