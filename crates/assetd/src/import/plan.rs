//! What to do with each source folder and asset, decided from the two sides' listings and the
//! state file. Pure: no I/O, so every case of a resumed or repeated run is unit-tested.
//!
//! The destination's listing wins over the state file: an asset the state file calls done but
//! the destination lacks (deleted since) is imported again, and an asset the destination has
//! under the source's id (a run killed between its upload and its state line) is adopted, not
//! duplicated.

use std::collections::{HashMap, HashSet};

use super::state_file::ImportState;
use super::wire::{RemoteAsset, RemoteFolder, default_display_name};

/// What to do with a source folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderAction {
    /// It is on the destination already, under this id.
    Exists(String),
    /// Create it (in the destination folder its parent maps to, resolved when its turn comes).
    Create,
}

/// Source folders parents first, each with its action. A folder whose parent is not among the
/// source's folders (or that is in a parent cycle) goes to the top level.
pub fn folders(
    source: &[RemoteFolder],
    destination: &[RemoteFolder],
    state: &ImportState,
) -> Vec<(RemoteFolder, FolderAction)> {
    let known: HashSet<&str> = source.iter().map(|f| f.id.as_str()).collect();
    let dest_ids: HashSet<&str> = destination.iter().map(|f| f.id.as_str()).collect();
    let mut placed: HashSet<String> = HashSet::new();
    let mut ordered: Vec<RemoteFolder> = Vec::with_capacity(source.len());
    // Each pass places the folders whose parent is placed: at most `source.len()` passes.
    for _ in 0..=source.len() {
        let before = ordered.len();
        for folder in source {
            if placed.contains(&folder.id) {
                continue;
            }
            let ready = match folder.parent_folder.as_deref() {
                None => true,
                Some(parent) => !known.contains(parent) || placed.contains(parent),
            };
            if ready {
                placed.insert(folder.id.clone());
                ordered.push(folder.clone());
            }
        }
        if ordered.len() == before {
            break;
        }
    }
    // Whatever is left sits in a cycle: place it at the top.
    for folder in source {
        if !placed.contains(&folder.id) {
            let mut top = folder.clone();
            top.parent_folder = None;
            ordered.push(top);
        }
    }
    for folder in &mut ordered {
        if folder
            .parent_folder
            .as_deref()
            .is_some_and(|p| !known.contains(p))
        {
            folder.parent_folder = None;
        }
    }
    ordered
        .into_iter()
        .map(|folder| {
            let action = match state.folders.get(&folder.id) {
                Some(dst) if dest_ids.contains(dst.as_str()) => FolderAction::Exists(dst.clone()),
                _ if dest_ids.contains(folder.id.as_str()) => {
                    FolderAction::Exists(folder.id.clone())
                }
                // Matched by name under the mapped parent when its turn comes (Webflow's own
                // guide reuses a folder of the same name; names are unique among siblings).
                _ => FolderAction::Create,
            };
            (folder, action)
        })
        .collect()
}

/// The destination folder named `name` under `parent`, if there is one.
pub fn folder_named<'a>(
    destination: &'a [RemoteFolder],
    parent: Option<&str>,
    name: &str,
) -> Option<&'a RemoteFolder> {
    destination
        .iter()
        .find(|f| f.parent_folder.as_deref() == parent && f.display_name == name)
}

/// The writable fields to set on a destination asset so it matches its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// New alt text (`Some(None)` clears it).
    pub alt_text: Option<Option<String>>,
}

impl MetaChanges {
    /// Whether nothing needs changing.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.alt_text.is_none()
    }
}

/// What `dst_id` (named `dst_display_name`, with `dst_alt_text`) needs to match `source`. A
/// source with its default name `{id}_{fileName}` wants the destination's default name.
pub fn meta_changes(
    source: &RemoteAsset,
    dst_id: &str,
    dst_display_name: &str,
    dst_alt_text: Option<&str>,
) -> MetaChanges {
    let wanted_name = if source.has_default_name() {
        default_display_name(dst_id, &source.original_file_name)
    } else {
        source.display_name.clone()
    };
    let wanted_alt = source.alt_text.as_deref().filter(|a| !a.is_empty());
    let dst_alt = dst_alt_text.filter(|a| !a.is_empty());
    MetaChanges {
        display_name: (wanted_name != dst_display_name).then_some(wanted_name),
        alt_text: (wanted_alt != dst_alt).then(|| wanted_alt.map(str::to_owned)),
    }
}

/// What to do with a source asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetAction {
    /// On the destination with its name and alt text: nothing to do.
    Skip {
        /// The destination id.
        dst: String,
    },
    /// On the destination with its bytes, but its name or alt text differ.
    Update {
        /// The destination id.
        dst: String,
        /// What to set.
        changes: MetaChanges,
    },
    /// Download, create, upload, name.
    Import {
        /// A destination asset an earlier run created whose bytes never arrived: delete it
        /// first, or it would stay pending (and hold the id an import wants to keep).
        stale: Option<String>,
    },
}

