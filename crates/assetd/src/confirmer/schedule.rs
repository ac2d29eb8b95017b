//! The confirmer's schedule: which open uploads are checked, when, and who waits for the answer.
//! No I/O and no clock reads (the caller passes "now"), so its rules are tested directly.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{ConfirmError, Verdict};
use crate::ids::ObjectId;
use crate::meta::Asset;

/// How long after its create an upload is first checked; each later interval is twice the one
/// before. A small file posted right after its create has usually arrived by then.
pub const FIRST_CHECK: Duration = Duration::from_millis(200);
/// The longest interval between two background checks of one upload: an upload still open after
/// the doubling reaches it (about 100 s after its create) is looked at once a minute until its
/// window closes, at most about 70 HEADs over the default one-hour window.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Most checks in flight at once.
pub const SLOTS: usize = 8;
/// Of which background checks may take at most this many, so a read's check starts at once.
pub const BACKGROUND_SLOTS: usize = 6;
/// Most uploads tracked. An upload created while the schedule is full is left to the scan of
/// open uploads, which adopts it once there is room (an entry is a few hundred bytes).
pub const CAPACITY: usize = 10_000;
/// How long background checks pause after the store was found unavailable; doubled while it
/// stays so, up to [`MAX_PAUSE`], so an outage costs a trickle of HEADs, not a flood.
const MIN_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// What a read waiting for a check is told.
pub type Answer = Result<Verdict, ConfirmError>;

/// The interval after `checks` checks: [`FIRST_CHECK`] doubled `checks` times, at most
/// [`MAX_INTERVAL`].
pub fn interval(checks: u32) -> Duration {
    let factor = 1u32.checked_shl(checks).unwrap_or(u32::MAX);
    FIRST_CHECK.saturating_mul(factor).min(MAX_INTERVAL)
}

/// How many background checks an upload created `age` ago would have had by now: where an
/// upload this node did not create (another node's, or one from before a restart) joins the
/// schedule, so an old abandoned upload is not checked at a new upload's pace.
pub fn checks_by_age(age: Duration) -> u32 {
    let (mut checks, mut elapsed) = (0, FIRST_CHECK);
    // Bounded: the interval reaches MAX_INTERVAL after a few doublings, and past that the count
    // no longer changes the interval.
    while elapsed <= age && interval(checks) < MAX_INTERVAL {
        checks += 1;
        elapsed += interval(checks);
    }
    checks
}

/// A check to begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The asset whose object is looked at.
    pub asset: Asset,
    /// Whether a read asked for it (it holds a read's slot, not a background one).
    pub urgent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Its next background check is due then (it is in `due`).
    Waiting(Instant),
    /// A read asked for a check (it is in `urgent`).
    Urgent,
    /// A check is in flight.
    Checking { urgent: bool },
}

#[derive(Debug)]
struct Waiter {
    answer: oneshot::Sender<Answer>,
    /// Asked while a check was already in flight: that check may have looked before the bytes
    /// the reader knows of arrived, so only the next one answers it.
    wants_next: bool,
}

#[derive(Debug)]
struct Entry {
    asset: Asset,
    /// Checks done: the upload's place in the backoff.
    checks: u32,
    last_checked: Option<Instant>,
    state: State,
    waiters: Vec<Waiter>,
    /// Whether it stays tracked after its check (not when a read asked about it while the
    /// schedule was full, or after it was forgotten).
    keep: bool,
}

/// The tracked uploads and their checks.
#[derive(Debug, Default)]
pub struct Schedule {
    entries: HashMap<ObjectId, Entry>,
    by_site: HashMap<ObjectId, HashSet<ObjectId>>,
    /// Waiting entries by due time.
    due: BTreeSet<(Instant, ObjectId)>,
    /// Urgent entries, first asked first checked (may hold ids no longer urgent; skipped).
    urgent: VecDeque<ObjectId>,
    /// Sites read since the last [`Schedule::start`].
    hurried: HashSet<ObjectId>,
    checking: usize,
    background_checking: usize,
    paused_until: Option<Instant>,
    pause: Duration,
    /// When the confirmer's loop will look again by itself (`None`: only when woken).
    alarm: Option<Instant>,
    /// A scan of open uploads is under way.
    pub scanning: bool,
    /// The confirmer stopped: reads are answered at once.
    stopped: bool,
}

