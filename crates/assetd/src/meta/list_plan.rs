//! How a page of a list is read, decided from the exact totals the counters give before any row
//! is read: from which end of the list, how many entries to skip there, and, with a folder
//! filter, which index to walk. Pure arithmetic, so its choices are tested without a database.
//!
//! # Lists at a million assets
//!
//! **Totals are counters.** `pagination.total` is the sum of a site's rows in
//! `site_asset_counts` (a folder tree's: `folder_asset_counts` over the tree's folders), not a
//! `COUNT(*)` of its assets, which visits every one of them on every call. Triggers on `assets`
//! (migration `*_list_counts`) keep the counters, so every statement that makes an asset
//! listed or unlisted moves them in its own transaction, crash or not, including statements
//! this module never sees (a site's cascade, a future move between folders). They also leave
//! the hot paths as they were: the group-commit writer inserts pending rows, which the
//! triggers' `WHEN` passes over, and SQLite's mark-uploaded stays one autocommit statement.
//!
//! **Sharded on PostgreSQL.** A counter row updated by a mark-uploaded stays locked until that
//! transaction commits, so with one row per site every upload of a site would queue behind the
//! previous one's commit (its WAL flush). PostgreSQL's counters are spread over 16 rows per
//! site and folder by the asset id's last hex digit, which consecutive ids do not share; a total
//! sums at most 16 rows. SQLite has one writer at a time anyway: one row.
//!
//! **Offsets are skipped in an index.** An `OFFSET` is skipped one entry at a time in both
//! databases; no B-tree either uses can count its way to the n-th entry. The partial covering
//! index `assets_listed (site_id, created_on, id, folder_id) WHERE state = 'uploaded'` makes
//! each skipped entry an index entry rather than a table row (before, every skipped asset was
//! read from the table to test its state), only the page's own rows are read whole, and a page
//! in the second half of the list is read backwards from its end, which the exact total
//! allows: no page of 10⁶ assets skips more than 500,000 entries. Webflow's `offset`/`limit`
//! semantics are unchanged.
//!
//! **Folder filters choose their walk.** A tree holding much of the site is walked in the
//! site's list order (index-only, folder tested per entry); a small one is read whole from
//! `assets_listed_by_folder` and sorted. The totals, known first, say which is cheaper.

use super::PageRequest;

/// Which end of the list a page is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first, skipping the items before the page.
    Forward,
    /// Newest first, skipping the items after the page (the rows are put back in list order).
    Backward,
}

impl Direction {
    /// The `ORDER BY` keyword.
    pub fn sql(self) -> &'static str {
        match self {
            Self::Forward => "ASC",
            Self::Backward => "DESC",
        }
    }
}

/// The slice of a list to read: `take` items after skipping `skip` from one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The end the skip starts from.
    pub direction: Direction,
    /// Items to skip.
    pub skip: i64,
    /// Items to read.
    pub take: i64,
}

/// The window of `page` in a list of `total` items, or `None` if the page is past the end.
pub fn window(total: i64, page: PageRequest) -> Option<Window> {
    if page.offset >= total || page.limit <= 0 {
        return None;
    }
    let take = page.limit.min(total - page.offset);
    let after = total - page.offset - take;
    Some(if after < page.offset {
        Window {
            direction: Direction::Backward,
            skip: after,
            take,
        }
    } else {
        Window {
            direction: Direction::Forward,
            skip: page.offset,
            take,
        }
    })
}

/// Which index a folder-filtered page walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderScan {
    /// The site's list index in list order, passing over the assets outside the folder's tree:
    /// cheap when the tree holds much of the site.
    SiteOrder,
    /// Every listed asset of the tree's folders from the per-folder index, then sorted: cheap
    /// when the tree holds little of the site.
    FolderIndex,
}

/// What reading one entry from the per-folder index and sorting it costs, in entries of the
/// site's index walked in order. An estimate (sorting is n log n); its only job is to pick the
/// walk that is far cheaper, which at these sizes is usually cheaper by orders of magnitude.
const FOLDER_ENTRY_COST: i64 = 4;

/// The cheaper walk for `window` of a folder tree holding `tree_total` of the site's
/// `site_total` listed assets. In site order, reaching the window's far edge passes over about
/// `(skip + take) × site_total / tree_total` entries (the tree's assets assumed spread evenly
/// over the site's list); the folder index reads all `tree_total`.
pub fn folder_scan(window: Window, tree_total: i64, site_total: i64) -> FolderScan {
    let reach = i128::from(window.skip + window.take);
    let in_site_order = reach * i128::from(site_total.max(tree_total));
    let by_folder =
        i128::from(FOLDER_ENTRY_COST) * i128::from(tree_total) * i128::from(tree_total.max(1));
    if in_site_order <= by_folder {
        FolderScan::SiteOrder
    } else {
        FolderScan::FolderIndex
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn page(offset: i64, limit: i64) -> PageRequest {
        PageRequest { offset, limit }
    }

    #[test]
    fn pages_in_the_first_half_are_read_forwards() {
        assert_eq!(
            window(1_000, page(0, 100)),
            Some(Window {
                direction: Direction::Forward,
                skip: 0,
                take: 100
            })
        );
        assert_eq!(
            window(1_000, page(400, 100)),
            Some(Window {
                direction: Direction::Forward,
                skip: 400,
                take: 100
            })
        );
    }

    #[test]
    fn pages_in_the_second_half_are_read_backwards_from_the_end() {
        assert_eq!(
            window(1_000, page(900, 100)),
            Some(Window {
                direction: Direction::Backward,
                skip: 0,
                take: 100
            })
        );
        assert_eq!(
            window(1_000, page(600, 100)),
            Some(Window {
                direction: Direction::Backward,
                skip: 300,
                take: 100
            })
        );
    }

    #[test]
    fn a_last_page_that_runs_past_the_end_takes_what_is_left() {
        assert_eq!(
            window(1_050, page(1_000, 100)),
            Some(Window {
                direction: Direction::Backward,
                skip: 0,
                take: 50
            })
        );
    }

    #[test]
    fn pages_past_the_end_read_nothing() {
        assert_eq!(window(1_000, page(1_000, 100)), None);
        assert_eq!(window(0, page(0, 100)), None);
        assert_eq!(window(10, page(0, 0)), None);
    }

    #[test]
    fn no_skip_is_longer_than_half_the_list() {
        let total = 1_000_003;
        for offset in (0..total).step_by(997) {
            let w = window(total, page(offset, 100)).unwrap();
            assert!(w.skip <= total / 2, "offset {offset}: {w:?}");
        }
    }

    #[test]
    fn a_tree_holding_most_of_the_site_is_walked_in_site_order() {
        let w = window(900_000, page(450_000, 100)).unwrap();
        assert_eq!(folder_scan(w, 900_000, 1_000_000), FolderScan::SiteOrder);
    }

    #[test]
    fn a_small_tree_is_read_from_the_folder_index() {
        let w = window(100, page(0, 100)).unwrap();
        assert_eq!(folder_scan(w, 100, 1_000_000), FolderScan::FolderIndex);
    }

    #[test]
    fn the_first_page_of_a_sizeable_tree_is_walked_in_site_order() {
        // 100 matches among 10 % of the site: about 1,000 entries, against 100,000 sorted.
        let w = window(100_000, page(0, 100)).unwrap();
        assert_eq!(folder_scan(w, 100_000, 1_000_000), FolderScan::SiteOrder);
    }
}