/// Decides the action for `source` given the destination's assets by id and the state.
pub fn asset(
    source: &RemoteAsset,
    destination: &HashMap<String, RemoteAsset>,
    state: &ImportState,
) -> AssetAction {
    let on_destination = |dst: &str| -> Option<AssetAction> {
        let found = destination.get(dst)?;
        // An asset under the same id with other bytes is not this one.
        if found.size != source.size || found.original_file_name != source.original_file_name {
            return None;
        }
        let changes = meta_changes(
            source,
            &found.id,
            &found.display_name,
            found.alt_text.as_deref(),
        );
        Some(if changes.is_empty() {
            AssetAction::Skip {
                dst: found.id.clone(),
            }
        } else {
            AssetAction::Update {
                dst: found.id.clone(),
                changes,
            }
        })
    };
    if let Some(action) = state
        .done
        .get(&source.id)
        .and_then(|dst| on_destination(dst))
    {
        return action;
    }
    if let Some(action) = on_destination(&source.id) {
        return action;
    }
    if let Some(dst) = state.created.get(&source.id) {
        if let Some(action) = on_destination(dst) {
            return action;
        }
        return AssetAction::Import {
            stale: Some(dst.clone()),
        };
    }
    AssetAction::Import { stale: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: &str, parent: Option<&str>, name: &str) -> RemoteFolder {
        RemoteFolder {
            id: id.into(),
            display_name: name.into(),
            parent_folder: parent.map(Into::into),
        }
    }

    fn asset(id: &str, name: &str, size: u64) -> RemoteAsset {
        RemoteAsset {
            id: id.into(),
            hosted_url: format!("http://src/{id}_{name}"),
            original_file_name: name.into(),
            display_name: default_display_name(id, name),
            alt_text: None,
            size,
            folder_id: None,
            variants: Vec::new(),
        }
    }

    #[test]
    fn orders_folders_parents_first_and_lifts_orphans_and_cycles_to_the_top() {
        let source = [
            folder("c", Some("b"), "c"),
            folder("b", Some("a"), "b"),
            folder("a", None, "a"),
            folder("o", Some("gone"), "orphan"),
            folder("x", Some("y"), "x"),
            folder("y", Some("x"), "y"),
        ];
        let planned = folders(&source, &[], &ImportState::default());
        let ids: Vec<_> = planned.iter().map(|(f, _)| f.id.as_str()).collect();
        let at = |id: &str| ids.iter().position(|i| *i == id).expect("planned");
        assert!(at("a") < at("b") && at("b") < at("c"));
        assert_eq!(planned.len(), 6);
        let orphan = &planned[at("o")].0;
        assert_eq!(orphan.parent_folder, None);
        assert!(
            planned[at("x")].0.parent_folder.is_none()
                || planned[at("y")].0.parent_folder.is_none()
        );
        assert!(planned.iter().all(|(_, a)| *a == FolderAction::Create));
    }

    #[test]
    fn a_folder_on_the_destination_by_state_or_kept_id_is_not_created_again() {
        let source = [folder("a", None, "a"), folder("b", None, "b")];
        let destination = [folder("a", None, "a"), folder("m", None, "b")];
        let mut state = ImportState::default();
        state.folders.insert("b".into(), "m".into());
        let planned = folders(&source, &destination, &state);
        assert_eq!(planned[0].1, FolderAction::Exists("a".into()));
        assert_eq!(planned[1].1, FolderAction::Exists("m".into()));
        assert_eq!(
            folder_named(&destination, None, "b").map(|f| f.id.as_str()),
            Some("m")
        );
        assert!(folder_named(&destination, Some("a"), "b").is_none());
    }

    #[test]
    fn default_names_follow_the_id_and_chosen_names_are_copied() {
        let mut source = asset("s1", "a.png", 3);
        assert!(meta_changes(&source, "d1", "d1_a.png", None).is_empty());
        assert_eq!(
            meta_changes(&source, "d1", "s1_a.png", None).display_name,
            Some("d1_a.png".into())
        );
        source.display_name = "Hero".into();
        source.alt_text = Some("A hero".into());
        let changes = meta_changes(&source, "d1", "d1_a.png", None);
        assert_eq!(changes.display_name, Some("Hero".into()));
        assert_eq!(changes.alt_text, Some(Some("A hero".into())));
        assert!(meta_changes(&source, "d1", "Hero", Some("A hero")).is_empty());
        source.alt_text = None;
        assert_eq!(
            meta_changes(&source, "d1", "Hero", Some("old")).alt_text,
            Some(None)
        );
    }

    #[test]
    fn resumed_and_repeated_runs_create_nothing_twice() {
        let source = asset("s1", "a.png", 3);
        let mut destination = HashMap::new();
        let state = ImportState::default();
        assert_eq!(
            super::asset(&source, &destination, &state),
            AssetAction::Import { stale: None }
        );
        // Killed after the upload, before the state line: adopted by its kept id.
        destination.insert("s1".into(), asset("s1", "a.png", 3));
        assert_eq!(
            super::asset(&source, &destination, &state),
            AssetAction::Skip { dst: "s1".into() }
        );
        // The same id with other bytes is another asset.
        destination.insert("s1".into(), asset("s1", "b.png", 3));
        assert_eq!(
            super::asset(&source, &destination, &state),
            AssetAction::Import { stale: None }
        );
        // Mapped ids: created, bytes never arrived → the pending one is deleted first.
        let mut state = ImportState::default();
        state.created.insert("s1".into(), "d9".into());
        let destination = HashMap::new();
        assert_eq!(
            super::asset(&source, &destination, &state),
            AssetAction::Import {
                stale: Some("d9".into())
            }
        );
        // Done, and its bytes arrived: nothing (its default name follows the new id).
        let mut destination = HashMap::new();
        destination.insert("d9".into(), asset("d9", "a.png", 3));
        state.done.insert("s1".into(), "d9".into());
        assert_eq!(
            super::asset(&source, &destination, &state),
            AssetAction::Skip { dst: "d9".into() }
        );
        // Done, but deleted on the destination since: imported again.
        assert_eq!(
            super::asset(
                &source,
                &HashMap::new(),
                &ImportState {
                    done: state.done.clone(),
                    ..ImportState::default()
                }
            ),
            AssetAction::Import { stale: None }
        );
    }
}
