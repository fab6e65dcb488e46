//! The batch planner: which printer prints which cards, in which click, and when.
//!
//! An office sends cards to a printer in batches ("one click"); each click costs a fixed
//! overhead (network round trips, the central database's confirmation) before the first card
//! prints, so hundreds of cards per click beat tens. The planner turns print-ready records,
//! printers and a blank stock into such batches:
//!
//! 1. **Blanks first.** When there are fewer blanks than cards, blanks go to the most urgent
//!    priority class first (first-time cards before replacements), then to the earliest ready;
//!    a blank delivered later releases its card no earlier than the delivery.
//! 2. **List scheduling by start time.** The printer that becomes free first takes the next
//!    click. Batches are formed in the order they start, so a card of a higher class that is
//!    ready is never started after a card of a lower class.
//! 3. **Keep kelurahan groups together.** Within a class the batch is filled with whole groups
//!    (first fit over the next groups), and a group is split only to fill the click.
//! 4. **Balance the tail.** When the remaining cards no longer fill a click on every printer,
//!    each printer's batch is sized to its share of what is left so that all printers finish
//!    together; that is what keeps the makespan within a few percent of the lower bound.
//! 5. **A second look at small plans.** With a few clicks per printer, a search over how many
//!    cards of each class and side go into which click (`improve.rs`) replaces the list
//!    schedule when it finds one that ends sooner.
//!
//! Times are seconds from the planning start (`0.0`), as `f64`; the Python layer converts them
//! to datetimes. Staffing (how many printers the people on shift can run) is resolved into each
//! printer's availability windows before the core sees them.

mod improve;
#[cfg(test)]
mod tests;
pub mod windows;

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::error::EktpError;

/// Why a record was not scheduled (`0` means it was).
pub mod reason {
    pub const SCHEDULED: u8 = 0;
    /// No blank card is left for it (its class and ready time came after the stock ran out).
    pub const NO_BLANK: u8 = 1;
    /// Its ready time is unknown (not a finite number): it is still waiting on the centre.
    pub const NOT_READY: u8 = 2;
    /// No printer has an availability window left in which to print it.
    pub const NO_PRINTER: u8 = 3;
}

/// The records to print, as parallel columns (one entry per record).
#[derive(Clone, Copy, Debug)]
pub struct Jobs<'a> {
    /// When the record is print-ready, in seconds from the planning start (negative: already
    /// ready; NaN or infinite: unknown, the record is reported `NOT_READY`).
    pub ready: &'a [f64],
    /// Priority class, `0` most urgent.
    pub priority: &'a [u8],
    /// Destination group (a kelurahan), numbered so that ascending numbers follow the print
    /// order wanted: by kecamatan, then kelurahan.
    pub group: &'a [u32],
    /// Whether the card is printed on both sides (slower on most printers).
    pub two_sided: &'a [bool],
}

/// One printer as the planner sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterSpec {
    /// Seconds per one-sided card, chip encoding included.
    pub one_sided_s: f64,
    /// Seconds per two-sided card, chip encoding included.
    pub two_sided_s: f64,
    /// Cards one ribbon prints.
    pub ribbon_capacity: u32,
    /// Cards the installed ribbon still prints.
    pub ribbon_left: u32,
    /// Seconds a ribbon change takes.
    pub ribbon_change_s: f64,
    /// When the printer is free (the end of work already in progress), seconds.
    pub free_at: f64,
    /// When the printer may work: sorted, non-overlapping `[start, end)` intervals.
    pub windows: Vec<(f64, f64)>,
}

impl PrinterSpec {
    fn card_s(&self, two_sided: bool) -> f64 {
        if two_sided {
            self.two_sided_s
        } else {
            self.one_sided_s
        }
    }

    /// Seconds of availability inside `[from, to)`, not before the printer is free.
    fn available(&self, from: f64, to: f64) -> f64 {
        let from = from.max(self.free_at);
        self.windows
            .iter()
            .map(|&(a, b)| (b.min(to) - a.max(from)).max(0.0))
            .sum()
    }
}

/// Planning options that are not per record or per printer.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The most cards one click may send.
    pub click_limit: u32,
    /// Seconds each click costs before its first card prints.
    pub click_overhead_s: f64,
    /// Blanks in stock at the planning start.
    pub blanks: u64,
    /// Later deliveries: `(time, count)`.
    pub blank_arrivals: Vec<(f64, u64)>,
}

/// One click: a printer, its cards (a slice of [`Schedule::order`]) and its times.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub printer: u32,
    pub start: f64,
    pub end: f64,
    /// Offset of the batch's first card in [`Schedule::order`].
    pub first: u32,
    pub len: u32,
    /// Positions within the batch before which the ribbon is changed.
    pub ribbon_changes: Vec<u32>,
}

/// The planner's answer. `reason` is indexed like the input; the cards' times follow
/// [`Schedule::order`] (print order, batch after batch), so they are written in sequence;
/// [`Schedule::by_record`] gives them per record.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// A [`reason`] code per record.
    pub reason: Vec<u8>,
    /// Record indices in print order, batch after batch.
    pub order: Vec<u32>,
    /// When each card of [`Schedule::order`] starts printing.
    pub card_start: Vec<f64>,
    /// When each card of [`Schedule::order`] is done: its record's ETA.
    pub card_end: Vec<f64>,
    pub batches: Vec<Batch>,
    /// End of the last card, seconds from the start (0 with nothing scheduled).
    pub makespan: f64,
    /// No schedule of the scheduled records can finish earlier than this.
    pub lower_bound: f64,
    /// Seconds each printer works (click overheads, cards, ribbon changes).
    pub busy: Vec<f64>,
    /// Seconds each printer is available between the start and the makespan.
    pub available: Vec<f64>,
    /// Kelurahan groups (one place, one class, one release time) whose cards went into more
    /// than one batch.
    pub groups_split: u32,
    /// Prints left on each printer's ribbon at the end of its last batch.
    pub ribbon_left: Vec<u32>,
}

