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
//!
//! Times are seconds from the planning start (`0.0`), as `f64`; the Python layer converts them
//! to datetimes. Staffing (how many printers the people on shift can run) is resolved into each
//! printer's availability windows before the core sees them.

#[cfg(test)]
mod tests;

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

/// The planner's answer. Per-record columns are indexed like the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Printer per record, `-1` when not scheduled.
    pub printer: Vec<i32>,
    /// Batch per record, `-1` when not scheduled.
    pub batch: Vec<i32>,
    /// When the record's card starts printing (NaN when not scheduled).
    pub start: Vec<f64>,
    /// When the record's card is done: its ETA (NaN when not scheduled).
    pub end: Vec<f64>,
    /// A [`reason`] code per record.
    pub reason: Vec<u8>,
    /// Record indices in print order, batch after batch.
    pub order: Vec<u32>,
    pub batches: Vec<Batch>,
    /// End of the last card, seconds from the start (0 with nothing scheduled).
    pub makespan: f64,
    /// No schedule of the scheduled records can finish earlier than this.
    pub lower_bound: f64,
    /// Seconds each printer works (click overheads, cards, ribbon changes).
    pub busy: Vec<f64>,
    /// Seconds each printer is available between the start and the makespan.
    pub available: Vec<f64>,
    /// Kelurahan groups whose cards went into more than one batch.
    pub groups_split: u32,
    /// Prints left on each printer's ribbon at the end of its last batch.
    pub ribbon_left: Vec<u32>,
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
fn select(jobs: &Jobs<'_>, options: &Options, reason: &mut [u8]) -> Vec<(u32, f64)> {
    // Sorted by (class, ready, index): a stable merge sort by ready time (linear when, as
    // usual, most records share a few ready times), then a stable counting sort by class.
    let mut by_ready: Vec<u32> = Vec::with_capacity(jobs.ready.len());
    for (i, &ready) in jobs.ready.iter().enumerate() {
        if ready.is_finite() {
            by_ready.push(i as u32);
        } else {
            reason[i] = reason::NOT_READY;
        }
    }
    by_ready.sort_by(|&a, &b| jobs.ready[a as usize].total_cmp(&jobs.ready[b as usize]));
    let mut next_slot = [0usize; 256];
    for &i in &by_ready {
        next_slot[jobs.priority[i as usize] as usize] += 1;
    }
    let mut total = 0;
    for slot in next_slot.iter_mut() {
        (*slot, total) = (total, total + *slot);
    }
    let mut ordered = vec![0u32; by_ready.len()];
    for &i in &by_ready {
        let slot = &mut next_slot[jobs.priority[i as usize] as usize];
        ordered[*slot] = i;
        *slot += 1;
    }
    let mut deliveries = options.blank_arrivals.clone();
    deliveries.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut supply = std::iter::once((f64::NEG_INFINITY, options.blanks)).chain(deliveries);
    let (mut from, mut left) = (f64::NEG_INFINITY, 0u64);
    let mut selected = Vec::with_capacity(ordered.len());
    for i in ordered {
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
        selected.push((i, jobs.ready[i as usize].max(from)));
    }
    selected
}

/// Cards waiting to print, by (priority class, group): one vector per pair in a dense table
/// (pushing a card is an index, not a tree search) and an ordered set of the non-empty pairs.
struct Pool {
    keys: BTreeSet<(u8, u32)>,
    slots: Vec<Vec<u32>>,
    class_rank: [usize; 256],
    groups: usize,
    len: usize,
}

impl Pool {
    fn new(priority: &[u8], groups: usize) -> Self {
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
        Pool {
            keys: BTreeSet::new(),
            slots: vec![Vec::new(); classes * groups],
            class_rank,
            groups,
            len: 0,
        }
    }

    fn slot(&mut self, class: u8, group: u32) -> &mut Vec<u32> {
        &mut self.slots[self.class_rank[class as usize] * self.groups + group as usize]
    }

    fn push(&mut self, class: u8, group: u32, job: u32) {
        let slot = self.slot(class, group);
        slot.push(job);
        if slot.len() == 1 {
            self.keys.insert((class, group));
        }
        self.len += 1;
    }

