//! Object keys: `{siteId}/{assetId}_{fileName}`, built by assetd and parsed back to ids.

use crate::ids::ObjectId;

/// The key of an asset's bytes.
pub fn storage_key(site: ObjectId, asset: ObjectId, file_name: &str) -> String {
    format!("{site}/{asset}_{file_name}")
}

/// The site and asset ids a key names, if it has the shape assetd builds.
pub fn parse_storage_key(key: &str) -> Option<(ObjectId, ObjectId)> {
    let (site, rest) = key.split_once('/')?;
    let (asset, name) = rest.split_once('_')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some((site.parse().ok()?, asset.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_keys() {
        let site = ObjectId::generate(chrono::Utc::now());
        let asset = ObjectId::generate(chrono::Utc::now());
        let key = storage_key(site, asset, "a_b c.png");
        assert_eq!(parse_storage_key(&key), Some((site, asset)));
        for bad in [
            "",
            "x/y_z",
            &format!("{site}/{asset}"),
            &format!("{site}/{asset}_"),
            &format!("{site}/{asset}_a/b"),
        ] {
            assert_eq!(parse_storage_key(bad), None, "{bad}");
        }
    }
}