/// A schedule's columns per record: printer and batch (`-1` when not scheduled), when its card
/// starts and is done (NaN when not scheduled).
#[derive(Clone, Debug, PartialEq)]
pub struct ByRecord {
    pub printer: Vec<i32>,
    pub batch: Vec<i32>,
    pub start: Vec<f64>,
    pub end: Vec<f64>,
}

impl Schedule {
    /// The columns per record (the schedule keeps them in print order).
    pub fn by_record(&self) -> ByRecord {
        let n = self.reason.len();
        let mut out = ByRecord {
            printer: vec![-1; n],
            batch: vec![-1; n],
            start: vec![f64::NAN; n],
            end: vec![f64::NAN; n],
        };
        for (b, batch) in self.batches.iter().enumerate() {
            for pos in batch.first as usize..(batch.first + batch.len) as usize {
                let j = self.order[pos] as usize;
                out.printer[j] = batch.printer as i32;
                out.batch[j] = b as i32;
                out.start[j] = self.card_start[pos];
                out.end[j] = self.card_end[pos];
            }
        }
        out
    }
}

/// How many groups a batch may skip over, looking for ones that fit whole, before it splits
/// one to fill the click. Bounds the work per batch when there are thousands of small groups.
const FIRST_FIT_SCAN: usize = 64;

fn invalid(message: impl Into<String>) -> EktpError {
    EktpError::InvalidArgument(message.into())
}

fn validate(jobs: &Jobs<'_>, printers: &[PrinterSpec], options: &Options) -> Result<(), EktpError> {
    let n = jobs.ready.len();
    if jobs.priority.len() != n || jobs.group.len() != n || jobs.two_sided.len() != n {
        return Err(invalid(
            "ready, priority, group and two_sided must have one entry per record",
        ));
    }
    if u32::try_from(n).is_err() {
        return Err(invalid("at most 2^32 - 1 records per plan"));
    }
    if options.click_limit == 0 {
        return Err(invalid("click_limit must be at least 1"));
    }
    if !(options.click_overhead_s.is_finite() && options.click_overhead_s >= 0.0) {
        return Err(invalid("click_overhead_s must be a finite number >= 0"));
    }
    if options.blank_arrivals.iter().any(|&(t, _)| !t.is_finite()) {
        return Err(invalid("blank deliveries need finite times"));
    }
    for (i, p) in printers.iter().enumerate() {
        let times_ok = [p.one_sided_s, p.two_sided_s]
            .iter()
            .all(|s| s.is_finite() && *s > 0.0);
        if !times_ok {
            return Err(invalid(format!(
                "printer {i}: seconds per card must be finite and > 0"
            )));
        }
        if p.ribbon_capacity == 0 || p.ribbon_left > p.ribbon_capacity {
            return Err(invalid(format!(
                "printer {i}: a ribbon has a positive capacity and 0..capacity prints left"
            )));
        }
        if !(p.ribbon_change_s.is_finite() && p.ribbon_change_s >= 0.0) || p.free_at.is_nan() {
            return Err(invalid(format!(
                "printer {i}: ribbon_change_s must be finite and >= 0, free_at a number"
            )));
        }
        let mut last = f64::NEG_INFINITY;
        for &(a, b) in &p.windows {
            if !(a.is_finite() && !b.is_nan() && a < b && a >= last) {
                return Err(invalid(format!(
                    "printer {i}: windows must be sorted, non-overlapping [start, end) with start < end"
                )));
            }
            last = b;
        }
    }
    Ok(())
}

/// Which records get a blank, and from when each may print (its release time).
#[inline(never)]
fn select(
    jobs: &Jobs<'_>,
    options: &Options,
    reason: &mut [u8],
    mut ordered: Vec<(u32, f64)>,
) -> Vec<(u32, f64)> {
    // Sorted by (class, ready, index): a stable merge sort by ready time (skipped when, as
    // usual, the records come in ready order already: all ready at once), then a stable
    // counting sort by class.
    let mut in_order = true;
    let mut last = f64::NEG_INFINITY;
    let mut next_slot = [0usize; 256];
    for (i, &ready) in jobs.ready.iter().enumerate() {
        if ready.is_finite() {
            in_order &= last.total_cmp(&ready).is_le();
            last = ready;
            next_slot[jobs.priority[i] as usize] += 1;
        } else {
            reason[i] = reason::NOT_READY;
        }
    }
    let mut total = 0;
    for slot in next_slot.iter_mut() {
        (*slot, total) = (total, total + *slot);
    }
    // Records in that order, then kept in place where a blank is theirs.
    ordered.clear();
    ordered.resize(total, (0, 0.0));
    let mut place = |i: u32| {
        let slot = &mut next_slot[jobs.priority[i as usize] as usize];
        ordered[*slot].0 = i;
        *slot += 1;
    };
    if in_order {
        for (i, &ready) in jobs.ready.iter().enumerate() {
            if ready.is_finite() {
                place(i as u32);
            }
        }
    } else {
        let mut by_ready: Vec<u32> = Vec::with_capacity(total);
        by_ready
            .extend((0..jobs.ready.len() as u32).filter(|&i| jobs.ready[i as usize].is_finite()));
        by_ready.sort_by(|&a, &b| jobs.ready[a as usize].total_cmp(&jobs.ready[b as usize]));
        for i in by_ready {
            place(i);
        }
    }
    let mut deliveries = options.blank_arrivals.clone();
    deliveries.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut supply = std::iter::once((f64::NEG_INFINITY, options.blanks)).chain(deliveries);
    let (mut from, mut left) = (f64::NEG_INFINITY, 0u64);
    let mut kept = 0;
    for k in 0..ordered.len() {
        let i = ordered[k].0;
        while left == 0 {
            match supply.next() {
                Some((t, count)) => (from, left) = (t, count),
                None => break,
            }
        }
        if left == 0 {
            reason[i as usize] = reason::NO_BLANK;
            continue;
        }
        left -= 1;
        ordered[kept] = (i, jobs.ready[i as usize].max(from));
        kept += 1;
    }
    ordered.truncate(kept);
    ordered
}

