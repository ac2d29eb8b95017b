//! The state file: what earlier runs of the same import did, so a rerun continues where the last
//! one stopped and creates nothing twice.
//!
//! One JSON object per line, appended and flushed as each step finishes: a killed run loses at
//! most the line it was writing, and a cut-off last line is ignored when read back. The first
//! line names the source and destination (APIs and sites, never tokens); a file written for
//! another pair is refused rather than trusted. Lines are only ever added; a later line about
//! the same source id wins.
//!
//! The destination's own listing is the other half of the truth (see `plan`): a step done but
//! not yet written here (a kill between the two) is recognised there.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The pair an import copies between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// Source API base URL.
    pub from_api: String,
    /// Source site.
    pub from_site: String,
    /// Destination API base URL.
    pub to_api: String,
    /// Destination site.
    pub to_site: String,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Entry {
    /// The first line.
    Header {
        /// Format version.
        version: u32,
        /// The pair.
        endpoints: Endpoints,
    },
    /// A source folder has this destination folder.
    Folder {
        /// Source id.
        src: String,
        /// Destination id.
        dst: String,
    },
    /// A destination asset was created for a source asset; its bytes may not have arrived.
    Created {
        /// Source id.
        src: String,
        /// Destination id.
        dst: String,
    },
    /// A source asset is on the destination, bytes, name and alt text.
    Done {
        /// Source id.
        src: String,
        /// Destination id.
        dst: String,
    },
}

/// What the file says, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportState {
    /// Source folder id → destination folder id.
    pub folders: HashMap<String, String>,
    /// Source asset id → destination asset id, created but perhaps not uploaded.
    pub created: HashMap<String, String>,
    /// Source asset id → destination asset id, finished.
    pub done: HashMap<String, String>,
}

/// Why the state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing it failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// It belongs to another import.
    #[error("state file {path} belongs to another import ({found:?}); use another --state file")]
    OtherImport {
        /// The file.
        path: PathBuf,
        /// What it names.
        found: Box<Endpoints>,
    },
    /// A line in the middle is not an entry (the file was edited or is not a state file).
    #[error("state file {path}: line {line} is not a state entry")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Its 1-based line number.
        line: usize,
    },
}

/// Folds the text of a state file. Pure. A last line without its newline is a write cut off
/// by a kill and is ignored; any other unreadable line is an error.
pub fn parse(text: &str) -> Result<(Option<Endpoints>, ImportState), usize> {
    let mut state = ImportState::default();
    let mut endpoints = None;
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry = match serde_json::from_str::<Entry>(line) {
            Ok(entry) => entry,
            Err(_) if n + 1 == lines.len() && !complete => break,
            Err(_) => return Err(n + 1),
        };
        match entry {
            Entry::Header { endpoints: e, .. } => endpoints = Some(e),
            Entry::Folder { src, dst } => {
                state.folders.insert(src, dst);
            }
            Entry::Created { src, dst } => {
                state.created.insert(src, dst);
            }
            Entry::Done { src, dst } => {
                state.created.remove(&src);
                state.done.insert(src, dst);
            }
        }
    }
    Ok((endpoints, state))
}

/// The open state file, appended to as steps finish.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    file: std::sync::Mutex<std::fs::File>,
}

impl StateFile {
    /// Reads the file at `path` (absent: a first run) and opens it for appending; writes the
    /// header if it is new. Refuses a file of another import.
    pub fn open(path: &Path, endpoints: &Endpoints) -> Result<(Self, ImportState), StateError> {
        let io = |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let (found, state) = parse(&text).map_err(|line| StateError::Corrupt {
            path: path.to_path_buf(),
            line,
        })?;
        if let Some(found) = found
            && found != *endpoints
        {
            return Err(StateError::OtherImport {
                path: path.to_path_buf(),
                found: Box::new(found),
            });
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if !text.is_empty() && !text.ends_with('\n') {
            // Finish the cut-off line so the next entry starts on its own.
            file.write_all(b"\n").map_err(io)?;
        }
        let this = Self {
            path: path.to_path_buf(),
            file: std::sync::Mutex::new(file),
        };
        if text.trim().is_empty() {
            this.append(&Entry::Header {
                version: 1,
                endpoints: endpoints.clone(),
            })?;
        }
        Ok((this, state))
    }

    /// Appends one entry and flushes it to the OS (a killed process loses nothing written;
    /// a power cut may lose the last lines, which the destination's listing then recovers).
    pub fn append(&self, entry: &Entry) -> Result<(), StateError> {
        let mut line = serde_json::to_string(entry).unwrap_or_default();
        line.push('\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|source| StateError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(entry: &Entry) -> String {
        serde_json::to_string(entry).expect("serializes") + "\n"
    }

    #[test]
    fn folds_entries_and_a_done_asset_is_no_longer_only_created() {
        let text = [
            line(&Entry::Folder {
                src: "f1".into(),
                dst: "g1".into(),
            }),
            line(&Entry::Created {
                src: "a1".into(),
                dst: "b1".into(),
            }),
            line(&Entry::Created {
                src: "a2".into(),
                dst: "b2".into(),
            }),
            line(&Entry::Done {
                src: "a1".into(),
                dst: "b1".into(),
            }),
        ]
        .concat();
        let (endpoints, state) = parse(&text).expect("valid");
        assert_eq!(endpoints, None);
        assert_eq!(state.folders["f1"], "g1");
        assert_eq!(state.done["a1"], "b1");
        assert!(!state.created.contains_key("a1"));
        assert_eq!(state.created["a2"], "b2");
    }

    #[test]
    fn ignores_a_cut_off_last_line_but_not_a_broken_middle_one() {
        let done = line(&Entry::Done {
            src: "a".into(),
            dst: "b".into(),
        });
        let cut = format!("{done}{{\"step\":\"done\",\"src\":\"x");
        let (_, state) = parse(&cut).expect("a cut-off tail is tolerated");
        assert_eq!(state.done.len(), 1);
        assert_eq!(parse(&format!("garbage\n{done}")), Err(1));
    }

    #[test]
    fn refuses_the_file_of_another_import_and_resumes_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.state");
        let ours = Endpoints {
            from_api: "http://a/v2".into(),
            from_site: "1".into(),
            to_api: "http://b/v2".into(),
            to_site: "2".into(),
        };
        let (file, state) = StateFile::open(&path, &ours).expect("new");
        assert_eq!(state, ImportState::default());
        file.append(&Entry::Done {
            src: "a".into(),
            dst: "b".into(),
        })
        .expect("append");
        drop(file);
        let (_, state) = StateFile::open(&path, &ours).expect("reopen");
        assert_eq!(state.done["a"], "b");
        let theirs = Endpoints {
            to_site: "3".into(),
            ..ours
        };
        assert!(matches!(
            StateFile::open(&path, &theirs),
            Err(StateError::OtherImport { .. })
        ));
    }
}
