//! Finding the asset or folder a path names, as the token may see it. Another site's id and an
//! unknown id get the same 404, so ids of other sites cannot be probed.

use crate::error::Error;
use crate::http::auth::Auth;
use crate::ids::ObjectId;
use crate::meta::{Asset, AssetState, Folder};
use crate::state::AppState;

fn parse_id(raw: &str, param: &str) -> Result<ObjectId, Error> {
    raw.parse()
        .map_err(|_| Error::invalid(param, "Provided ID is invalid"))
}

/// The asset `raw` names, in any upload state, if the token sees its site.
pub async fn any_asset(state: &AppState, auth: &Auth, raw: &str) -> Result<Asset, Error> {
    let id = parse_id(raw, "asset_id")?;
    match state.meta.get_asset(id).await? {
        Some(asset) if auth.0.sees(asset.site_id) => Ok(asset),
        _ => Err(Error::NotFound("asset")),
    }
}

/// The uploaded asset `raw` names, if the token sees its site. A pending asset (bytes not yet
/// arrived) is not found: an asset exists for readers once its bytes do. With S3 storage a
/// pending asset is checked first, waiting for the confirmer at most its short bound.
pub async fn uploaded_asset(state: &AppState, auth: &Auth, raw: &str) -> Result<Asset, Error> {
    let asset = state
        .confirmer
        .check(any_asset(state, auth, raw).await?)
        .await?;
    if asset.state == AssetState::Uploaded {
        Ok(asset)
    } else {
        Err(Error::NotFound("asset"))
    }
}

/// The folder `raw` names, if the token sees its site.
pub async fn folder(
    state: &AppState,
    auth: &Auth,
    raw: &str,
    param: &str,
) -> Result<Folder, Error> {
    let id = parse_id(raw, param)?;
    match state.meta.get_folder(id).await? {
        Some(folder) if auth.0.sees(folder.site_id) => Ok(folder),
        _ => Err(Error::NotFound("asset folder")),
    }
}