/// Cards waiting to print, by side, priority class and group: one vector per (side, class,
/// group) in a dense table (pushing a card is an index, not a tree search) and ordered sets of
/// the non-empty (class, group) pairs, per side and for either side.
struct Pool {
    /// Non-empty (class, group) pairs: one-sided, two-sided, either.
    keys: [BTreeSet<(u8, u32)>; 3],
    /// Every card's place: one stack per (side, class, group), all in one buffer, each with
    /// room for every card the plan will ever push on it (no stack grows or moves).
    cards: Vec<u32>,
    /// Per side, per (class, group): where its stack starts in `cards`, and its height.
    base: [Vec<usize>; 2],
    height: [Vec<usize>; 2],
    class_rank: [usize; 256],
    groups: usize,
    len: usize,
}

const ONE: usize = 0;
const TWO: usize = 1;
const EITHER: usize = 2;

impl Pool {
    /// A pool for the cards `jobs` names, each pushed at most once (sized for all of them).
    fn new(
        priority: &[u8],
        group: &[u32],
        two_sided: &[bool],
        jobs: &[(u32, f64)],
        groups: usize,
        mut cards: Vec<u32>,
    ) -> Self {
        let mut present = [false; 256];
        for &p in priority {
            present[p as usize] = true;
        }
        let mut class_rank = [0usize; 256];
        let mut classes = 0;
        for (c, &here) in present.iter().enumerate() {
            if here {
                class_rank[c] = classes;
                classes += 1;
            }
        }
        let mut base = [
            vec![0usize; classes * groups],
            vec![0usize; classes * groups],
        ];
        for &(j, _) in jobs {
            let j = j as usize;
            let i = class_rank[priority[j] as usize] * groups + group[j] as usize;
            base[usize::from(two_sided[j])][i] += 1;
        }
        let mut total = 0;
        for side in &mut base {
            for slot in side.iter_mut() {
                (*slot, total) = (total, total + *slot);
            }
        }
        cards.clear();
        cards.resize(total, 0);
        Pool {
            keys: Default::default(),
            cards,
            base,
            height: [vec![0; classes * groups], vec![0; classes * groups]],
            class_rank,
            groups,
            len: 0,
        }
    }

    fn index(&self, class: u8, group: u32) -> usize {
        self.class_rank[class as usize] * self.groups + group as usize
    }

    fn side_len(&self, side: usize, class: u8, group: u32) -> usize {
        self.height[side][self.index(class, group)]
    }

    fn push(&mut self, class: u8, group: u32, two_sided: bool, job: u32) {
        let side = usize::from(two_sided);
        let i = self.index(class, group);
        let h = self.height[side][i];
        self.cards[self.base[side][i] + h] = job;
        self.height[side][i] = h + 1;
        if h == 0 {
            self.keys[side].insert((class, group));
            self.keys[EITHER].insert((class, group));
        }
        self.len += 1;
    }

    /// The most urgent class with a card waiting.
    fn first_class(&self) -> Option<u8> {
        self.keys[EITHER].first().map(|k| k.0)
    }

    /// Moves the last `count` cards of one side of a (class, group) into `taken`.
    fn move_cards(
        &mut self,
        side: usize,
        class: u8,
        group: u32,
        count: usize,
        taken: &mut Vec<u32>,
        runs: &mut Vec<(u32, u32, u32)>,
    ) {
        if count == 0 {
            return;
        }
        let i = self.index(class, group);
        let (base, keep) = (self.base[side][i], self.height[side][i] - count);
        let from = taken.len() as u32;
        taken.extend_from_slice(&self.cards[base + keep..base + keep + count]);
        self.height[side][i] = keep;
        runs.push((group, from, taken.len() as u32));
        self.len -= count;
        if keep == 0 {
            self.keys[side].remove(&(class, group));
            if self.height[1 - side][i] == 0 {
                self.keys[EITHER].remove(&(class, group));
            }
        }
    }

    /// Takes up to `room` cards of class `class` from `side` (`ONE`, `TWO`, or `EITHER` for
    /// both sides of a group together): whole groups first (first fit over the next groups),
    /// then a split of the first group left to fill the click. Appends the cards to `taken`
    /// and one `(group, from, to)` range of `taken` per group and side; returns how many.
    fn take_class(
        &mut self,
        side: usize,
        class: u8,
        room: usize,
        taken: &mut Vec<u32>,
        runs: &mut Vec<(u32, u32, u32)>,
    ) -> usize {
        let len_of = |pool: &Pool, group: u32| match side {
            EITHER => pool.side_len(ONE, class, group) + pool.side_len(TWO, class, group),
            s => pool.side_len(s, class, group),
        };
        let mut left = room;
        let mut whole = Vec::new();
        let mut skipped = 0;
        for &(_, group) in self.keys[side].range((class, 0)..=(class, u32::MAX)) {
            if skipped > FIRST_FIT_SCAN || left == 0 {
                break;
            }
            let len = len_of(self, group);
            if len <= left {
                left -= len;
                whole.push(group);
            } else {
                skipped += 1;
            }
        }
        for &group in &whole {
            for s in [ONE, TWO] {
                if side == s || side == EITHER {
                    let len = self.side_len(s, class, group);
                    self.move_cards(s, class, group, len, taken, runs);
                }
            }
        }
        if left == 0 {
            return room;
        }
        // Groups too large for the room left: split the first to fill the click.
        let Some(&(c, group)) = self.keys[side].range((class, 0)..=(class, u32::MAX)).next() else {
            return room - left;
        };
        debug_assert_eq!(c, class);
        if side == EITHER {
            // Both sides in the group's proportion.
            let two = self.side_len(TWO, class, group);
            let all = two + self.side_len(ONE, class, group);
            let k_two = ((two * left) as f64 / all as f64).round() as usize;
            let k_two = k_two.min(two).max(left.saturating_sub(all - two));
            self.move_cards(TWO, class, group, k_two, taken, runs);
            self.move_cards(ONE, class, group, left - k_two, taken, runs);
        } else {
            self.move_cards(side, class, group, left, taken, runs);
        }
        room
    }

