//! The map file: every source id with its destination id and URLs, each variant's URLs where
//! both sides have that width. JSON or CSV, chosen by the file's extension; `--rewrite` reads
//! it back.
//!
//! CSV columns: `kind,sourceId,destinationId,width,sourceUrl,destinationUrl`, one row per
//! folder (no URLs), asset (no width) and variant.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::wire::{RemoteAsset, RemoteFolder};

/// A folder's two ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderPair {
    /// Source id.
    pub source_id: String,
    /// Destination id.
    pub destination_id: String,
    /// Its name.
    pub display_name: String,
}

/// One variant width's two URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantPair {
    /// Width in pixels.
    pub width: i64,
    /// Source URL.
    pub source_hosted_url: String,
    /// Destination URL.
    pub destination_hosted_url: String,
}

/// An asset's two ids and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetPair {
    /// Source id.
    pub source_id: String,
    /// Destination id.
    pub destination_id: String,
    /// Source URL.
    pub source_hosted_url: String,
    /// Destination URL.
    pub destination_hosted_url: String,
    /// Variants both sides have.
    pub variants: Vec<VariantPair>,
}

/// The whole map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportMap {
    /// Folders.
    pub folders: Vec<FolderPair>,
    /// Assets.
    pub assets: Vec<AssetPair>,
}