impl Schedule {
    /// How many uploads are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no upload is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many checks are in flight.
    pub fn checking(&self) -> usize {
        self.checking
    }

    fn insert(&mut self, entry: Entry) {
        let id = entry.asset.id;
        self.by_site
            .entry(entry.asset.site_id)
            .or_default()
            .insert(id);
        match entry.state {
            State::Waiting(at) => {
                self.due.insert((at, id));
            }
            State::Urgent => self.urgent.push_back(id),
            State::Checking { .. } => {}
        }
        self.entries.insert(id, entry);
    }

    fn remove(&mut self, id: ObjectId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(ids) = self.by_site.get_mut(&entry.asset.site_id) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_site.remove(&entry.asset.site_id);
            }
        }
        if let State::Waiting(at) = entry.state {
            self.due.remove(&(at, id));
        }
        Some(entry)
    }

    /// Whether a new entry due `at` needs the loop woken (it would otherwise sleep past it).
    fn wakes(&self, at: Instant) -> bool {
        self.alarm.is_none_or(|alarm| at < alarm)
    }

    /// Tracks `asset`, its next check due `at`, as if `checks` checks were done. Returns whether
    /// the loop must be woken for it; an upload already tracked, or one that finds the schedule
    /// full, is left as it is.
    pub fn track(&mut self, asset: &Asset, checks: u32, at: Instant) -> bool {
        if self.stopped || self.entries.contains_key(&asset.id) || self.len() >= CAPACITY {
            return false;
        }
        self.insert(Entry {
            asset: asset.clone(),
            checks,
            last_checked: None,
            state: State::Waiting(at),
            waiters: Vec::new(),
            keep: true,
        });
        self.wakes(at)
    }

    /// Tracks the open uploads of a scan (at `now`; `wall`, the same instant on the wall clock)
    /// that are not tracked yet, each checked now and then at the pace its age calls for.
    /// Returns how many were adopted.
    pub fn adopt(&mut self, open: &[Asset], now: Instant, wall: DateTime<Utc>) -> usize {
        let mut adopted = 0;
        for asset in open {
            let age = (wall - asset.created_on).to_std().unwrap_or_default();
            if self.track(asset, checks_by_age(age), now) {
                adopted += 1;
            } else if self.len() >= CAPACITY {
                break;
            }
        }
        adopted
    }

    /// A read of `asset` asks for a check begun from now on; `answer` gets its outcome. The
    /// asset is tracked for it if it is not (kept afterwards only if the schedule has room).
    pub fn ask(&mut self, asset: &Asset, answer: oneshot::Sender<Answer>) {
        if self.stopped {
            let _ = answer.send(Err(ConfirmError::Stopped));
            return;
        }
        let Some(entry) = self.entries.get_mut(&asset.id) else {
            let keep = self.len() < CAPACITY;
            self.insert(Entry {
                asset: asset.clone(),
                checks: 0,
                last_checked: None,
                state: State::Urgent,
                waiters: vec![Waiter {
                    answer,
                    wants_next: false,
                }],
                keep,
            });
            return;
        };
        let wants_next = matches!(entry.state, State::Checking { .. });
        entry.waiters.push(Waiter { answer, wants_next });
        if let State::Waiting(at) = entry.state {
            self.due.remove(&(at, asset.id));
            entry.state = State::Urgent;
            self.urgent.push_back(asset.id);
        }
    }

    /// A list or folder read of `site`: if it has tracked uploads, their next checks come
    /// forward at the next [`Schedule::start`]. Returns whether the loop must be woken.
    pub fn hurry(&mut self, site: ObjectId) -> bool {
        self.by_site.contains_key(&site) && self.hurried.insert(site)
    }

    /// Brings the checks of the hurried sites forward: each upload is due no sooner than half its
    /// interval after its last check, so a client polling a list at most doubles the pace of the
    /// backoff, however often it polls.
    fn apply_hurries(&mut self, now: Instant) {
        for site in std::mem::take(&mut self.hurried) {
            let Some(ids) = self.by_site.get(&site) else {
                continue;
            };
            for id in ids {
                let Some(entry) = self.entries.get_mut(id) else {
                    continue;
                };
                let State::Waiting(due) = entry.state else {
                    continue;
                };
                let earliest = entry
                    .last_checked
                    .map_or(now, |last| last + interval(entry.checks) / 2)
                    .max(now);
                if earliest < due {
                    self.due.remove(&(due, *id));
                    self.due.insert((earliest, *id));
                    entry.state = State::Waiting(earliest);
                }
            }
        }
    }

    /// The checks to begin at `now`: those reads asked for first, then background checks that
    /// are due, within the slots (background ones not while paused after an outage).
    pub fn start(&mut self, now: Instant) -> Vec<Start> {
        self.apply_hurries(now);
        let mut started = Vec::new();
        while self.checking < SLOTS {
            let Some(id) = self.urgent.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if entry.state != State::Urgent {
                continue;
            }
            // A read that stopped waiting (it answered already) needs no check.
            entry.waiters.retain(|w| !w.answer.is_closed());
            if entry.waiters.is_empty() {
                let keep = entry.keep;
                // Back to the background schedule; never checked, it is due a first interval on.
                let at = match entry.last_checked {
                    Some(last) => (last + interval(entry.checks)).max(now),
                    None => now + interval(entry.checks),
                };
                if let Some(mut entry) = self.remove(id)
                    && keep
                {
                    entry.state = State::Waiting(at);
                    self.insert(entry);
                }
                continue;
            }
            entry.state = State::Checking { urgent: true };
            self.checking += 1;
            started.push(Start {
                asset: entry.asset.clone(),
                urgent: true,
            });
        }
        if self.paused_until.is_some_and(|until| now < until) {
            return started;
        }
        while self.checking < SLOTS && self.background_checking < BACKGROUND_SLOTS {
            let Some(&(at, id)) = self.due.first() else {
                break;
            };
            if at > now {
                break;
            }
            self.due.pop_first();
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            entry.state = State::Checking { urgent: false };
            self.checking += 1;
            self.background_checking += 1;
            started.push(Start {
                asset: entry.asset.clone(),
                urgent: false,
            });
        }
        started
    }

    /// When the loop next has a background check to begin by itself, noted as its alarm (a
    /// read's check, a new upload due sooner, or a finished check wake it instead). `None` when
    /// nothing is due or every background slot is taken.
    pub fn set_alarm(&mut self) -> Option<Instant> {
        let next = self
            .due
            .first()
            .map(|&(at, _)| at)
            .filter(|_| self.background_checking < BACKGROUND_SLOTS && self.checking < SLOTS)
            .map(|at| self.paused_until.map_or(at, |until| at.max(until)));
        self.alarm = next;
        next
    }

    /// Records how the check of `id`, begun as `urgent`, ended at `now` (`wall`: the same
    /// instant on the wall clock, against which the upload window is judged), and answers the
    /// reads waiting for it.
    pub fn finish(
        &mut self,
        id: ObjectId,
        urgent: bool,
        answer: &Answer,
        now: Instant,
        wall: DateTime<Utc>,
    ) {
        self.checking = self.checking.saturating_sub(1);
        if !urgent {
            self.background_checking = self.background_checking.saturating_sub(1);
        }
        match answer {
            Err(ConfirmError::Unavailable(_)) => {
                self.pause = (self.pause * 2).clamp(MIN_PAUSE, MAX_PAUSE);
                self.paused_until = Some(now + self.pause);
            }
            Ok(_) => {
                self.pause = Duration::ZERO;
                self.paused_until = None;
            }
            Err(_) => {}
        }
        let Some(mut entry) = self.remove(id) else {
            return;
        };
        entry.checks = entry.checks.saturating_add(1);
        entry.last_checked = Some(now);
        let settled = matches!(
            answer,
            Ok(Verdict::Uploaded { .. } | Verdict::Failed { .. } | Verdict::Gone)
        );
        // A settled upload, or a store that cannot be asked: every reader gets that answer.
        // An object not there yet: readers who asked after the check began get the next one.
        let (answered, later): (Vec<_>, Vec<_>) = std::mem::take(&mut entry.waiters)
            .into_iter()
            .partition(|w| settled || answer.is_err() || !w.wants_next);
        for waiter in answered {
            let _ = waiter.answer.send(answer.clone());
        }
        if settled || self.stopped {
            return;
        }
        if !later.is_empty() {
            entry.waiters = later
                .into_iter()
                .map(|w| Waiter {
                    wants_next: false,
                    ..w
                })
                .collect();
            entry.state = State::Urgent;
            self.insert(entry);
            return;
        }
        // Past its window S3 refuses the upload: the last check is at the window's end, and the
        // sweep takes one more look before it removes the asset.
        let Ok(open_for) = (entry.asset.upload_expires_at - wall).to_std() else {
            return;
        };
        if !entry.keep || open_for.is_zero() {
            return;
        }
        entry.state = State::Waiting(now + interval(entry.checks).min(open_for));
        self.insert(entry);
    }

    /// Stops tracking `id` (its asset was deleted); a check in flight or awaited still answers.
    pub fn forget(&mut self, id: ObjectId) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if matches!(entry.state, State::Waiting(_)) {
            self.remove(id);
        } else {
            entry.keep = false;
        }
    }

    /// The confirmer stopped: nothing more is tracked, and reads still waiting are answered.
    pub fn close(&mut self) {
        self.stopped = true;
        for (_, entry) in self.entries.drain() {
            for waiter in entry.waiters {
                let _ = waiter.answer.send(Err(ConfirmError::Stopped));
            }
        }
        self.by_site.clear();
        self.due.clear();
        self.urgent.clear();
        self.hurried.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::meta::AssetState;

    fn asset(site: ObjectId, created: DateTime<Utc>) -> Asset {
        let id = ObjectId::generate(created);
        Asset {
            id,
            site_id: site,
            folder_id: None,
            original_file_name: "a.png".into(),
            display_name: format!("{id}_a.png"),
            alt_text: None,
            content_type: "image/png".into(),
            file_hash: "0".repeat(32),
            storage_key: format!("{site}/{id}_a.png"),
            size: None,
            state: AssetState::Pending,
            upload_expires_at: created + chrono::Duration::hours(1),
            created_on: created,
            last_updated: created,
        }
    }

    fn ids(started: &[Start]) -> Vec<ObjectId> {
        started.iter().map(|s| s.asset.id).collect()
    }

    /// Runs the background checks of `a` (never there) from `t0` for `span`; returns the
    /// times they began at, relative to `t0`.
    fn absent_checks(
        schedule: &mut Schedule,
        a: &Asset,
        t0: Instant,
        span: Duration,
    ) -> Vec<Duration> {
        let wall0 = a.created_on;
        let mut times = Vec::new();
        let mut now = t0;
        while now < t0 + span {
            for start in schedule.start(now) {
                times.push(now - t0);
                let wall = wall0 + chrono::Duration::from_std(now - t0).unwrap();
                schedule.finish(
                    start.asset.id,
                    start.urgent,
                    &Ok(Verdict::Unchanged),
                    now,
                    wall,
                );
            }
            now = match schedule.set_alarm() {
                Some(at) => at,
                None => break,
            };
        }
        times
    }

    #[test]
    fn intervals_double_from_the_first_check_up_to_the_cap() {
        assert_eq!(interval(0), FIRST_CHECK);
        assert_eq!(interval(1), FIRST_CHECK * 2);
        assert_eq!(interval(3), FIRST_CHECK * 8);
        assert_eq!(interval(9), MAX_INTERVAL);
        assert_eq!(interval(u32::MAX), MAX_INTERVAL);
        assert_eq!(checks_by_age(Duration::ZERO), 0);
        assert_eq!(checks_by_age(Duration::from_millis(250)), 1);
        assert_eq!(checks_by_age(Duration::from_secs(3600)), 9);
    }

    #[test]
    fn an_abandoned_upload_is_checked_on_a_backoff_until_its_window_closes() {
        let site = ObjectId::generate(Utc::now());
        let a = asset(site, Utc::now());
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        assert!(schedule.track(&a, 0, t0 + FIRST_CHECK));
        let times = absent_checks(&mut schedule, &a, t0, Duration::from_secs(2 * 3600));
        assert_eq!(
            &times[..4],
            [200, 600, 1400, 3000].map(Duration::from_millis)
        );
        // Then once a minute, the last at the end of the hour's window: 68 in all.
        assert_eq!(times.len(), 68);
        assert_eq!(*times.last().unwrap(), Duration::from_secs(3600));
        assert!(schedule.is_empty());
    }

    #[test]
    fn reads_of_a_site_bring_its_checks_forward_but_at_most_double_the_pace() {
        let site = ObjectId::generate(Utc::now());
        let a = asset(site, Utc::now());
        let other = asset(ObjectId::generate(Utc::now()), Utc::now());
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        schedule.track(&a, 20, t0);
        schedule.track(&other, 20, t0);
        let both = schedule.start(t0);
        assert_eq!(both.len(), 2);
        for start in both {
            schedule.finish(
                start.asset.id,
                false,
                &Ok(Verdict::Unchanged),
                t0,
                a.created_on,
            );
        }
        // Next due a minute later; a list of the site a second later brings it to 30 s.
        assert!(
            !schedule.hurry(ObjectId::generate(Utc::now())),
            "a site with nothing tracked"
        );
        assert!(schedule.hurry(site));
        assert!(
            !schedule.hurry(site),
            "one wake-up per site until the loop looks"
        );
        let t1 = t0 + Duration::from_secs(1);
        assert!(schedule.start(t1).is_empty());
        assert_eq!(schedule.set_alarm(), Some(t0 + MAX_INTERVAL / 2));
        // However often the site is read, the check waits for that time.
        for _ in 0..100 {
            schedule.hurry(site);
            assert!(schedule.start(t1).is_empty());
        }
        assert_eq!(ids(&schedule.start(t0 + MAX_INTERVAL / 2)), [a.id]);
    }

    #[test]
    fn a_read_is_answered_by_a_check_begun_after_it_asked() {
        let a = asset(ObjectId::generate(Utc::now()), Utc::now());
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        schedule.track(&a, 0, t0);
        let background = schedule.start(t0);
        assert_eq!(ids(&background), [a.id]);
        // The read arrives while the background check is in flight: that check may have looked
        // before the bytes arrived, so the read waits for the next one.
        let (tx, mut rx) = oneshot::channel();
        schedule.ask(&a, tx);
        schedule.finish(a.id, false, &Ok(Verdict::Unchanged), t0, a.created_on);
        assert!(rx.try_recv().is_err());
        let urgent = schedule.start(t0);
        assert_eq!(urgent.len(), 1);
        assert!(urgent[0].urgent);
        let uploaded = Verdict::Uploaded {
            size: 3,
            at: a.created_on,
        };
        schedule.finish(a.id, true, &Ok(uploaded), t0, a.created_on);
        assert_eq!(rx.try_recv().unwrap().unwrap(), uploaded);
        assert!(
            schedule.is_empty(),
            "an uploaded asset is no longer tracked"
        );
    }

    #[test]
    fn reads_go_first_and_background_checks_leave_them_slots() {
        let site = ObjectId::generate(Utc::now());
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        for _ in 0..20 {
            schedule.track(&asset(site, Utc::now()), 0, t0);
        }
        let background = schedule.start(t0);
        assert_eq!(background.len(), BACKGROUND_SLOTS);
        let read = asset(site, Utc::now());
        let mut answers = Vec::new();
        for _ in 0..3 {
            let (tx, rx) = oneshot::channel();
            schedule.ask(&read, tx);
            answers.push(rx);
        }
        // Three reads of one asset: one check, in a slot background checks leave free.
        let urgent = schedule.start(t0);
        assert_eq!(ids(&urgent), [read.id]);
        assert_eq!(schedule.checking(), BACKGROUND_SLOTS + 1);
        for start in background {
            schedule.finish(
                start.asset.id,
                false,
                &Ok(Verdict::Unchanged),
                t0,
                read.created_on,
            );
        }
        let down = Err(ConfirmError::Unavailable("down".into()));
        schedule.finish(read.id, true, &down, t0, read.created_on);
        for mut rx in answers {
            assert!(matches!(
                rx.try_recv().unwrap(),
                Err(ConfirmError::Unavailable(_))
            ));
        }
        // The store is down: background checks pause for a second, a read's check does not.
        let t1 = t0 + Duration::from_millis(500);
        let (tx, _rx) = oneshot::channel();
        schedule.ask(&read, tx);
        assert_eq!(ids(&schedule.start(t1)), [read.id]);
        assert_eq!(schedule.set_alarm(), Some(t0 + MIN_PAUSE));
        assert_eq!(schedule.start(t0 + MIN_PAUSE).len(), BACKGROUND_SLOTS);
    }

    #[test]
    fn the_schedule_is_bounded_and_a_read_still_gets_its_check_when_it_is_full() {
        let site = ObjectId::generate(Utc::now());
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        for _ in 0..CAPACITY {
            schedule.track(&asset(site, Utc::now()), 0, t0 + MAX_INTERVAL);
        }
        assert!(!schedule.track(&asset(site, Utc::now()), 0, t0));
        assert_eq!(schedule.len(), CAPACITY);
        let read = asset(site, Utc::now());
        let (tx, mut rx) = oneshot::channel();
        schedule.ask(&read, tx);
        assert_eq!(ids(&schedule.start(t0)), [read.id]);
        schedule.finish(read.id, true, &Ok(Verdict::Unchanged), t0, read.created_on);
        assert_eq!(rx.try_recv().unwrap().unwrap(), Verdict::Unchanged);
        assert_eq!(schedule.len(), CAPACITY, "kept only while there is room");
    }

    #[test]
    fn a_read_that_gave_up_costs_no_check_and_closing_answers_the_rest() {
        let a = asset(ObjectId::generate(Utc::now()), Utc::now());
        let b = asset(a.site_id, Utc::now());
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        let (tx, rx) = oneshot::channel();
        schedule.ask(&a, tx);
        drop(rx);
        assert!(schedule.start(t0).is_empty());
        let (tx, mut rx) = oneshot::channel();
        schedule.ask(&b, tx);
        schedule.close();
        assert!(matches!(rx.try_recv().unwrap(), Err(ConfirmError::Stopped)));
        assert!(schedule.is_empty());
        let (tx, mut rx) = oneshot::channel();
        schedule.ask(&a, tx);
        assert!(matches!(rx.try_recv().unwrap(), Err(ConfirmError::Stopped)));
    }
}