    /// Fills a click of up to `room` cards, most urgent class first, never taking a card of a
    /// class while a more urgent one waits. `two_share`: the share of two-sided cards the
    /// printer should take (each side filled apart, kelurahan groups kept whole within it), or
    /// `None` to take whole groups of both sides as they come.
    ///
    /// `fill` scales the room left for two-sided cards once one-sided ones run out: a click
    /// sized for one-sided cards is not filled with as many slower ones; the click then ends.
    fn take(
        &mut self,
        mut room: usize,
        two_share: Option<f64>,
        fill: f64,
        taken: &mut Vec<u32>,
        runs: &mut Vec<(u32, u32, u32)>,
    ) {
        while room > 0 {
            let Some(class) = self.first_class() else {
                return;
            };
            match two_share {
                None => room -= self.take_class(EITHER, class, room, taken, runs),
                Some(share) => {
                    let want = ((share * room as f64).round() as usize).min(room);
                    let two = self.take_class(TWO, class, want, taken, runs);
                    room -= two;
                    room -= self.take_class(ONE, class, room, taken, runs);
                    // One side of the class ran out: the other fills the click.
                    if room > 0 && fill < 1.0 {
                        let scaled = (room as f64 * fill).floor() as usize;
                        self.take_class(TWO, class, scaled, taken, runs);
                        return;
                    }
                    room -= self.take_class(TWO, class, room, taken, runs);
                }
            }
        }
    }
}

/// Group numbers made dense (`0..count`, order kept) so the pool can index by them.
fn dense_groups(group: &[u32]) -> (std::borrow::Cow<'_, [u32]>, usize) {
    let max = group.iter().copied().max().map_or(0, |m| m as usize + 1);
    if max <= 4 * group.len() + 1024 {
        return (std::borrow::Cow::Borrowed(group), max);
    }
    let mut distinct = group.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let dense = group
        .iter()
        .map(|g| distinct.partition_point(|d| d < g) as u32)
        .collect();
    (std::borrow::Cow::Owned(dense), distinct.len())
}

struct Clock {
    time: f64,
    window: usize,
    ribbon_left: u32,
    retired: bool,
}