/// Why a map cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// File I/O.
    #[error("map file: {0}")]
    Io(#[from] std::io::Error),
    /// JSON text.
    #[error("map file: {0}")]
    Json(#[from] serde_json::Error),
    /// CSV text.
    #[error("map file: {0}")]
    Csv(#[from] csv::Error),
    /// Neither `.json` nor `.csv`.
    #[error("map file {0}: the name must end in .json or .csv")]
    Format(String),
}

/// Pairs source and destination from `pairs` (source id → destination id). Pure.
pub fn build(
    source_folders: &[RemoteFolder],
    folder_pairs: &HashMap<String, String>,
    source_assets: &[RemoteAsset],
    destination_assets: &HashMap<String, RemoteAsset>,
    asset_pairs: &HashMap<String, String>,
) -> ImportMap {
    let folders = source_folders
        .iter()
        .filter_map(|f| {
            Some(FolderPair {
                source_id: f.id.clone(),
                destination_id: folder_pairs.get(&f.id)?.clone(),
                display_name: f.display_name.clone(),
            })
        })
        .collect();
    let assets = source_assets
        .iter()
        .filter_map(|src| {
            let dst = destination_assets.get(asset_pairs.get(&src.id)?)?;
            let variants = src
                .made_variants()
                .filter_map(|sv| {
                    let dv = dst.made_variants().find(|dv| dv.width == sv.width)?;
                    Some(VariantPair {
                        width: sv.width,
                        source_hosted_url: sv.hosted_url.clone(),
                        destination_hosted_url: dv.hosted_url.clone(),
                    })
                })
                .collect();
            Some(AssetPair {
                source_id: src.id.clone(),
                destination_id: dst.id.clone(),
                source_hosted_url: src.hosted_url.clone(),
                destination_hosted_url: dst.hosted_url.clone(),
                variants,
            })
        })
        .collect();
    ImportMap { folders, assets }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CsvRow {
    kind: String,
    source_id: String,
    destination_id: String,
    width: Option<i64>,
    source_url: String,
    destination_url: String,
}

fn is_csv(path: &Path) -> Result<bool, MapError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => Ok(true),
        Some(e) if e.eq_ignore_ascii_case("json") => Ok(false),
        _ => Err(MapError::Format(path.display().to_string())),
    }
}

/// Checks `path` has a map extension (before an import starts, not after it ends).
pub fn check_name(path: &Path) -> Result<(), MapError> {
    is_csv(path).map(|_| ())
}

impl ImportMap {
    /// `(source URL, destination URL)` of every asset and variant.
    pub fn url_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for asset in &self.assets {
            pairs.push((
                asset.source_hosted_url.clone(),
                asset.destination_hosted_url.clone(),
            ));
            for v in &asset.variants {
                pairs.push((
                    v.source_hosted_url.clone(),
                    v.destination_hosted_url.clone(),
                ));
            }
        }
        pairs
    }

    /// Writes the map to `path` (through a temp file renamed into place, so a reader never
    /// sees half a map).
    pub fn write(&self, path: &Path) -> Result<(), MapError> {
        let csv = is_csv(path)?;
        let tmp = path.with_extension("tmp-map");
        {
            let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            if csv {
                let mut out = csv::Writer::from_writer(file);
                for f in &self.folders {
                    out.serialize(CsvRow {
                        kind: "folder".into(),
                        source_id: f.source_id.clone(),
                        destination_id: f.destination_id.clone(),
                        width: None,
                        source_url: String::new(),
                        destination_url: String::new(),
                    })?;
                }
                for a in &self.assets {
                    out.serialize(CsvRow {
                        kind: "asset".into(),
                        source_id: a.source_id.clone(),
                        destination_id: a.destination_id.clone(),
                        width: None,
                        source_url: a.source_hosted_url.clone(),
                        destination_url: a.destination_hosted_url.clone(),
                    })?;
                    for v in &a.variants {
                        out.serialize(CsvRow {
                            kind: "variant".into(),
                            source_id: a.source_id.clone(),
                            destination_id: a.destination_id.clone(),
                            width: Some(v.width),
                            source_url: v.source_hosted_url.clone(),
                            destination_url: v.destination_hosted_url.clone(),
                        })?;
                    }
                }
                out.flush()?;
            } else {
                let mut file = file;
                serde_json::to_writer_pretty(&mut file, self)?;
                std::io::Write::flush(&mut file)?;
            }
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Reads a map written by [`ImportMap::write`].
    pub fn read(path: &Path) -> Result<Self, MapError> {
        if !is_csv(path)? {
            let file = std::io::BufReader::new(std::fs::File::open(path)?);
            return Ok(serde_json::from_reader(file)?);
        }
        let mut map = Self::default();
        let mut rows = csv::Reader::from_path(path)?;
        for row in rows.deserialize::<CsvRow>() {
            let row = row?;
            match row.kind.as_str() {
                "folder" => map.folders.push(FolderPair {
                    source_id: row.source_id,
                    destination_id: row.destination_id,
                    display_name: String::new(),
                }),
                "asset" => map.assets.push(AssetPair {
                    source_id: row.source_id,
                    destination_id: row.destination_id,
                    source_hosted_url: row.source_url,
                    destination_hosted_url: row.destination_url,
                    variants: Vec::new(),
                }),
                "variant" => {
                    let variant = VariantPair {
                        width: row.width.unwrap_or(0),
                        source_hosted_url: row.source_url,
                        destination_hosted_url: row.destination_url,
                    };
                    match map
                        .assets
                        .iter_mut()
                        .rev()
                        .find(|a| a.source_id == row.source_id)
                    {
                        Some(asset) => asset.variants.push(variant),
                        None => map.assets.push(AssetPair {
                            source_id: row.source_id,
                            destination_id: row.destination_id,
                            source_hosted_url: String::new(),
                            destination_hosted_url: String::new(),
                            variants: vec![variant],
                        }),
                    }
                }
                _ => {}
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::wire::RemoteVariant;

    fn asset(id: &str, host: &str, widths: &[i64]) -> RemoteAsset {
        RemoteAsset {
            id: id.into(),
            hosted_url: format!("http://{host}/{id}_a,\"b\".png"),
            original_file_name: "a.png".into(),
            display_name: String::new(),
            alt_text: None,
            size: 1,
            folder_id: None,
            variants: widths
                .iter()
                .map(|w| RemoteVariant {
                    hosted_url: format!("http://{host}/{id}_a-p-{w}.png"),
                    width: *w,
                    error: None,
                })
                .collect(),
        }
    }

    #[test]
    fn pairs_variants_both_sides_have_and_round_trips_csv_and_json() {
        let source = vec![asset("s1", "src", &[500, 800]), asset("s2", "src", &[])];
        let dest: HashMap<_, _> = [("d1".to_owned(), asset("d1", "dst", &[500]))].into();
        let pairs: HashMap<_, _> = [("s1".to_owned(), "d1".to_owned())].into();
        let folders = vec![RemoteFolder {
            id: "f".into(),
            display_name: "F".into(),
            parent_folder: None,
        }];
        let folder_pairs: HashMap<_, _> = [("f".to_owned(), "g".to_owned())].into();
        let map = build(&folders, &folder_pairs, &source, &dest, &pairs);
        assert_eq!(map.assets.len(), 1, "s2 was not imported");
        assert_eq!(map.assets[0].variants.len(), 1);
        assert_eq!(map.assets[0].variants[0].width, 500);
        assert_eq!(map.url_pairs().len(), 2);
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["m.json", "m.csv"] {
            let path = dir.path().join(name);
            map.write(&path).expect("write");
            let back = ImportMap::read(&path).expect("read");
            assert_eq!(back.url_pairs(), map.url_pairs(), "{name}");
            assert_eq!(back.folders[0].destination_id, "g");
        }
        assert!(ImportMap::read(&dir.path().join("m.txt")).is_err());
    }
}
