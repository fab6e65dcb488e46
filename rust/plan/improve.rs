//! A second look at small plans: a search over how many cards of each class and side go into
//! which click of which printer.
//!
//! List scheduling is close to the bound when every printer prints many clicks, but with one to
//! four clicks per printer a single click overhead or ribbon change on the critical path is a
//! tenth of the makespan: the replacements printed last in a click of their own on each printer,
//! the last click of one printer a few cards too long. A plan that balances the number and size
//! of clicks, puts the less urgent cards into the last clicks of the more urgent ones and starts
//! those clicks together can finish a tenth sooner (measured against exact optima in
//! `benches/test_bench_plan_optimum.py`).
//!
//! The search works on card counts per (class, side) per click, where a plan's times follow
//! in a few operations: each printer's clicks run one after another from when it is free, a
//! click costs its overhead, its cards and the ribbon changes its cards need, and a click with a
//! less urgent class waits until every click with a more urgent one has started (the priority
//! rule; clicks mixing two classes therefore start together). Simulated annealing from the list
//! schedule's counts, with a fixed seed (the same input gives the same plan), keeps the best
//! plan; only if it ends sooner are the counts filled with cards (whole kelurahan groups first,
//! as the list scheduler does) and the schedule replaced.
//!
//! It runs only when every card is released at once and every printer's working window covers
//! the list schedule, and when there are few clicks per printer (its cost does not grow with
//! the cards, and on large plans the list schedule is within a fraction of a percent anyway).

use super::{reason, write_batch, Jobs, Options, Pool, PrinterSpec, Schedule, ONE, TWO};

/// At most this many clicks per printer on average (the list schedule's count) for the search
/// to run: beyond it the list schedule is close to the bound and the search gains nothing.
const MAX_CLICKS_PER_PRINTER: usize = 4;
/// Moves tried at most, in rounds: each round cools from hot to cold, starting again from
/// the best plan so far (short rounds escape a plan that a single long cooling stays near).
/// On the six instances of `benches/test_bench_plan_optimum.py` and eight more, one long
/// round of 20,000 moves left some 2-4 % above the optimum; twelve rounds of 1,000 none
/// above 1.6 %.
const ITERATIONS: usize = 12_000;
const ROUND: usize = 1_000;
/// The search stops once this many moves in a row found no shorter plan.
const STALL: usize = 5_000;
/// Weight of the printers' mean end in the score: plans of equal makespan in which the other
/// printers end earlier leave more room to shorten the longest.
const SPREAD: f64 = 0.05;

/// A plan as card counts: per printer up to `width` clicks in order, each `types` counts
/// (`class * 2 + side`), in one flat buffer so that copying a plan is one copy.
struct Solution {
    clicks: Vec<usize>,
    x: Vec<u32>,
}

impl Clone for Solution {
    fn clone(&self) -> Self {
        Solution {
            clicks: self.clicks.clone(),
            x: self.x.clone(),
        }
    }

    /// Copies in place: the search copies a plan per move.
    fn clone_from(&mut self, source: &Self) {
        self.clicks.clone_from(&source.clicks);
        self.x.clone_from(&source.x);
    }
}

/// A click's times while a solution is evaluated.
#[derive(Clone, Copy, Default)]
struct Timed {
    printer: usize,
    duration: f64,
    /// Most and least urgent class in the click (class ranks).
    first: usize,
    last: usize,
    earliest: f64,
    start: f64,
}

struct Search<'a> {
    printers: &'a [PrinterSpec],
    /// When each printer can start (infinite: it takes no clicks).
    start: Vec<f64>,
    usable: Vec<usize>,
    classes: usize,
    types: usize,
    width: usize,
    overhead: f64,
    limit: u32,
}

