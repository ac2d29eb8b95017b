//! Where a page of a list lies, found from counts before any asset row is read. Pure
//! arithmetic, so its answers are tested without a database.
//!
//! # Lists at a million assets
//!
//! **Positions and buckets.** Every asset has a position in its list, `list_seq`, handed out
//! in insert order by a sequence (PostgreSQL's, or SQLite's one-row `list_sequence`); the list
//! order is that position. The uploaded assets are counted per *bucket* of [`BUCKET_SIZE`]
//! consecutive positions, per site (`site_list_counts`) and per folder (`folder_list_counts`).
//! Triggers on `assets` keep the counts in the transaction of every statement that changes an
//! asset's state, folder or position, whichever statement that is (migration
//! `*_list_positions`).
//!
//! **A page costs one bucket, wherever it is.** No B-tree either database uses can count its
//! way to the n-th entry: an `OFFSET` is skipped one entry at a time, 500,000 of them for the
//! middle page of 10⁶ assets. The counts can: summing the buckets in order says which bucket
//! holds entry n and how many entries come before that bucket, so a page is read from the
//! index range of its buckets (`list_seq >= first bucket's start`), skipping less than one
//! bucket. A site of 10⁶ assets has about 61 buckets (×16 counter rows on PostgreSQL, where
//! concurrent uploads of a site would otherwise queue on one row; a folder has one row per
//! bucket, since a tree's sum reads every row of its folders). The
//! total (`pagination.total`) is the sum of the same counts: exact, never a `COUNT(*)`.
//!
//! **Folder filters.** A tree's buckets are the sums over its folders' counts; its page reads
//! each folder's index over the page's bucket range and merges them, at most two buckets'
//! worth of the tree's entries whatever the offset or the tree's share of the site.
//!
//! **Why this size.** Fewer, larger buckets make the counts cheaper to sum and the skip
//! longer; 16,384 keeps both around a millisecond at 10⁶ assets (see BENCHMARKS.md, list).

use super::PageRequest;

/// log₂ of [`BUCKET_SIZE`]; the migrations compute a bucket as `list_seq >> 14`.
pub const BUCKET_SHIFT: u32 = 14;

/// Consecutive positions counted together.
pub const BUCKET_SIZE: i64 = 1 << BUCKET_SHIFT;

/// The longest skip for which a folder tree's page is read per folder up to its end (each
/// folder's index read for at most `skip + take` entries, then merged) rather than its whole
/// bucket range: past it, the per-folder reads add up to about the range anyway, and the
/// range's one sorted read is the cheaper (PostgreSQL, 2026-12-06).
pub const PER_FOLDER_SKIP_MAX: i64 = 1_000;

/// The listed assets of one bucket (of a site, or summed over a folder tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketCount {
    /// The bucket: positions `bucket × BUCKET_SIZE ..< (bucket + 1) × BUCKET_SIZE`.
    pub bucket: i64,
    /// Listed assets in it.
    pub listed: i64,
}

/// Where to read a page: the listed entries with positions in `from..until`, in list order,
/// skipping `skip` and taking `take`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The first position to look at: the start of the bucket holding the page's first entry.
    pub from: i64,
    /// One past the last position to look at: the end of the bucket holding its last entry.
    pub until: i64,
    /// Entries of the range before the page: less than one bucket's.
    pub skip: i64,
    /// Entries of the page.
    pub take: i64,
}

/// The total of a list: the sum of its buckets.
pub fn total(buckets: &[BucketCount]) -> i64 {
    buckets.iter().map(|b| b.listed).sum()
}