/// Plans the records on the printers. See the module documentation for the method.
pub fn plan(
    jobs: &Jobs<'_>,
    printers: &[PrinterSpec],
    options: &Options,
) -> Result<Schedule, EktpError> {
    validate(jobs, printers, options)?;
    // Touching windows (a night shift after a day shift) are one stretch of work: a batch
    // may run across the hand-over.
    let merged: Vec<PrinterSpec> = printers
        .iter()
        .map(|p| {
            let mut windows: Vec<(f64, f64)> = Vec::with_capacity(p.windows.len());
            for &(a, b) in &p.windows {
                match windows.last_mut() {
                    Some(last) if last.1 >= a => last.1 = last.1.max(b),
                    _ => windows.push((a, b)),
                }
            }
            PrinterSpec {
                windows,
                ..p.clone()
            }
        })
        .collect();
    let printers = &merged[..];
    let n = jobs.ready.len();
    let mut reason = vec![reason::SCHEDULED; n];
    let buffers = BUFFERS.with(RefCell::take);
    let mut selected = select(jobs, options, &mut reason, buffers.selected);
    // What the loop below does not place found no printer window.
    for &(j, _) in &selected {
        reason[j as usize] = reason::NO_PRINTER;
    }
    // Released in time order (the pool orders by class and group itself). A stable merge
    // sort: linear when, as usual, most records are ready at the start.
    if !selected.is_sorted_by(|a, b| a.1.total_cmp(&b.1).is_le()) {
        selected.sort_by(|a, b| a.1.total_cmp(&b.1));
    }

    let mut out = Schedule {
        reason,
        order: Vec::with_capacity(selected.len()),
        card_start: Vec::with_capacity(selected.len()),
        card_end: Vec::with_capacity(selected.len()),
        batches: Vec::new(),
        makespan: 0.0,
        lower_bound: 0.0,
        busy: vec![0.0; printers.len()],
        available: vec![0.0; printers.len()],
        groups_split: 0,
        ribbon_left: printers.iter().map(|p| p.ribbon_left).collect(),
    };
    let mut clocks: Vec<Clock> = printers
        .iter()
        .map(|p| Clock {
            time: p.free_at.max(0.0),
            window: 0,
            ribbon_left: p.ribbon_left,
            retired: p.windows.is_empty(),
        })
        .collect();
    let (mut left_one, mut left_two) = selected.iter().fold((0usize, 0usize), |(o, t), s| {
        if jobs.two_sided[s.0 as usize] {
            (o, t + 1)
        } else {
            (o + 1, t)
        }
    });
    let click = options.click_limit as usize;
    let overhead = options.click_overhead_s;
    let (group, groups) = dense_groups(jobs.group);
    let mut pool = Pool::new(
        jobs.priority,
        &group,
        jobs.two_sided,
        &selected,
        groups,
        buffers.cards,
    );
    let sides = Sides::new(printers, options);
    let mut next = 0usize;
    let mut taken: Vec<u32> = Vec::with_capacity(click);
    let mut runs: Vec<(u32, u32, u32)> = Vec::new();

    // Deferrals (`share == 0`) since the planning clock last moved on by more than a
    // millisecond, and where it stood then.
    let (mut waited_from, mut waiting) = (f64::NEG_INFINITY, 0usize);
    // The printer free first (ties: the lower index) takes the next click.
    while let Some(p) = (0..printers.len())
        .filter(|&q| !clocks[q].retired)
        .min_by(|&a, &b| clocks[a].time.total_cmp(&clocks[b].time))
    {
        let spec = &printers[p];
        let t = clocks[p].time;
        let clock = &mut clocks[p];
        while clock.window < spec.windows.len() && spec.windows[clock.window].1 <= t {
            clock.window += 1;
        }
        if clock.window == spec.windows.len() {
            clock.retired = true;
            continue;
        }
        let (w_start, w_end) = spec.windows[clock.window];
        if t < w_start {
            clock.time = w_start;
            continue;
        }
        while next < selected.len() && selected[next].1 <= t {
            let j = selected[next].0 as usize;
            pool.push(jobs.priority[j], group[j], jobs.two_sided[j], j as u32);
            next += 1;
        }
        if pool.len == 0 {
            if next == selected.len() {
                break;
            }
            clock.time = selected[next].1;
            continue;
        }
        // The conservative number of cards that fit before the window closes.
        let slowest = spec.one_sided_s.max(spec.two_sided_s);
        let ribbon_left = clock.ribbon_left;
        let cost = |k: usize| {
            let changes = (k as u64).saturating_sub(u64::from(ribbon_left));
            let changes = changes.div_ceil(u64::from(spec.ribbon_capacity));
            overhead + k as f64 * slowest + changes as f64 * spec.ribbon_change_s
        };
        let (mut lo, mut hi) = (0usize, click.min(pool.len));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if t + cost(mid) <= w_end {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        if lo == 0 {
            // Not even one card fits in what is left of this window: wait for the next.
            clock.window += 1;
            match spec.windows.get(clock.window) {
                Some(w) => clock.time = w.0,
                None => clock.retired = true,
            }
            continue;
        }
        // The share of two-sided cards each printer should print, from the fluid plan of
        // what is left (`None`: every printer alike, or one side left: nothing to steer).
        let shares = sides.shares(t, &clocks, left_one, left_two);
        let share = tail_share(
            p,
            printers,
            &clocks,
            shares.as_deref(),
            left_one,
            left_two,
            pool.len + (selected.len() - next),
            options,
        );
        if t > waited_from + 1e-3 {
            (waited_from, waiting) = (t, 0);
        }
        // Every printer may defer once at the same moment; after that the one asked takes
        // the click, so printers that each find the others better never wait on each other
        // a microsecond at a time.
        if share == 0 && waiting <= printers.len() {
            // Everything left is done sooner by the others: wait for the next printer to
            // free up (or the next release) and look again then.
            // A printer free at the same moment goes first (a microsecond later for `p`).
            let others = (0..clocks.len())
                .filter(|&q| q != p && !clocks[q].retired && clocks[q].time >= t)
                .map(|q| clocks[q].time.max(t + 1e-6));
            let release_next = (next < selected.len()).then(|| selected[next].1);
            if let Some(later) = others.chain(release_next).reduce(f64::min) {
                clocks[p].time = later;
                waiting += 1;
                continue;
            }
        }
        let room = lo.min(share.max(1));
        // A click meant for one-sided cards holds fewer two-sided ones when those run out:
        // a printer slow at two-sided cards takes only what fits in the same time.
        let fill = (spec.one_sided_s / spec.two_sided_s).min(1.0);

        taken.clear();
        runs.clear();
        pool.take(room, shares.map(|s| s[p]), fill, &mut taken, &mut runs);
        if taken.is_empty() {
            // Only two-sided cards were left for a click sized for less than one of them.
            pool.take(1, None, 1.0, &mut taken, &mut runs);
        }
        let clock = &mut clocks[p];
        let (end, two) = write_batch(
            &mut out,
            p,
            spec,
            t,
            overhead,
            &mut clock.ribbon_left,
            &taken,
            &mut runs,
            jobs.two_sided,
        );
        clock.time = end;
        left_two -= two;
        left_one -= taken.len() - two;
    }
    let whole_clicks =
        improve::improve(jobs, printers, options, &selected, &group, groups, &mut out);
    out.groups_split = groups_split(jobs, &group, groups, &selected, &out);
    for (p, spec) in printers.iter().enumerate() {
        out.available[p] = spec.available(0.0, out.makespan);
    }
    // On small plans the bound in whole clicks and cards is the tighter one.
    out.lower_bound = lower_bound(jobs, printers, options, &selected, &out).max(whole_clicks);
    Buffers {
        selected,
        cards: pool.cards,
    }
    .keep();
    Ok(out)
}

/// The per-record working buffers of a plan (the records selected, the pool's cards), kept
/// for the next plan on the same thread. Fresh buffers of a plan of 61,000 cards are a few
/// hundred pages the kernel has to map and zero on every call, which measured a quarter of
/// the call; re-planning over and over (a simulated campaign, the jam after the jam) reuses
/// them instead. Buffers for more than [`KEPT_RECORDS`] records are freed as usual.
#[derive(Default)]
struct Buffers {
    selected: Vec<(u32, f64)>,
    cards: Vec<u32>,
}

/// The largest plan whose buffers are kept: about 6 MB.
const KEPT_RECORDS: usize = 1 << 18;

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::default();
}

impl Buffers {
    fn keep(self) {
        if self.selected.capacity() <= KEPT_RECORDS && self.cards.capacity() <= KEPT_RECORDS {
            BUFFERS.with(|b| b.replace(self));
        }
    }
}

/// Buffers kept between calls on the same thread, like [`Buffers`], for the Python layer's
/// per-record columns (place ranks, ready times of records all ready at the start): taken
/// with [`take`], given back with [`keep`].
#[cfg(feature = "python")]
pub(crate) type Spare<T> = std::thread::LocalKey<RefCell<Vec<T>>>;

#[cfg(feature = "python")]
pub(crate) fn take<T>(spare: &'static Spare<T>) -> Vec<T> {
    spare.with(RefCell::take)
}

#[cfg(feature = "python")]
pub(crate) fn keep<T>(spare: &'static Spare<T>, buffer: Vec<T>) {
    if buffer.capacity() <= KEPT_RECORDS {
        spare.with(|b| b.replace(buffer));
    }
}

#[cfg(feature = "python")]
thread_local! {
    pub(crate) static SPARE_U32: RefCell<Vec<u32>> = RefCell::default();
    pub(crate) static SPARE_F64: RefCell<Vec<f64>> = RefCell::default();
}

