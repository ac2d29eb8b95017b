//! The backup's manifest, `manifest.jsonl`: what a backup holds, file by file, with each
//! file's size and MD5, so a restore can tell a whole, untouched backup from a damaged one.
//!
//! JSON lines rather than one document, so neither writing nor checking it ever holds a line
//! per object in memory:
//! ```text
//! {"format":"assetd-backup","version":1,"createdAt":"2026-12-06T02:40:00.000Z"}
//! {"path":"objects/{siteId}/{assetId}_{fileName}","size":51200,"md5":"…"}
//! {"path":"assetd.sqlite3","size":81920,"md5":"…"}
//! {"end":{"files":2002,"bytes":126484480}}
//! ```
//! The last line says how many files came before it, so a cut-off manifest is told from a
//! short one. The manifest protects against damage, not against someone who rewrites it too.

use std::io::{BufRead, Write};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

/// The manifest's file name in a backup directory.
pub const FILE_NAME: &str = "manifest.jsonl";

/// The `format` of the first line.
const FORMAT: &str = "assetd-backup";

/// The layout version this build writes and reads.
const VERSION: u32 = 1;

/// The first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    format: String,
    version: u32,
    created_at: String,
}

/// One file of the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the backup directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5, lower-case hex.
    pub md5: String,
}

/// The totals of the last line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Files listed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

#[derive(Serialize, Deserialize)]
struct End {
    end: Totals,
}

/// Why a manifest cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line is not what it should be.
    #[error("manifest line {line}: {reason}")]
    Bad {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Writes a manifest line by line.
pub struct Writer<W: Write> {
    out: W,
    totals: Totals,
}

impl<W: Write> Writer<W> {
    /// Starts a manifest written at `created_at` (RFC 3339).
    pub fn new(mut out: W, created_at: &str) -> std::io::Result<Self> {
        line(
            &mut out,
            &Header {
                format: FORMAT.into(),
                version: VERSION,
                created_at: created_at.into(),
            },
        )?;
        Ok(Self {
            out,
            totals: Totals::default(),
        })
    }

    /// Adds a file.
    pub fn add(&mut self, entry: &Entry) -> std::io::Result<()> {
        self.totals.files += 1;
        self.totals.bytes += entry.size;
        line(&mut self.out, entry)
    }

    /// Writes the last line; returns the output and the totals.
    pub fn finish(mut self) -> std::io::Result<(W, Totals)> {
        line(&mut self.out, &End { end: self.totals })?;
        self.out.flush()?;
        Ok((self.out, self.totals))
    }
}

fn line<T: Serialize>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Reads a manifest: checks its first line, calls `each` for every entry in order (with its
/// path checked to stay inside the backup) and returns the totals of its last line once they
/// have been checked against the entries.
pub fn read<E: From<ManifestError>>(
    input: impl BufRead,
    mut each: impl FnMut(Entry) -> Result<(), E>,
) -> Result<Totals, E> {
    let mut seen = Totals::default();
    let mut lines = input.lines();
    let bad = |line: u64, reason: &str| ManifestError::Bad {
        line,
        reason: reason.to_owned(),
    };
    let first = lines
        .next()
        .ok_or_else(|| bad(1, "empty"))?
        .map_err(ManifestError::from)?;
    let header: Header = serde_json::from_str(&first).map_err(|_| bad(1, "not a header"))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(bad(
            1,
            &format!("unknown format {} v{}", header.format, header.version),
        )
        .into());
    }
    let mut number = 1;
    for text in lines {
        let text = text.map_err(ManifestError::from)?;
        number += 1;
        if let Ok(End { end }) = serde_json::from_str::<End>(&text) {
            if end != seen {
                return Err(bad(number, "totals differ from the entries").into());
            }
            return Ok(end);
        }
        let entry: Entry = serde_json::from_str(&text).map_err(|_| bad(number, "not an entry"))?;
        if !is_inside(&entry.path) {
            return Err(bad(number, "path leaves the backup").into());
        }
        seen.files += 1;
        seen.bytes += entry.size;
        each(entry)?;
    }
    Err(bad(number, "cut off: no end line").into())
}

/// Whether `path` is relative, of plain segments only, and not the manifest itself.
fn is_inside(path: &str) -> bool {
    !path.is_empty()
        && path != FILE_NAME
        && !path.contains(['\\', '\0'])
        && path.split('/').all(|segment| {
            let mut parts = Path::new(segment).components();
            matches!((parts.next(), parts.next()), (Some(Component::Normal(p)), None) if p == segment)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry {
            path: path.into(),
            size: 3,
            md5: "x".into(),
        }
    }

    #[test]
    fn reads_what_it_writes_and_refuses_cut_off_or_escaping_manifests() {
        let mut writer = Writer::new(Vec::new(), "2026-12-06T00:00:00.000Z").expect("header");
        writer.add(&entry("assetd.sqlite3")).expect("add");
        writer.add(&entry("objects/s/a_b.png")).expect("add");
        let (text, totals) = writer.finish().expect("finish");
        assert_eq!(totals, Totals { files: 2, bytes: 6 });
        let mut paths = Vec::new();
        let read_back = read::<ManifestError>(&text[..], |e| {
            paths.push(e.path);
            Ok(())
        })
        .expect("read");
        assert_eq!(read_back, totals);
        assert_eq!(paths, ["assetd.sqlite3", "objects/s/a_b.png"]);

        let text = String::from_utf8(text).expect("utf-8");
        let cut = text.lines().take(3).collect::<Vec<_>>().join("\n");
        assert!(read::<ManifestError>(cut.as_bytes(), |_| Ok(())).is_err());
        let escaping = text.replace("objects/s/a_b.png", "../x");
        assert!(read::<ManifestError>(escaping.as_bytes(), |_| Ok(())).is_err());
        let dropped = text.replace(
            "{\"path\":\"assetd.sqlite3\",\"size\":3,\"md5\":\"x\"}\n",
            "",
        );
        assert!(read::<ManifestError>(dropped.as_bytes(), |_| Ok(())).is_err());
    }
}