    /// Takes up to `room` cards: whole groups of the most urgent class first (first fit),
    /// then a split of the class's first group to fill the click, then the next class.
    /// Appends the cards to `taken` and one `(group, from, to)` range of `taken` per group.
    fn take(&mut self, mut room: usize, taken: &mut Vec<u32>, runs: &mut Vec<(u32, u32, u32)>) {
        let mut whole = Vec::new();
        while room > 0 {
            let Some(&(class, _)) = self.keys.first() else {
                return;
            };
            whole.clear();
            let mut skipped = 0;
            for &(c, group) in self.keys.range((class, 0)..(class, u32::MAX)) {
                if c != class || skipped > FIRST_FIT_SCAN || room == 0 {
                    break;
                }
                let len =
                    self.slots[self.class_rank[c as usize] * self.groups + group as usize].len();
                if len <= room {
                    room -= len;
                    whole.push(group);
                } else {
                    skipped += 1;
                }
            }
            for &group in &whole {
                self.keys.remove(&(class, group));
                let cards = std::mem::take(self.slot(class, group));
                self.len -= cards.len();
                let from = taken.len() as u32;
                taken.extend(cards);
                runs.push((group, from, taken.len() as u32));
            }
            if room == 0 {
                return;
            }
            // The class still has groups too large for the room left: split the first.
            let Some(&(c, group)) = self.keys.first() else {
                return;
            };
            if c != class {
                continue;
            }
            let cards = self.slot(class, group);
            let keep = cards.len() - room;
            let split: Vec<u32> = cards.drain(keep..).collect();
            let from = taken.len() as u32;
            taken.extend(split);
            runs.push((group, from, taken.len() as u32));
            self.len -= room;
            room = 0;
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
    let mut selected = select(jobs, options, &mut reason);
    // Released in time order (the pool orders by class and group itself). A stable merge
    // sort: linear when, as usual, most records are ready at the start.
    selected.sort_by(|a, b| a.1.total_cmp(&b.1));
    let release: Vec<f64> = selected.iter().map(|s| s.1).collect();

    let mut out = Schedule {
        printer: vec![-1; n],
        batch: vec![-1; n],
        start: vec![f64::NAN; n],
        end: vec![f64::NAN; n],
        reason,
        order: Vec::with_capacity(selected.len()),
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
    let mut pool = Pool::new(jobs.priority, groups);
    let mut next = 0usize;
    let mut taken: Vec<u32> = Vec::with_capacity(click);
    let mut runs: Vec<(u32, u32, u32)> = Vec::new();

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
        while next < selected.len() && release[next] <= t {
            let j = selected[next].0 as usize;
            pool.push(jobs.priority[j], group[j], j as u32);
            next += 1;
        }
        if pool.len == 0 {
            if next == selected.len() {
                break;
            }
            clock.time = release[next];
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
        let share = tail_share(
            p,
            printers,
            &clocks,
            left_one,
            left_two,
            pool.len + (selected.len() - next),
            options,
        );
        let room = lo.min(share.max(1));

        taken.clear();
        runs.clear();
        pool.take(room, &mut taken, &mut runs);
        // Print order is by group: order the (few) group ranges, not the cards.
        runs.sort_by_key(|r| r.0);
        let index = out.batches.len() as i32;
        let clock = &mut clocks[p];
        let mut now = t + overhead;
        let mut changes = Vec::new();
        let first = out.order.len() as u32;
        let print_order = runs
            .iter()
            .flat_map(|&(_, from, to)| &taken[from as usize..to as usize]);
        for (pos, &j) in print_order.enumerate() {
            if clock.ribbon_left == 0 {
                now += spec.ribbon_change_s;
                clock.ribbon_left = spec.ribbon_capacity;
                changes.push(pos as u32);
            }
            let ju = j as usize;
            let two = jobs.two_sided[ju];
            if two {
                left_two -= 1;
            } else {
                left_one -= 1;
            }
            out.start[ju] = now;
            now += spec.card_s(two);
            out.end[ju] = now;
            out.printer[ju] = p as i32;
            out.batch[ju] = index;
            clock.ribbon_left -= 1;
            out.order.push(j);
        }
        out.busy[p] += now - t;
        out.makespan = out.makespan.max(now);
        clock.time = now;
        out.ribbon_left[p] = clock.ribbon_left;
        out.batches.push(Batch {
            printer: p as u32,
            start: t,
            end: now,
            first,
            len: taken.len() as u32,
            ribbon_changes: changes,
        });
    }
    // Whatever is left found no printer window.
    for &(j, _) in &selected {
        if out.batch[j as usize] < 0 {
            out.reason[j as usize] = reason::NO_PRINTER;
        }
    }
    out.groups_split = groups_split(&group, groups, &out);
    for (p, spec) in printers.iter().enumerate() {
        out.available[p] = spec.available(0.0, out.makespan);
    }
    out.lower_bound = lower_bound(jobs, printers, options, &selected, &out);
    Ok(out)
}

/// The cards printer `p` should take so that all printers finish together, or `usize::MAX`
/// while there is more than enough work for everyone.
///
/// Each printer `q`, free at `T_q`, can print `k_q(E)` cards by a common end `E`, counting its
/// clicks and the ribbon changes its ribbon will need; the smallest `E` with `Σ k_q(E) ≥
/// remaining` is found by bisection and `p` takes `k_p(E)`.
fn tail_share(
    p: usize,
    printers: &[PrinterSpec],
    clocks: &[Clock],
    left_one: usize,
    left_two: usize,
    remaining: usize,
    options: &Options,
) -> usize {
    let total = (left_one + left_two).max(1) as f64;
    let share_two = left_two as f64 / total;
    let card = |q: usize| {
        let spec = &printers[q];
        spec.one_sided_s * (1.0 - share_two) + spec.two_sided_s * share_two
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
    cards_by(p, hi).max(1) as usize
}

/// Groups (dense numbers, `0..groups`) whose cards went into more than one batch.
fn groups_split(group: &[u32], groups: usize, out: &Schedule) -> u32 {
    let mut last_batch = vec![u32::MAX; groups];
    let mut split = vec![false; groups];
    for (b, batch) in out.batches.iter().enumerate() {
        for &j in &out.order[batch.first as usize..(batch.first + batch.len) as usize] {
            let g = group[j as usize] as usize;
            if last_batch[g] != b as u32 {
                split[g] |= last_batch[g] != u32::MAX;
                last_batch[g] = b as u32;
            }
        }
    }
    split.iter().filter(|&&s| s).count() as u32
}

/// A bound no schedule of the scheduled records can beat: for a set of release checkpoints
/// `a`, the earliest `T` by which the printers' capacity in `[a, T]` covers the work released
/// at or after `a` (click overheads and ribbon changes amortised per card, two-sided cards
/// placed fractionally where they cost least), and the last release plus one card.
fn lower_bound(
    jobs: &Jobs<'_>,
    printers: &[PrinterSpec],
    options: &Options,
    selected: &[(u32, f64)],
    out: &Schedule,
) -> f64 {
    // `selected` is in release order already.
    let scheduled: Vec<(f64, bool)> = selected
        .iter()
        .filter(|s| out.batch[s.0 as usize] >= 0)
        .map(|s| (s.1.max(0.0), jobs.two_sided[s.0 as usize]))
        .collect();
    if scheduled.is_empty() || printers.is_empty() {
        return 0.0;
    }
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
    // Two-sided suffix counts so each checkpoint knows its mix.
    let mut two_from = vec![0usize; scheduled.len() + 1];
    for i in (0..scheduled.len()).rev() {
        two_from[i] = two_from[i + 1] + usize::from(scheduled[i].1);
    }
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
    let mut last_checked = usize::MAX;
    for k in 0..checkpoints {
        let i = k * count / checkpoints;
        // Start each checkpoint at the first record released at that time.
        let i = scheduled.partition_point(|s| s.0 < scheduled[i].0);
        if i == last_checked {
            continue;
        }
        last_checked = i;
        let a = scheduled[i].0;
        let n_two = two_from[i] as f64;
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
    let last = scheduled[count - 1];
    let quickest = printers
        .iter()
        .map(|p| p.card_s(last.1))
        .fold(f64::INFINITY, f64::min);
    bound.max(last.0 + options.click_overhead_s + quickest)
}