/// Appends a click of printer `p` that starts at `t` with the cards `taken` (one range of it
/// per group and side in `runs`): print order by group, a ribbon change wherever the ribbon
/// runs out, each card's times. Returns when the click ends and how many cards are two-sided.
#[allow(clippy::too_many_arguments)]
fn write_batch(
    out: &mut Schedule,
    p: usize,
    spec: &PrinterSpec,
    t: f64,
    overhead: f64,
    ribbon_left: &mut u32,
    taken: &[u32],
    runs: &mut [(u32, u32, u32)],
    two_sided: &[bool],
) -> (f64, usize) {
    // Print order is by group: order the (few) group ranges, not the cards.
    runs.sort_by_key(|r| r.0);
    debug_assert_eq!(
        runs.iter().map(|r| (r.2 - r.1) as usize).sum::<usize>(),
        taken.len(),
        "the runs hold every card taken"
    );
    let mut now = t + overhead;
    let mut changes = Vec::new();
    let mut twos = 0;
    let first = out.order.len();
    // The batch's stretch of the card columns, written through local slices and counters
    // (pushing through `out` kept the loop's state in memory).
    let end = first + taken.len();
    out.order.resize(end, 0);
    out.card_start.resize(end, 0.0);
    out.card_end.resize(end, 0.0);
    let (order, starts) = (&mut out.order[first..], &mut out.card_start[first..]);
    let (ends, reasons) = (&mut out.card_end[first..], &mut out.reason[..]);
    let mut left = *ribbon_left;
    let (one_s, two_s) = (spec.one_sided_s, spec.two_sided_s);
    let print_order = runs
        .iter()
        .flat_map(|&(_, from, to)| &taken[from as usize..to as usize]);
    for (pos, &j) in print_order.enumerate() {
        if left == 0 {
            now += spec.ribbon_change_s;
            left = spec.ribbon_capacity;
            changes.push(pos as u32);
        }
        let ju = j as usize;
        let two = two_sided[ju];
        twos += usize::from(two);
        starts[pos] = now;
        now += if two { two_s } else { one_s };
        ends[pos] = now;
        reasons[ju] = reason::SCHEDULED;
        left -= 1;
        order[pos] = j;
    }
    *ribbon_left = left;
    let first = first as u32;
    out.busy[p] += now - t;
    out.makespan = out.makespan.max(now);
    out.ribbon_left[p] = *ribbon_left;
    out.batches.push(Batch {
        printer: p as u32,
        start: t,
        end: now,
        first,
        len: taken.len() as u32,
        ribbon_changes: changes,
    });
    (now, twos)
}

/// Printers whose two-sided / one-sided cost ratios differ by less than this are one class:
/// steering sides between them gains less than it costs in split kelurahan groups.
const RATIO_CLASS_TOLERANCE: f64 = 0.02;

/// Which side each printer is relatively best at: the fluid (linear) plan of the cards left.
///
/// Each printer's per-card costs include its share of click overheads and ribbon changes.
/// Printers are put in classes of equal two-sided / one-sided cost ratio; in the fluid plan
/// that finishes first, two-sided cards go to the classes with the lowest ratio until they are
/// all placed (every printer of the boundary class giving them the same share of its time)
/// and one-sided cards fill the rest. That exchange argument is what makes the plan optimal,
/// and the lower bound makes the same placement, so the two are comparable.
struct Sides {
    one: Vec<f64>,
    two: Vec<f64>,
    /// Printers by class, classes by ascending ratio.
    classes: Vec<Vec<usize>>,
    /// Prefix sums of each printer's window lengths, to measure availability in `O(log w)`.
    cumulative: Vec<Vec<f64>>,
    windows: Vec<Vec<(f64, f64)>>,
}

impl Sides {
    fn new(printers: &[PrinterSpec], options: &Options) -> Self {
        let per_click = options.click_overhead_s / f64::from(options.click_limit);
        let amortised = |p: &PrinterSpec, s: f64| {
            s + per_click + p.ribbon_change_s / f64::from(p.ribbon_capacity)
        };
        let one: Vec<f64> = printers
            .iter()
            .map(|p| amortised(p, p.one_sided_s))
            .collect();
        let two: Vec<f64> = printers
            .iter()
            .map(|p| amortised(p, p.two_sided_s))
            .collect();
        let mut by_ratio: Vec<usize> = (0..printers.len()).collect();
        by_ratio.sort_by(|&a, &b| (two[a] / one[a]).total_cmp(&(two[b] / one[b])));
        let mut classes: Vec<Vec<usize>> = Vec::new();
        let mut class_ratio = f64::NAN;
        for q in by_ratio {
            let ratio = two[q] / one[q];
            match classes.last_mut() {
                Some(class) if ratio <= class_ratio * (1.0 + RATIO_CLASS_TOLERANCE) => {
                    class.push(q)
                }
                _ => {
                    classes.push(vec![q]);
                    class_ratio = ratio;
                }
            }
        }
        let cumulative = printers
            .iter()
            .map(|p| {
                let mut sum = 0.0;
                std::iter::once(0.0)
                    .chain(p.windows.iter().map(|&(a, b)| {
                        sum += b - a;
                        sum
                    }))
                    .collect()
            })
            .collect();
        Sides {
            one,
            two,
            classes,
            cumulative,
            windows: printers.iter().map(|p| p.windows.clone()).collect(),
        }
    }

    /// Seconds of printer `q`'s windows before `x`.
    fn worked_by(&self, q: usize, x: f64) -> f64 {
        let w = &self.windows[q];
        let i = w.partition_point(|win| win.0 < x);
        if i == 0 {
            return 0.0;
        }
        let (a, b) = w[i - 1];
        self.cumulative[q][i - 1] + (x.min(b) - a)
    }