impl Search<'_> {
    fn at(&self, p: usize, i: usize) -> usize {
        (p * self.width + i) * self.types
    }

    fn size(&self, sol: &Solution, p: usize, i: usize) -> u32 {
        let a = self.at(p, i);
        sol.x[a..a + self.types].iter().sum()
    }

    /// The makespan of `sol` and a score that also rewards printers finishing early (it
    /// guides the search across plans of equal makespan), or `None` when the printers' click
    /// orders break the priority rule. Leaves each click's start in `timed` and each
    /// printer's end in `ends`.
    fn evaluate(
        &self,
        sol: &Solution,
        timed: &mut Vec<Timed>,
        ends: &mut [f64],
    ) -> Option<(f64, f64)> {
        timed.clear();
        for (p, &m) in sol.clicks.iter().enumerate() {
            let spec = &self.printers[p];
            let capacity = u64::from(spec.ribbon_capacity);
            let mut ribbon = u64::from(spec.ribbon_left);
            let card = [spec.one_sided_s, spec.two_sided_s];
            let mut previous = 0;
            for i in 0..m {
                let a = self.at(p, i);
                let (mut first, mut last, mut cards, mut work) = (usize::MAX, 0, 0u64, 0.0);
                for (ty, &c) in sol.x[a..a + self.types].iter().enumerate() {
                    if c > 0 {
                        first = first.min(ty / 2);
                        last = ty / 2;
                        cards += u64::from(c);
                        work += f64::from(c) * card[ty % 2];
                    }
                }
                if first < previous {
                    return None; // a more urgent card after a less urgent click
                }
                previous = last;
                // A change before the card at which the ribbon runs out, as it is printed.
                let change = if cards <= ribbon {
                    ribbon -= cards;
                    0
                } else {
                    let over = cards - ribbon;
                    let change = over.div_ceil(capacity);
                    ribbon = change * capacity - over;
                    change
                } as f64;
                timed.push(Timed {
                    printer: p,
                    duration: self.overhead + work + change * spec.ribbon_change_s,
                    first,
                    last,
                    earliest: self.start[p],
                    start: 0.0,
                });
            }
        }
        let run = |timed: &mut [Timed]| {
            let (mut printer, mut end) = (usize::MAX, f64::NEG_INFINITY);
            for c in timed.iter_mut() {
                if c.printer != printer {
                    (printer, end) = (c.printer, f64::NEG_INFINITY);
                }
                c.start = c.earliest.max(end);
                end = c.start + c.duration;
            }
        };
        // A click holding class k + 1 starts no earlier than the last click holding class k
        // (a click spanning k counts as holding it: the rule sandwiches it all the same).
        let holds = |c: &Timed, k: usize| c.first <= k && k <= c.last;
        let last_start = |timed: &[Timed], k: usize| {
            timed
                .iter()
                .filter(|c| holds(c, k))
                .fold(f64::NEG_INFINITY, |a, c| a.max(c.start))
        };
        run(timed);
        for _ in 0..2 * self.classes + 2 {
            let mut changed = false;
            for k in 0..self.classes - 1 {
                let from = last_start(timed, k);
                for c in timed.iter_mut().filter(|c| holds(c, k + 1)) {
                    if c.earliest < from {
                        c.earliest = from;
                        changed = true;
                    }
                }
                if changed {
                    run(timed);
                }
            }
            if !changed {
                break;
            }
        }
        for k in 0..self.classes - 1 {
            let first_next = timed
                .iter()
                .filter(|c| holds(c, k + 1))
                .fold(f64::INFINITY, |a, c| a.min(c.start));
            if last_start(timed, k) > first_next {
                return None;
            }
        }
        ends.iter_mut().for_each(|e| *e = 0.0);
        for c in timed.iter() {
            ends[c.printer] = ends[c.printer].max(c.start + c.duration);
        }
        let makespan = ends.iter().copied().fold(0.0, f64::max);
        let sum: f64 = ends.iter().sum();
        Some((makespan, makespan + SPREAD * sum / ends.len() as f64))
    }

    /// A plan from the relaxation's split (`split`: cards and two-sided cards per printer) and
    /// the cards per class and side (`count`, indexed `class * 2 + side`): each side's cards
    /// dealt to the printers in proportion to their quotas, most urgent first, so that every
    /// printer prints its urgent cards first and its less urgent ones last; each printer's
    /// cards in as few clicks as the limit allows, of even sizes. `None` when a printer would
    /// need more clicks than a plan holds.
    fn seed(&self, split: &[(usize, usize)], count: &[usize]) -> Option<Solution> {
        let printers = self.printers.len();
        let mut dealt = vec![0u32; printers * self.types];
        for side in [ONE, TWO] {
            let quota: Vec<usize> = split
                .iter()
                .map(|&(k, b)| if side == TWO { b } else { k - b })
                .collect();
            let mut given = vec![0usize; printers];
            for class in 0..self.classes {
                for _ in 0..count[class * 2 + side] {
                    // The printer furthest behind its quota takes the next card.
                    let p = (0..printers)
                        .filter(|&p| given[p] < quota[p])
                        .min_by(|&a, &b| {
                            let fa = (given[a] + 1) as f64 / quota[a] as f64;
                            let fb = (given[b] + 1) as f64 / quota[b] as f64;
                            fa.total_cmp(&fb)
                        })?;
                    given[p] += 1;
                    dealt[p * self.types + class * 2 + side] += 1;
                }
            }
        }
        let mut sol = Solution {
            clicks: vec![0; printers],
            x: vec![0; printers * self.width * self.types],
        };
        let limit = self.limit as usize;
        for (p, &(k, _)) in split.iter().enumerate() {
            let m = k.div_ceil(limit);
            if m > self.width || (m > 0 && !self.start[p].is_finite()) {
                return None;
            }
            sol.clicks[p] = m;
            let mut ty = 0;
            for i in 0..m {
                let mut room = k / m + usize::from(i < k % m);
                let at = self.at(p, i);
                while room > 0 {
                    let left = &mut dealt[p * self.types + ty];
                    let take = room.min(*left as usize);
                    *left -= take as u32;
                    sol.x[at + ty] += take as u32;
                    room -= take;
                    if *left == 0 {
                        ty += 1;
                    }
                }
            }
        }
        Some(sol)
    }

    /// A click at random: from the printer that ends last when `late` is given, else any.
    fn pick_click(
        &self,
        sol: &Solution,
        late: Option<usize>,
        rng: &mut Rng,
    ) -> Option<(usize, usize)> {
        if let Some(p) = late.filter(|&p| sol.clicks[p] > 0) {
            return Some((p, rng.below(sol.clicks[p])));
        }
        let total: usize = sol.clicks.iter().sum();
        let mut i = rng.below(total);
        for (p, &m) in sol.clicks.iter().enumerate() {
            if i < m {
                return Some((p, i));
            }
            i -= m;
        }
        None
    }

    /// A kind of card the click holds, at random.
    fn pick_type(&self, sol: &Solution, p: usize, i: usize, rng: &mut Rng) -> Option<usize> {
        let a = self.at(p, i);
        let from = rng.below(self.types);
        (0..self.types)
            .map(|d| (from + d) % self.types)
            .find(|&ty| sol.x[a + ty] > 0)
    }

    /// Opens an empty click at position `i` of printer `p` (false: no room).
    fn insert(&self, sol: &mut Solution, p: usize, i: usize) -> bool {
        let m = sol.clicks[p];
        if m == self.width {
            return false;
        }
        let (a, end) = (self.at(p, i), self.at(p, m + 1));
        sol.x.copy_within(a..end - self.types, a + self.types);
        sol.x[a..a + self.types].iter_mut().for_each(|c| *c = 0);
        sol.clicks[p] = m + 1;
        true
    }

    /// Drops printer `p`'s empty clicks.
    fn tidy(&self, sol: &mut Solution, p: usize) {
        let mut kept = 0;
        for i in 0..sol.clicks[p] {
            let a = self.at(p, i);
            if sol.x[a..a + self.types].iter().any(|&c| c > 0) {
                let to = self.at(p, kept);
                sol.x.copy_within(a..a + self.types, to);
                kept += 1;
            }
        }
        sol.clicks[p] = kept;
    }

    /// Changes `sol` a little: moves cards between clicks or into a new click, merges two
    /// clicks of a printer (or fills one from the next), or swaps two cards of different
    /// kinds. Half the moves take from the printer that ends last (`late`). Returns whether
    /// it changed.
    fn mutate(&self, sol: &mut Solution, late: usize, rng: &mut Rng) -> bool {
        let late = (rng.below(2) == 0).then_some(late);
        let Some((p, a)) = self.pick_click(sol, late, rng) else {
            return false;
        };
        let Some(ty) = self.pick_type(sol, p, a, rng) else {
            return false;
        };
        let mut touched = p;
        match rng.below(5) {
            0..=2 => {
                let q = self.usable[rng.below(self.usable.len())];
                touched = q;
                let m = sol.clicks[q];
                let at = rng.below(m + 1);
                let have = sol.x[self.at(p, a) + ty];
                let mut amount = if rng.below(2) == 0 {
                    1
                } else {
                    1 + rng.below(have as usize) as u32
                };
                let room = if at < m && (q, at) != (p, a) && rng.below(3) != 0 {
                    self.limit - self.size(sol, q, at)
                } else {
                    0
                };
                let mut a = a;
                if room > 0 {
                    amount = amount.min(room);
                } else {
                    if !self.insert(sol, q, at) {
                        return false;
                    }
                    if q == p && at <= a {
                        a += 1;
                    }
                }
                let to = self.at(q, at) + ty;
                sol.x[to] += amount;
                let from = self.at(p, a) + ty;
                sol.x[from] -= amount;
            }
            3 => {
                if a + 1 >= sol.clicks[p] {
                    return false;
                }
                let (x, y) = (self.at(p, a), self.at(p, a + 1));
                let room = self.limit - self.size(sol, p, a);
                if self.size(sol, p, a + 1) <= room {
                    for ty in 0..self.types {
                        sol.x[x + ty] += sol.x[y + ty];
                        sol.x[y + ty] = 0;
                    }
                } else {
                    // Too many for one click: fill this one from the next.
                    let Some(tz) = self.pick_type(sol, p, a + 1, rng) else {
                        return false;
                    };
                    let amount = room.min(1 + rng.below(sol.x[y + tz] as usize) as u32);
                    if amount == 0 {
                        return false;
                    }
                    sol.x[x + tz] += amount;
                    sol.x[y + tz] -= amount;
                }
            }
            _ => {
                let Some((q, b)) = self.pick_click(sol, None, rng) else {
                    return false;
                };
                let y = self.at(q, b);
                let from = rng.below(self.types);
                let Some(tz) = (0..self.types)
                    .map(|d| (from + d) % self.types)
                    .find(|&tz| tz != ty && sol.x[y + tz] > 0)
                else {
                    return false;
                };
                if (p, a) == (q, b) {
                    return false;
                }
                touched = q;
                let x = self.at(p, a);
                sol.x[x + ty] -= 1;
                sol.x[x + tz] += 1;
                sol.x[y + tz] -= 1;
                sol.x[y + ty] += 1;
            }
        }
        self.tidy(sol, p);
        if touched != p {
            self.tidy(sol, touched);
        }
        true
    }
}