/// Where `page` lies in a list counted by `buckets` (in bucket order), or `None` if it is past
/// the end (or asks for nothing).
pub fn span(buckets: &[BucketCount], page: PageRequest) -> Option<Span> {
    if page.limit <= 0 || page.offset < 0 {
        return None;
    }
    let end = page.offset.saturating_add(page.limit);
    // Entries in the buckets walked so far; the first bucket reaching past the offset holds
    // the page's first entry, the first reaching the page's end its last.
    let mut through = 0;
    let mut first: Option<(i64, i64)> = None;
    let mut until = 0;
    for b in buckets.iter().filter(|b| b.listed > 0) {
        let before = through;
        through += b.listed;
        if first.is_none() && through > page.offset {
            first = Some((b.bucket << BUCKET_SHIFT, page.offset - before));
        }
        if first.is_some() {
            until = (b.bucket + 1) << BUCKET_SHIFT;
        }
        if through >= end {
            break;
        }
    }
    let (from, skip) = first?;
    Some(Span {
        from,
        until,
        skip,
        // Short of `limit` only when the list ends first.
        take: through.min(end) - page.offset,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn page(offset: i64, limit: i64) -> PageRequest {
        PageRequest { offset, limit }
    }

    fn counts(listed: &[(i64, i64)]) -> Vec<BucketCount> {
        listed
            .iter()
            .map(|&(bucket, listed)| BucketCount { bucket, listed })
            .collect()
    }

    /// The span found by walking every position of a list whose buckets hold `listed` entries
    /// at their first positions: the same answer `span` must give, found the slow way.
    fn walked(listed: &[(i64, i64)], page: PageRequest) -> Option<Span> {
        let positions: Vec<i64> = listed
            .iter()
            .flat_map(|&(bucket, n)| (0..n).map(move |i| (bucket << BUCKET_SHIFT) + i))
            .collect();
        let wanted = positions
            .get(usize::try_from(page.offset).ok()?..)?
            .iter()
            .take(usize::try_from(page.limit).ok()?)
            .copied()
            .collect::<Vec<_>>();
        let (first, last) = (*wanted.first()?, *wanted.last()?);
        let from = first >> BUCKET_SHIFT << BUCKET_SHIFT;
        Some(Span {
            from,
            until: ((last >> BUCKET_SHIFT) + 1) << BUCKET_SHIFT,
            skip: positions
                .iter()
                .filter(|&&p| p >= from && p < first)
                .count() as i64,
            take: wanted.len() as i64,
        })
    }

    #[test]
    fn the_total_is_the_sum_of_the_buckets() {
        assert_eq!(total(&counts(&[(0, 5), (3, 0), (7, 2)])), 7);
        assert_eq!(total(&[]), 0);
    }

    #[test]
    fn a_page_inside_one_bucket_reads_that_bucket() {
        assert_eq!(
            span(&counts(&[(0, 10), (1, 10)]), page(12, 5)),
            Some(Span {
                from: BUCKET_SIZE,
                until: 2 * BUCKET_SIZE,
                skip: 2,
                take: 5
            })
        );
    }

    #[test]
    fn a_page_across_buckets_reads_from_the_first_to_the_last() {
        assert_eq!(
            span(&counts(&[(0, 10), (4, 3), (9, 10)]), page(8, 6)),
            Some(Span {
                from: 0,
                until: 10 * BUCKET_SIZE,
                skip: 8,
                take: 6
            })
        );
    }

    #[test]
    fn a_last_page_that_runs_past_the_end_takes_what_is_left() {
        assert_eq!(
            span(&counts(&[(0, 10), (2, 5)]), page(12, 100)),
            Some(Span {
                from: 2 * BUCKET_SIZE,
                until: 3 * BUCKET_SIZE,
                skip: 2,
                take: 3
            })
        );
    }

    #[test]
    fn empty_buckets_are_passed_over() {
        // A bucket whose assets were all deleted keeps its counter row at zero.
        assert_eq!(
            span(&counts(&[(0, 3), (1, 0), (2, 4), (3, 0)]), page(3, 10)),
            Some(Span {
                from: 2 * BUCKET_SIZE,
                until: 3 * BUCKET_SIZE,
                skip: 0,
                take: 4
            })
        );
    }

    #[test]
    fn pages_past_the_end_read_nothing() {
        let c = counts(&[(0, 10)]);
        assert_eq!(span(&c, page(10, 100)), None);
        assert_eq!(span(&[], page(0, 100)), None);
        assert_eq!(span(&c, page(0, 0)), None);
        assert_eq!(span(&c, page(-1, 10)), None);
    }

    #[test]
    fn every_page_matches_a_walk_of_every_position() {
        let layouts: [&[(i64, i64)]; 4] = [
            &[(0, 37)],
            &[(0, 5), (1, 0), (2, 17), (5, 1), (6, 30)],
            &[(3, 1), (4, 1), (5, 1), (9, 1)],
            &[(0, 0), (1, 0)],
        ];
        for listed in layouts {
            let c = counts(listed);
            let n = total(&c);
            for offset in 0..=n + 1 {
                for limit in [1, 2, 3, 7, 100] {
                    let p = page(offset, limit);
                    assert_eq!(span(&c, p), walked(listed, p), "{listed:?} {p:?}");
                }
            }
        }
    }

    #[test]
    fn no_skip_reaches_a_whole_bucket() {
        let c: Vec<BucketCount> = (0..61)
            .map(|bucket| BucketCount {
                bucket,
                listed: BUCKET_SIZE - (bucket % 7) * 100,
            })
            .collect();
        let n = total(&c);
        for offset in (0..n).step_by(9_973) {
            let s = span(&c, page(offset, 100)).unwrap();
            assert!(s.skip < BUCKET_SIZE, "offset {offset}: {s:?}");
            assert!(
                s.until - s.from <= 2 * BUCKET_SIZE,
                "offset {offset}: {s:?}"
            );
        }
    }
}