    /// Each printer's share of two-sided cards, or `None` when all printers are one class or
    /// only one side is left (nothing to steer).
    fn shares(
        &self,
        now: f64,
        clocks: &[Clock],
        left_one: usize,
        left_two: usize,
    ) -> Option<Vec<f64>> {
        if self.classes.len() < 2 || left_one == 0 || left_two == 0 {
            return None;
        }
        let (n_one, n_two) = (left_one as f64, left_two as f64);
        let capacity = |q: usize, end: f64| {
            if clocks[q].retired {
                return 0.0;
            }
            let from = clocks[q].time.max(now);
            (self.worked_by(q, end) - self.worked_by(q, from)).max(0.0)
        };
        // Time share each class gives two-sided cards, and whether `end` leaves enough room.
        let split = |end: f64, time_share: &mut Vec<f64>| {
            time_share.clear();
            let mut need_two = n_two;
            let mut one_room = 0.0;
            for class in &self.classes {
                let room_two: f64 = class.iter().map(|&q| capacity(q, end) / self.two[q]).sum();
                let s = if need_two >= room_two {
                    1.0
                } else if room_two > 0.0 {
                    need_two / room_two
                } else {
                    0.0
                };
                need_two = (need_two - room_two).max(0.0);
                one_room += class
                    .iter()
                    .map(|&q| (1.0 - s) * capacity(q, end) / self.one[q])
                    .sum::<f64>();
                time_share.push(s);
            }
            need_two <= 1e-9 && one_room >= n_one
        };
        let mut time_share = Vec::with_capacity(self.classes.len());
        let horizon = self
            .windows
            .iter()
            .filter_map(|w| w.last().map(|l| l.1))
            .fold(now, f64::max);
        let fastest = self
            .one
            .iter()
            .chain(&self.two)
            .fold(f64::INFINITY, |a, &b| a.min(b));
        let (mut lo, mut hi) = (now, now + (n_one + n_two) * fastest / self.one.len() as f64);
        while !split(hi, &mut time_share) && hi < horizon {
            (lo, hi) = (hi, now + 2.0 * (hi - now));
        }
        hi = hi.min(horizon.max(now));
        while hi - lo > 1e-4 * (hi - now).max(1.0) {
            let mid = 0.5 * (lo + hi);
            if split(mid, &mut time_share) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        split(hi, &mut time_share);
        let mut shares = vec![0.0; self.one.len()];
        for (class, &s) in self.classes.iter().zip(&time_share) {
            for &q in class {
                // Cards from time: two-sided s / t2 against one-sided (1 - s) / t1.
                let (two, one) = (s / self.two[q], (1.0 - s) / self.one[q]);
                shares[q] = two / (two + one);
            }
        }
        Some(shares)
    }
}

/// The cards printer `p` should take so that all printers finish together, or `usize::MAX`
/// while there is more than enough work for everyone.
///
/// Each printer `q`, free at `T_q`, can print `k_q(E)` cards by a common end `E`, counting its
/// clicks and the ribbon changes its ribbon will need; the smallest `E` with `Σ k_q(E) ≥
/// remaining` is found by bisection and `p` takes `k_p(E)`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn tail_share(
    p: usize,
    printers: &[PrinterSpec],
    clocks: &[Clock],
    shares: Option<&[f64]>,
    left_one: usize,
    left_two: usize,
    remaining: usize,
    options: &Options,
) -> usize {
    let total = (left_one + left_two).max(1) as f64;
    let share_two = left_two as f64 / total;
    let card = |q: usize| {
        let spec = &printers[q];
        let share = shares.map_or(share_two, |s| s[q]);
        spec.one_sided_s * (1.0 - share) + spec.two_sided_s * share
    };
    let t = clocks[p].time;
    let overhead = options.click_overhead_s;
    let click = u64::from(options.click_limit);
    let active: Vec<usize> = (0..clocks.len()).filter(|&q| !clocks[q].retired).collect();
    // A quick fluid estimate first: most of a campaign is far from its tail.
    let (mut rates, mut weighted) = (0.0, 0.0);
    for &q in &active {
        let r = 1.0 / card(q);
        rates += r;
        weighted += r * (clocks[q].time.max(t) + overhead);
    }
    let rough = ((weighted + remaining as f64) / rates - t - overhead) / card(p);
    if rough >= 2.0 * click as f64 {
        return usize::MAX;
    }
    let cost = |q: usize, k: u64| {
        let spec = &printers[q];
        let changes = k
            .saturating_sub(u64::from(clocks[q].ribbon_left))
            .div_ceil(u64::from(spec.ribbon_capacity));
        k.div_ceil(click) as f64 * overhead
            + k as f64 * card(q)
            + changes as f64 * spec.ribbon_change_s
    };
    let cards_by = |q: usize, end: f64| {
        let from = clocks[q].time.max(t);
        let (mut lo, mut hi) = (0u64, remaining as u64);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if from + cost(q, mid) <= end {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    };
    let (mut lo, mut hi) = (t, t + cost(p, remaining as u64) + 1.0);
    for _ in 0..48 {
        let mid = 0.5 * (lo + hi);
        let total: u64 = active.iter().map(|&q| cards_by(q, mid)).sum();
        if total >= remaining as u64 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    cards_by(p, hi) as usize
}

/// Kelurahan groups whose cards went into more than one batch. A group is what the planner
/// can keep in one click: the cards of one place, of one priority class, released at the same
/// time (cards of another class or released days later are other groups, never "split").
#[inline(never)]
fn groups_split(
    jobs: &Jobs<'_>,
    group: &[u32],
    groups: usize,
    selected: &[(u32, f64)],
    out: &Schedule,
) -> u32 {
    // The usual case, every card released at once: a table by (class, group), no hashing.
    let single_release = selected.windows(2).all(|w| w[0].1 == w[1].1);
    if single_release && 256 * groups <= 8 * group.len().max(1024) {
        let mut seen = vec![(u32::MAX, false); 256 * groups];
        let mut split = 0;
        for (b, batch) in out.batches.iter().enumerate() {
            let b = b as u32;
            let mut previous = usize::MAX;
            for &j in &out.order[batch.first as usize..(batch.first + batch.len) as usize] {
                let k = jobs.priority[j as usize] as usize * groups + group[j as usize] as usize;
                if k == previous {
                    continue;
                }
                previous = k;
                let entry = &mut seen[k];
                if entry.0 == u32::MAX {
                    *entry = (b, false);
                } else if entry.0 != b {
                    split += u32::from(!entry.1);
                    *entry = (b, true);
                }
            }
        }
        return split;
    }
    // `selected` is in release order: number the distinct release times.
    let mut release_rank = vec![0u32; group.len()];
    let mut rank = 0u32;
    for (k, &(j, r)) in selected.iter().enumerate() {
        if k > 0 && r != selected[k - 1].1 {
            rank += 1;
        }
        release_rank[j as usize] = rank;
    }
    let key = |j: usize| {
        ((u64::from(jobs.priority[j]) * groups as u64 + u64::from(group[j])) << 32)
            | u64::from(release_rank[j])
    };
    // (last batch, split) per group.
    let mut seen: std::collections::HashMap<u64, (u32, bool)> =
        std::collections::HashMap::with_capacity(groups.min(group.len()));
    for (b, batch) in out.batches.iter().enumerate() {
        let mut previous = u64::MAX;
        for &j in &out.order[batch.first as usize..(batch.first + batch.len) as usize] {
            let k = key(j as usize);
            if k == previous {
                continue; // cards of a group print together within a batch
            }
            previous = k;
            let entry = seen.entry(k).or_insert((b as u32, false));
            if entry.0 != b as u32 {
                *entry = (b as u32, true);
            }
        }
    }
    seen.values().filter(|v| v.1).count() as u32
}

/// A bound no schedule of the scheduled records can beat: for a set of release checkpoints
/// `a`, the earliest `T` by which the printers' capacity in `[a, T]` covers the work released
/// at or after `a` (click overheads and ribbon changes amortised per card, two-sided cards
/// placed fractionally where they cost least), and the last release plus one card.
#[inline(never)]
fn lower_bound(
    jobs: &Jobs<'_>,
    printers: &[PrinterSpec],
    options: &Options,
    selected: &[(u32, f64)],
    out: &Schedule,
) -> f64 {
    // `selected` is in release order already. Usually every selected record is scheduled and
    // the bound reads `selected` where it is; a copy only when some found no printer.
    let filtered: Vec<(u32, f64)>;
    let scheduled = if selected
        .iter()
        .all(|s| out.reason[s.0 as usize] == reason::SCHEDULED)
    {
        selected
    } else {
        filtered = selected
            .iter()
            .filter(|s| out.reason[s.0 as usize] == reason::SCHEDULED)
            .copied()
            .collect();
        &filtered[..]
    };
    if scheduled.is_empty() || printers.is_empty() {
        return 0.0;
    }
    let release = |i: usize| scheduled[i].1.max(0.0);
    let per_click = options.click_overhead_s / f64::from(options.click_limit);
    let cost: Vec<(f64, f64, f64)> = printers
        .iter()
        .map(|p| {
            let per_change = p.ribbon_change_s / f64::from(p.ribbon_capacity);
            (
                p.one_sided_s + per_click + per_change,
                p.two_sided_s + per_click + per_change,
                per_change,
            )
        })
        .collect();
    let mut by_ratio: Vec<usize> = (0..printers.len()).collect();
    by_ratio.sort_by(|&a, &b| (cost[a].1 / cost[a].0).total_cmp(&(cost[b].1 / cost[b].0)));

    let feasible = |a: f64, at_start: bool, t: f64, n_one: f64, n_two: f64| {
        let mut need_two = n_two;
        let mut one_capacity = 0.0;
        for &p in &by_ratio {
            let spec = &printers[p];
            let credit = if at_start {
                f64::from(spec.ribbon_left) * cost[p].2
            } else {
                spec.ribbon_change_s
            };
            let mut budget = spec.available(a, t) + credit;
            if need_two > 0.0 {
                let used = (need_two * cost[p].1).min(budget);
                need_two -= used / cost[p].1;
                budget -= used;
            }
            one_capacity += budget / cost[p].0;
        }
        need_two <= 1e-9 && one_capacity + 1e-9 >= n_one
    };
    let horizon = printers
        .iter()
        .filter_map(|p| p.windows.last().map(|w| w.1))
        .fold(0.0f64, f64::max);
    let mut bound = 0.0f64;
    let count = scheduled.len();
    let checkpoints = 64.min(count);
    // Each checkpoint starts at the first record released at its time; the two-sided cards
    // released from it on, counted in one pass.
    let mut starts: Vec<usize> = (0..checkpoints)
        .map(|k| {
            let i = k * count / checkpoints;
            let at = release(i);
            scheduled.partition_point(|s| s.1.max(0.0) < at)
        })
        .collect();
    starts.dedup();
    let is_two = |s: &(u32, f64)| usize::from(jobs.two_sided[s.0 as usize]);
    let mut two_from = vec![0usize; starts.len()];
    let mut two_after = 0;
    let mut end = count;
    for (slot, &i) in starts.iter().enumerate().rev() {
        two_after += scheduled[i..end].iter().map(is_two).sum::<usize>();
        two_from[slot] = two_after;
        end = i;
    }
    for (slot, &i) in starts.iter().enumerate() {
        let a = release(i);
        let n_two = two_from[slot] as f64;
        let n_one = (count - i) as f64 - n_two;
        let mut lo = a;
        let mut hi = a.max(1.0);
        while !feasible(a, i == 0, hi, n_one, n_two) {
            hi = a + (hi - a) * 2.0 + 1.0;
            if hi > horizon * 2.0 + 1e12 {
                break;
            }
        }
        for _ in 0..64 {
            let mid = 0.5 * (lo + hi);
            if feasible(a, i == 0, mid, n_one, n_two) {
                hi = mid;
            } else {
                lo = mid;
            }
            if hi - lo <= 1e-6 * hi.max(1.0) {
                break;
            }
        }
        bound = bound.max(lo);
    }
    // The last card released is printed by some printer, in one of its windows, after a click
    // overhead: the earliest any printer can do that.
    let last = (
        release(count - 1),
        jobs.two_sided[scheduled[count - 1].0 as usize],
    );
    let earliest = printers
        .iter()
        .map(|p| {
            let need = options.click_overhead_s + p.card_s(last.1);
            let from = last.0.max(p.free_at);
            p.windows
                .iter()
                .map(|&(a, b)| (a.max(from), b))
                .find(|&(a, b)| b - a >= need)
                .map_or(f64::INFINITY, |(a, _)| a + need)
        })
        .fold(f64::INFINITY, f64::min);
    let earliest = if earliest.is_finite() {
        earliest
    } else {
        last.0 + options.click_overhead_s
    };
    bound.max(earliest)
}
