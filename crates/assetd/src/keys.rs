//! Object keys: `{siteId}/{assetId}_{fileName}`, built by assetd and parsed back to ids, and
//! the longest file name whose keys fit every store.

use crate::ids::ObjectId;
use crate::variant_plan::{WEBFLOW_WIDTHS, variant_key};

/// Linux's `NAME_MAX`: the longest name of one file, in bytes (ext4, XFS, btrfs and tmpfs
/// alike). The embedded store keeps `{assetId}_{fileName}` as one file name.
pub const MAX_NAME_BYTES: usize = 255;

/// S3's longest object key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Characters of an id as keys show it.
const ID_CHARS: usize = 24;

/// The longest `fileName`, in UTF-8 bytes, whose stored object fits both limits, and, where
/// the file gets variants, every variant's too (`{stem}-p-{width}.{ext}` is a few bytes longer).
pub fn max_file_name_bytes(gets_variants: bool) -> usize {
    let widest = WEBFLOW_WIDTHS.iter().copied().max().unwrap_or(0);
    let suffix = if gets_variants {
        variant_key("x", widest).len() - 1
    } else {
        0
    };
    let in_name = MAX_NAME_BYTES - (ID_CHARS + 1) - suffix;
    let in_key = MAX_KEY_BYTES - (ID_CHARS + 1) - (ID_CHARS + 1) - suffix;
    in_name.min(in_key)
}

/// Whether `key` fits every store: its last segment within [`MAX_NAME_BYTES`], the whole within
/// [`MAX_KEY_BYTES`]. Create Asset keeps file names short enough for the original and its
/// same-format variants; a WebP variant's `.webp` may be longer than the original's extension,
/// so its key is checked before it is planned.
pub fn fits(key: &str) -> bool {
    let name = key.rsplit_once('/').map_or(key, |(_, name)| name);
    name.len() <= MAX_NAME_BYTES && key.len() <= MAX_KEY_BYTES
}

/// The key of an asset's bytes.
pub fn storage_key(site: ObjectId, asset: ObjectId, file_name: &str) -> String {
    format!("{site}/{asset}_{file_name}")
}

/// Bytes a replacement's key adds to its file name: `{replacementId}-`.
pub const REPLACEMENT_NAME_BYTES: usize = ID_CHARS + 1;

/// The key of a replacement file of an asset, `{siteId}/{assetId}_{replacementId}-{fileName}`:
/// an asset key (the asset's id first, so delivery finds the asset as for its first file),
/// new for each replacement, so a new file never has an old file's URL.
pub fn replacement_key(
    site: ObjectId,
    asset: ObjectId,
    replacement: ObjectId,
    file_name: &str,
) -> String {
    storage_key(site, asset, &format!("{replacement}-{file_name}"))
}

/// The replacement id in a key of [`replacement_key`]'s shape, if it has one. (Any asset key
/// whose name starts with 24 hex digits and a dash has the shape; the caller checks that such a
/// replacement exists with exactly this key.)
pub fn replacement_in_key(key: &str) -> Option<ObjectId> {
    let (_, rest) = key.split_once('/')?;
    let (_, name) = rest.split_once('_')?;
    let (id, file_name) = name.split_at_checked(ID_CHARS)?;
    if !file_name.starts_with('-') || file_name.len() < 2 {
        return None;
    }
    id.parse().ok()
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
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_longest_file_name_leaves_room_for_the_id_and_the_variant_suffix() {
        let site = ObjectId::generate(chrono::Utc::now());
        let asset = ObjectId::generate(chrono::Utc::now());
        for gets_variants in [false, true] {
            let max = max_file_name_bytes(gets_variants);
            let name = format!("{}.png", "\u{6587}".repeat((max - 4) / 3));
            assert!(name.len() <= max);
            let key = storage_key(site, asset, &name);
            let longest = if gets_variants {
                WEBFLOW_WIDTHS
                    .iter()
                    .map(|&w| variant_key(&key, w))
                    .max_by_key(String::len)
                    .unwrap()
            } else {
                key
            };
            let file = longest.rsplit('/').next().unwrap();
            assert!(file.len() <= MAX_NAME_BYTES, "{} bytes", file.len());
            assert!(longest.len() <= MAX_KEY_BYTES);
        }
        assert_eq!(max_file_name_bytes(false), 230);
        let longest_name = format!("{site}/{}", "n".repeat(MAX_NAME_BYTES));
        assert!(fits(&longest_name));
        assert!(!fits(&format!("{longest_name}x")));
        assert_eq!(max_file_name_bytes(true), 223);
    }

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

    #[test]
    fn replacement_keys_are_asset_keys_that_name_the_replacement() {
        let site = ObjectId::generate(chrono::Utc::now());
        let asset = ObjectId::generate(chrono::Utc::now());
        let replacement = ObjectId::generate(chrono::Utc::now());
        let key = replacement_key(site, asset, replacement, "new_file.png");
        assert_eq!(key, format!("{site}/{asset}_{replacement}-new_file.png"));
        assert_eq!(parse_storage_key(&key), Some((site, asset)));
        assert_eq!(replacement_in_key(&key), Some(replacement));
        assert_eq!(
            key.len(),
            storage_key(site, asset, "new_file.png").len() + REPLACEMENT_NAME_BYTES
        );
        for plain in [
            storage_key(site, asset, "new_file.png"),
            storage_key(site, asset, &format!("{replacement}-")),
            storage_key(site, asset, &format!("{replacement}.png")),
            storage_key(site, asset, &format!("{}-a.png", "g".repeat(24))),
        ] {
            assert_eq!(replacement_in_key(&plain), None, "{plain}");
        }
    }
}