/// A bound on every plan of the search's model, tight on small plans: each printer on its
/// own, with whole clicks and whole ribbon changes, and the cards split between printers in
/// whole numbers (only the priority rule is left out). A printer that prints `k` cards, `b` of
/// them two-sided, from its start `s` ends no earlier than
/// `s + ⌈k / limit⌉ · overhead + changes(k) · change + (k − b) · one + b · two`; a makespan `T`
/// is possible only if some split of the cards over the printers keeps every printer within
/// `T`. Where the list schedule or the search reaches the bound it is optimal and the search
/// stops: the search is then as cheap as the plan needs (measured against CP-SAT's optima, the
/// bound equals the optimum on five of the six instances of
/// `benches/test_bench_plan_optimum.py`).
struct Relaxation<'a> {
    search: &'a Search<'a>,
    cards: usize,
    two_sided: usize,
}

/// The bound's check costs about `(printers - 2) · cards² / 2` steps; beyond this many it is
/// not worth its time and the search runs without it.
const RELAXATION_STEPS: usize = 4_000_000;

/// The relaxation's working arrays, reused across checks.
#[derive(Default)]
struct Scratch {
    /// Per number of cards placed on the printers so far: the most and the fewest two-sided
    /// cards they can take (a necessary condition on the split, so the check stays a bound).
    hi: Vec<i64>,
    lo: Vec<i64>,
    next_hi: Vec<i64>,
    next_lo: Vec<i64>,
    /// Per printer and cards placed up to it: the cards it takes on the way to `hi`.
    pick: Vec<u32>,
    ranges: Vec<(i64, i64)>,
}

const NONE: i64 = i64::MIN;

impl Relaxation<'_> {
    /// The two-sided cards printer `p` can take among `k` cards and end by `t`, or `None`
    /// when `k` cards do not fit (nor do more).
    fn range(&self, p: usize, k: usize, t: f64) -> Option<(i64, i64)> {
        let s = self.search;
        let spec = &s.printers[p];
        if k == 0 {
            return Some((0, 0));
        }
        if !s.start[p].is_finite() {
            return None;
        }
        let (one, two) = (spec.one_sided_s, spec.two_sided_s);
        let (fast, slow) = (one.min(two), one.max(two));
        let k64 = k as u64;
        let changes = k64
            .saturating_sub(u64::from(spec.ribbon_left))
            .div_ceil(u64::from(spec.ribbon_capacity));
        let base = s.start[p]
            + k64.div_ceil(u64::from(s.limit)) as f64 * s.overhead
            + changes as f64 * spec.ribbon_change_s
            + k as f64 * fast;
        // A hair of slack for rounding: the check must never refuse a plan's own end.
        let slack = t - base;
        if slack < -1e-9 * t.abs().max(1.0) {
            return None;
        }
        let slack = slack.max(0.0);
        let k = k as i64;
        let swap = if slow > fast {
            ((slack / (slow - fast)) * (1.0 + 1e-12))
                .floor()
                .min(k as f64) as i64
        } else {
            k
        };
        Some(if two >= one { (0, swap) } else { (k - swap, k) })
    }

    /// Whether some split of the cards keeps every printer within `t` (`false` proves that
    /// no plan of the model ends by `t`).
    fn fits(&self, t: f64, w: &mut Scratch) -> bool {
        let n = self.cards;
        let printers = self.search.printers.len();
        w.hi.clear();
        w.hi.resize(n + 1, NONE);
        w.lo.clear();
        w.lo.resize(n + 1, i64::MAX);
        w.hi[0] = 0;
        w.lo[0] = 0;
        w.pick.clear();
        w.pick.resize(printers * (n + 1), 0);
        for p in 0..printers {
            let last = p + 1 == printers;
            w.next_hi.clear();
            w.next_hi.resize(n + 1, NONE);
            w.next_lo.clear();
            w.next_lo.resize(n + 1, i64::MAX);
            w.ranges.clear();
            for k in 0..=n {
                match self.range(p, k, t) {
                    Some(r) => w.ranges.push(r),
                    None => break,
                }
            }
            let pick = &mut w.pick[p * (n + 1)..(p + 1) * (n + 1)];
            for m in 0..=n {
                let (h, l) = (w.hi[m], w.lo[m]);
                if h == NONE {
                    continue;
                }
                // The last printer: only the split that places every card counts.
                let ks = if last { n - m..n - m + 1 } else { 0..n - m + 1 };
                for k in ks {
                    let Some(&(a, b)) = w.ranges.get(k) else {
                        break;
                    };
                    if h + b > w.next_hi[m + k] {
                        w.next_hi[m + k] = h + b;
                        pick[m + k] = k as u32;
                    }
                    w.next_lo[m + k] = w.next_lo[m + k].min(l + a);
                }
            }
            std::mem::swap(&mut w.hi, &mut w.next_hi);
            std::mem::swap(&mut w.lo, &mut w.next_lo);
        }
        let want = self.two_sided as i64;
        w.hi[n] != NONE && w.hi[n] >= want && w.lo[n] <= want
    }

    /// A time no plan of the model ends before, within `tol` of the relaxation's optimum, or
    /// `upper - tol` when no plan ends before that (then a plan ending at `upper` is optimal);
    /// and the smallest time found that the relaxation fits in.
    fn bound(&self, upper: f64, tol: f64, w: &mut Scratch) -> (f64, f64) {
        let (mut below, mut above) = (0.0, upper - tol);
        if !self.fits(above, w) {
            return (above, upper);
        }
        while above - below > tol {
            let mid = 0.5 * (below + above);
            if self.fits(mid, w) {
                above = mid;
            } else {
                below = mid;
            }
        }
        (below, above)
    }

    /// The relaxation's split of the cards at `t` (where it fits): per printer, how many cards
    /// and how many of them two-sided.
    fn split(&self, t: f64, w: &mut Scratch) -> Option<Vec<(usize, usize)>> {
        if !self.fits(t, w) {
            return None;
        }
        let n = self.cards;
        let printers = self.search.printers.len();
        let mut out = vec![(0usize, 0usize); printers];
        let mut m = n;
        let mut spare = w.hi[n] - self.two_sided as i64;
        for p in (0..printers).rev() {
            let k = w.pick[p * (n + 1) + m] as usize;
            let (a, b) = self.range(p, k, t)?;
            // Fewer two-sided cards where the printers could take more than there are.
            let drop = spare.min(b - a).max(0);
            spare -= drop;
            out[p] = (k, (b - drop) as usize);
            m -= k;
        }
        (m == 0 && spare == 0).then_some(out)
    }
}

/// A small fixed-seed generator (xorshift): the search is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (((self.0 >> 32) * n as u64) >> 32) as usize
    }
}

/// Replaces `out` by a plan that ends sooner when the search finds one (see the module
/// documentation for when it runs). `group` are the dense group numbers the pool uses.
/// Returns the relaxation's bound (no plan ends sooner), `-inf` where it did not run.
pub(super) fn improve(
    jobs: &Jobs<'_>,
    printers: &[PrinterSpec],
    options: &Options,
    selected: &[(u32, f64)],
    group: &[u32],
    groups: usize,
    out: &mut Schedule,
) -> f64 {
    // Large plans first, without a pass over the records: far too many clicks to search.
    if out.batches.len() > MAX_CLICKS_PER_PRINTER * printers.len() {
        return f64::NEG_INFINITY;
    }
    let Some(release) = selected.first().map(|s| s.1) else {
        return f64::NEG_INFINITY;
    };
    if selected
        .iter()
        .any(|s| s.1 != release || out.reason[s.0 as usize] != reason::SCHEDULED)
    {
        return f64::NEG_INFINITY;
    }
    // Each printer's start and the window it works in; the window must hold the list
    // schedule (so it holds any plan that ends sooner).
    let mut start = vec![f64::INFINITY; printers.len()];
    for (p, spec) in printers.iter().enumerate() {
        let from = spec.free_at.max(0.0).max(release);
        match spec.windows.iter().find(|w| w.1 > from) {
            Some(&(a, b)) if b >= out.makespan => start[p] = a.max(from),
            Some(_) => return f64::NEG_INFINITY,
            None => {}
        }
    }
    let usable = start.iter().filter(|s| s.is_finite()).count();
    let limit = options.click_limit;
    if usable == 0 || out.batches.len() > MAX_CLICKS_PER_PRINTER * usable {
        return f64::NEG_INFINITY;
    }
    // Class ranks: the classes present, most urgent first.
    let mut present = [false; 256];
    for s in selected {
        present[jobs.priority[s.0 as usize] as usize] = true;
    }
    let classes: Vec<u8> = (0..=255u8).filter(|&c| present[c as usize]).collect();
    let mut rank = [0usize; 256];
    for (k, &c) in classes.iter().enumerate() {
        rank[c as usize] = k;
    }
    let mut per_printer = vec![0usize; printers.len()];
    for batch in &out.batches {
        per_printer[batch.printer as usize] += 1;
    }
    let usable_printers: Vec<usize> = (0..printers.len())
        .filter(|&p| start[p].is_finite())
        .collect();
    let search = Search {
        printers,
        start,
        usable: usable_printers,
        classes: classes.len(),
        types: 2 * classes.len(),
        width: per_printer.iter().copied().max().unwrap_or(0) + 2,
        overhead: options.click_overhead_s,
        limit,
    };
    // The list schedule's counts.
    let mut current = Solution {
        clicks: vec![0; printers.len()],
        x: vec![0; printers.len() * search.width * search.types],
    };
    for batch in &out.batches {
        let p = batch.printer as usize;
        if !search.start[p].is_finite() {
            return f64::NEG_INFINITY;
        }
        let at = search.at(p, current.clicks[p]);
        current.clicks[p] += 1;
        for &j in &out.order[batch.first as usize..(batch.first + batch.len) as usize] {
            let j = j as usize;
            current.x[at + rank[jobs.priority[j] as usize] * 2 + usize::from(jobs.two_sided[j])] +=
                1;
        }
    }
    let mut timed = Vec::new();
    let mut ends = vec![0.0; printers.len()];
    let Some((makespan, mut score)) = search.evaluate(&current, &mut timed, &mut ends) else {
        return f64::NEG_INFINITY;
    };
    let last_of = |ends: &[f64]| {
        (0..ends.len())
            .max_by(|&a, &b| ends[a].total_cmp(&ends[b]))
            .unwrap_or(0)
    };
    // Stop as soon as a plan reaches the bound: it is optimal. A list schedule already there
    // needs no search at all.
    let cards = selected.len();
    let relaxation = Relaxation {
        search: &search,
        cards,
        two_sided: selected
            .iter()
            .filter(|s| jobs.two_sided[s.0 as usize])
            .count(),
    };
    let steps = printers.len().saturating_sub(2) * cards * cards / 2 + 2 * cards;
    let tol = 1e-6 * out.makespan.max(1.0);
    let mut scratch = Scratch::default();
    let (bound, fits_at) = if steps <= RELAXATION_STEPS {
        relaxation.bound(out.makespan.min(makespan), tol, &mut scratch)
    } else {
        (f64::NEG_INFINITY, f64::INFINITY)
    };
    if out.makespan <= bound + tol {
        return bound;
    }
    // Start from the relaxation's split of the cards when that plan ends sooner.
    let mut count = vec![0usize; search.types];
    for s in selected {
        let j = s.0 as usize;
        count[rank[jobs.priority[j] as usize] * 2 + usize::from(jobs.two_sided[j])] += 1;
    }
    let mut best_makespan = makespan;
    if let Some(seed) = (fits_at.is_finite())
        .then(|| relaxation.split(fits_at, &mut scratch))
        .flatten()
        .and_then(|split| search.seed(&split, &count))
    {
        let mut seed_ends = vec![0.0; printers.len()];
        if let Some((m, s)) = search.evaluate(&seed, &mut timed, &mut seed_ends) {
            if m < best_makespan - 1e-6 {
                (current, score, best_makespan, ends) = (seed, s, m, seed_ends);
            }
        }
    }
    let mut late = last_of(&ends);
    let mut best = current.clone();
    let mut candidate = current.clone();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (hot, cold) = (0.02 * makespan, 1e-4 * makespan);
    let cooling = (cold / hot).powf(1.0 / ROUND as f64);
    let mut temperature = hot;
    let mut since = 0;
    for i in 0..ITERATIONS {
        since += 1;
        if since > STALL || best_makespan <= bound + tol {
            break;
        }
        if i % ROUND == 0 && i > 0 {
            temperature = hot;
            current.clone_from(&best);
            score = search
                .evaluate(&current, &mut timed, &mut ends)
                .expect("evaluated")
                .1;
            late = last_of(&ends);
        }
        temperature *= cooling;
        candidate.clone_from(&current);
        if !search.mutate(&mut candidate, late, &mut rng) {
            continue;
        }
        let Some((m, s)) = search.evaluate(&candidate, &mut timed, &mut ends) else {
            continue;
        };
        let accept = s <= score || {
            let u = rng.below(1 << 20) as f64 / f64::from(1u32 << 20);
            u < (-(s - score) / temperature).exp()
        };
        if accept {
            std::mem::swap(&mut current, &mut candidate);
            score = s;
            late = last_of(&ends);
            if m < best_makespan - 1e-6 {
                best.clone_from(&current);
                best_makespan = m;
                since = 0;
            }
        }
    }
    if best_makespan >= out.makespan - 1e-6 {
        return bound;
    }
    // Fill the counts with cards, clicks in start order, and replace the schedule.
    search
        .evaluate(&best, &mut timed, &mut ends)
        .expect("the best plan was evaluated");
    let mut clicks: Vec<(f64, usize, usize)> = Vec::with_capacity(timed.len());
    let mut index = vec![0usize; printers.len()];
    for c in &timed {
        clicks.push((c.start, c.printer, index[c.printer]));
        index[c.printer] += 1;
    }
    clicks.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut pool = Pool::new(
        jobs.priority,
        group,
        jobs.two_sided,
        selected,
        groups,
        Vec::new(),
    );
    for &(j, _) in selected {
        let j = j as usize;
        pool.push(jobs.priority[j], group[j], jobs.two_sided[j], j as u32);
    }
    out.order.clear();
    out.card_start.clear();
    out.card_end.clear();
    out.batches.clear();
    out.makespan = 0.0;
    out.busy.iter_mut().for_each(|b| *b = 0.0);
    let mut ribbon: Vec<u32> = printers.iter().map(|p| p.ribbon_left).collect();
    out.ribbon_left.clone_from(&ribbon);
    let (mut taken, mut runs) = (Vec::new(), Vec::new());
    for (t, p, i) in clicks {
        taken.clear();
        runs.clear();
        let x = &best.x[search.at(p, i)..search.at(p, i) + search.types];
        for (k, &class) in classes.iter().enumerate() {
            for side in [TWO, ONE] {
                let want = x[2 * k + side] as usize;
                let got = pool.take_class(side, class, want, &mut taken, &mut runs);
                debug_assert_eq!(got, want, "the counts are the cards there are");
            }
        }
        write_batch(
            out,
            p,
            &printers[p],
            t,
            options.click_overhead_s,
            &mut ribbon[p],
            &taken,
            &mut runs,
            jobs.two_sided,
        );
    }
    debug_assert_eq!(pool.len, 0);
    debug_assert!((out.makespan - best_makespan).abs() < 1e-6);
    bound
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(one: f64, two: f64) -> PrinterSpec {
        PrinterSpec {
            one_sided_s: one,
            two_sided_s: two,
            ribbon_capacity: 1_000,
            ribbon_left: 1_000,
            ribbon_change_s: 600.0,
            free_at: 0.0,
            windows: vec![(0.0, 1e9)],
        }
    }

    fn search(printers: &[PrinterSpec], limit: u32) -> Search<'_> {
        Search {
            printers,
            start: vec![0.0; printers.len()],
            usable: (0..printers.len()).collect(),
            classes: 1,
            types: 2,
            width: 8,
            overhead: 100.0,
            limit,
        }
    }

    #[test]
    fn the_bound_counts_whole_clicks_and_splits_cards_in_whole_numbers() {
        // Ten one-sided cards of 10 s on two printers, 100 s a click: four per click gives
        // 5 + 5 in two clicks each (250 s; 4 + 6 is 260 s), five per click one each (150 s).
        let printers = [printer(10.0, 20.0), printer(10.0, 20.0)];
        let mut w = Scratch::default();
        for (limit, best) in [(4, 250.0), (5, 150.0)] {
            let s = search(&printers, limit);
            let r = Relaxation {
                search: &s,
                cards: 10,
                two_sided: 0,
            };
            assert!(r.fits(best, &mut w));
            assert!(!r.fits(best - 1e-3, &mut w));
            let (below, above) = r.bound(1_000.0, 1e-6, &mut w);
            assert!(below <= best && best <= above + 1e-6 && above - below <= 1e-6);
        }
    }

    #[test]
    fn two_sided_cards_go_where_they_cost_least_in_the_split() {
        // Two printers, one slow on the back: its two-sided card costs 40 s, the other's 12 s.
        // Four two-sided and four one-sided cards, one click each: the fast printer takes the
        // two-sided ones (4 · 12 = 48 s), the other the one-sided ones (4 · 10 = 40 s).
        let printers = [printer(10.0, 40.0), printer(10.0, 12.0)];
        let s = search(&printers, 10);
        let r = Relaxation {
            search: &s,
            cards: 8,
            two_sided: 4,
        };
        let mut w = Scratch::default();
        assert!(r.fits(148.0, &mut w));
        assert!(!r.fits(147.9, &mut w));
        assert_eq!(r.split(148.0, &mut w), Some(vec![(4, 0), (4, 4)]));
    }

    #[test]
    fn the_seed_deals_every_card_once_the_urgent_ones_first() {
        let printers = [printer(10.0, 20.0), printer(10.0, 20.0)];
        let mut s = search(&printers, 3);
        (s.classes, s.types) = (2, 4);
        // Per class and side: 3 + 2 urgent, 1 + 2 less urgent; 4 cards (2 two-sided) each.
        let seed = s
            .seed(&[(4, 2), (4, 2)], &[3, 2, 1, 2])
            .expect("room for the clicks");
        assert_eq!(seed.clicks, vec![2, 2]);
        let mut total = [0u32; 4];
        for p in 0..2 {
            let mut last_class = 0;
            for i in 0..seed.clicks[p] {
                let at = s.at(p, i);
                assert!(s.size(&seed, p, i) <= 3);
                for ty in 0..4 {
                    total[ty] += seed.x[at + ty];
                    if seed.x[at + ty] > 0 {
                        assert!(
                            ty / 2 >= last_class,
                            "an urgent card after a less urgent one"
                        );
                        last_class = ty / 2;
                    }
                }
            }
        }
        assert_eq!(total, [3, 2, 1, 2]);
    }
}
