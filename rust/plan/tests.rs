use super::*;

fn printer(one: f64, two: f64) -> PrinterSpec {
    PrinterSpec {
        one_sided_s: one,
        two_sided_s: two,
        ribbon_capacity: 500,
        ribbon_left: 500,
        ribbon_change_s: 600.0,
        free_at: 0.0,
        windows: vec![(0.0, 1e9)],
    }
}

fn options(blanks: u64) -> Options {
    Options {
        click_limit: 300,
        click_overhead_s: 120.0,
        blanks,
        blank_arrivals: vec![],
    }
}

struct Instance {
    ready: Vec<f64>,
    priority: Vec<u8>,
    group: Vec<u32>,
    two_sided: Vec<bool>,
}

impl Instance {
    fn new(n: usize, groups: u32) -> Self {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        Instance {
            ready: vec![0.0; n],
            priority: (0..n).map(|_| (next() % 3) as u8).collect(),
            group: (0..n)
                .map(|_| (next() % u64::from(groups)) as u32)
                .collect(),
            two_sided: (0..n).map(|_| next() % 4 != 0).collect(),
        }
    }

    fn jobs(&self) -> Jobs<'_> {
        Jobs {
            ready: &self.ready,
            priority: &self.priority,
            group: &self.group,
            two_sided: &self.two_sided,
        }
    }
}

fn check_invariants(inst: &Instance, printers: &[PrinterSpec], opts: &Options, s: &Schedule) {
    let n = inst.ready.len();
    let mut seen = vec![false; n];
    let r = s.by_record();
    for (b, batch) in s.batches.iter().enumerate() {
        assert!(batch.len >= 1 && batch.len <= opts.click_limit);
        let spec = &printers[batch.printer as usize];
        assert!(
            spec.windows
                .iter()
                .any(|w| w.0 <= batch.start && batch.end <= w.1 + 1e-6),
            "batch {b} outside the printer's windows"
        );
        for &j in &s.order[batch.first as usize..(batch.first + batch.len) as usize] {
            assert!(!seen[j as usize], "record {j} scheduled twice");
            seen[j as usize] = true;
            assert_eq!(r.batch[j as usize], b as i32);
            assert!(r.start[j as usize] >= inst.ready[j as usize]);
        }
    }
    let scheduled = seen.iter().filter(|&&x| x).count();
    assert!(scheduled as u64 <= opts.blanks + opts.blank_arrivals.iter().map(|a| a.1).sum::<u64>());
    assert!(
        s.makespan + 1e-6 >= s.lower_bound,
        "{} < {}",
        s.makespan,
        s.lower_bound
    );
}

#[test]
fn a_plan_after_other_plans_on_the_thread_is_the_same_plan() {
    // The working buffers kept between plans hold nothing of the last plan that counts.
    let (large, small) = (Instance::new(5_000, 40), Instance::new(700, 9));
    let printers = vec![printer(12.0, 18.0); 4];
    let opts = options(4_000);
    let first = plan(&large.jobs(), &printers, &opts).unwrap();
    let between = plan(&small.jobs(), &printers, &options(u64::MAX)).unwrap();
    check_invariants(&small, &printers, &options(u64::MAX), &between);
    assert_eq!(plan(&large.jobs(), &printers, &opts).unwrap(), first);
}

#[test]
fn plans_every_card_once_within_the_click_limit() {
    let inst = Instance::new(10_000, 68);
    let printers = vec![printer(12.0, 18.0); 6];
    let opts = options(u64::MAX);
    let s = plan(&inst.jobs(), &printers, &opts).unwrap();
    check_invariants(&inst, &printers, &opts, &s);
    assert!(s.reason.iter().all(|&r| r == reason::SCHEDULED));
    assert_eq!(s.order.len(), 10_000);
}

#[test]
fn makespan_is_within_two_percent_of_the_bound_at_a_thousand_cards_per_printer() {
    for (n, groups, printers) in [
        (6_000, 68, vec![printer(12.0, 18.0); 6]),
        (61_000, 68, vec![printer(12.0, 14.4); 6]),
        (
            12_000,
            2_000,
            (0..8)
                .map(|i| printer(10.0 + i as f64, 1.5 * (10.0 + i as f64)))
                .collect(),
        ),
    ] {
        let inst = Instance::new(n, groups);
        let opts = options(u64::MAX);
        let s = plan(&inst.jobs(), &printers, &opts).unwrap();
        check_invariants(&inst, &printers, &opts, &s);
        let ratio = s.makespan / s.lower_bound;
        assert!(ratio <= 1.02, "{n} cards: makespan / bound = {ratio}");
    }
}

#[test]
fn short_blank_stock_serves_the_most_urgent_class_first() {
    let inst = Instance::new(1_000, 10);
    let printers = vec![printer(12.0, 18.0); 2];
    let opts = options(400);
    let s = plan(&inst.jobs(), &printers, &opts).unwrap();
    check_invariants(&inst, &printers, &opts, &s);
    let served_max = (0..1_000)
        .filter(|&j| s.reason[j] == reason::SCHEDULED)
        .map(|j| inst.priority[j])
        .max()
        .unwrap();
    let refused_min = (0..1_000)
        .filter(|&j| s.reason[j] == reason::NO_BLANK)
        .map(|j| inst.priority[j])
        .min()
        .unwrap();
    assert!(served_max <= refused_min);
    assert_eq!(
        s.reason.iter().filter(|&&r| r == reason::NO_BLANK).count(),
        600
    );
}

#[test]
fn a_later_delivery_releases_cards_no_earlier_than_it_arrives() {
    let inst = Instance::new(500, 5);
    let printers = vec![printer(12.0, 18.0)];
    let mut opts = options(100);
    opts.blank_arrivals = vec![(50_000.0, 400)];
    let s = plan(&inst.jobs(), &printers, &opts).unwrap();
    check_invariants(&inst, &printers, &opts, &s);
    let start = s.by_record().start;
    let late = (0..500).filter(|&j| start[j] >= 50_000.0).count();
    assert_eq!(late, 400);
}

#[test]
fn a_ready_card_of_a_higher_class_never_starts_after_a_lower_one() {
    let inst = Instance::new(3_000, 40);
    let printers = vec![printer(12.0, 18.0); 3];
    let opts = options(u64::MAX);
    let s = plan(&inst.jobs(), &printers, &opts).unwrap();
    let batch = s.by_record().batch;
    for a in (0..3_000).step_by(7) {
        for b in (0..3_000).step_by(11) {
            if inst.priority[a] < inst.priority[b] {
                let (ba, bb) = (batch[a] as usize, batch[b] as usize);
                assert!(s.batches[ba].start <= s.batches[bb].start);
            }
        }
    }
}

#[test]
fn unknown_ready_times_and_missing_printers_are_reported() {
    let mut inst = Instance::new(10, 2);
    inst.ready[3] = f64::NAN;
    inst.ready[4] = f64::INFINITY;
    let s = plan(&inst.jobs(), &[], &options(u64::MAX)).unwrap();
    assert_eq!(s.reason[3], reason::NOT_READY);
    assert_eq!(s.reason[4], reason::NOT_READY);
    assert_eq!(s.reason[0], reason::NO_PRINTER);
    assert_eq!(s.makespan, 0.0);
}

#[test]
fn windows_are_honoured_and_the_overflow_has_no_printer() {
    let inst = Instance::new(1_000, 4);
    let mut p = printer(10.0, 10.0);
    p.windows = vec![(0.0, 3_600.0), (7_200.0, 10_800.0)];
    let printers = vec![p];
    let opts = options(u64::MAX);
    let s = plan(&inst.jobs(), &printers, &opts).unwrap();
    check_invariants(&inst, &printers, &opts, &s);
    let printed = s.reason.iter().filter(|&&r| r == reason::SCHEDULED).count();
    // Two hours of windows hold at most 720 ten-second cards, less the clicks and a ribbon change.
    assert!(printed > 600 && printed < 720, "{printed}");
    assert!(s
        .reason
        .iter()
        .all(|&r| r == reason::SCHEDULED || r == reason::NO_PRINTER));
}

#[test]
fn ribbon_changes_are_inserted_where_the_ribbon_runs_out() {
    let inst = Instance::new(1_200, 3);
    let mut p = printer(10.0, 10.0);
    p.ribbon_left = 50;
    let printers = vec![p];
    let opts = options(u64::MAX);
    let s = plan(&inst.jobs(), &printers, &opts).unwrap();
    let changes: Vec<u32> = s
        .batches
        .iter()
        .flat_map(|b| b.ribbon_changes.iter().map(move |&c| b.first + c))
        .collect();
    assert_eq!(changes, vec![50, 550, 1_050]);
    assert_eq!(s.ribbon_left[0], 350);
}

#[test]
fn touching_windows_merge_so_a_batch_runs_across_the_shift_change() {
    let inst = Instance::new(300, 1);
    let mut p = printer(10.0, 10.0);
    p.windows = vec![(0.0, 1_000.0), (1_000.0, 1e6)];
    let s = plan(&inst.jobs(), &[p], &options(u64::MAX)).unwrap();
    assert_eq!(s.batches.len(), 1);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let inst = Instance::new(3, 1);
    let mut p = printer(0.0, 1.0);
    let err = plan(&inst.jobs(), &[p.clone()], &options(1)).unwrap_err();
    assert!(err.to_string().contains("seconds per card"));
    p.one_sided_s = 1.0;
    p.windows = vec![(5.0, 1.0)];
    assert!(plan(&inst.jobs(), &[p], &options(1)).is_err());
    let mut opts = options(1);
    opts.click_limit = 0;
    assert!(plan(&inst.jobs(), &[printer(1.0, 1.0)], &opts).is_err());
    let short = Jobs {
        ready: &inst.ready[..2],
        ..inst.jobs()
    };
    assert!(plan(&short, &[printer(1.0, 1.0)], &options(1)).is_err());
}

#[test]
fn two_sided_cards_go_to_the_printers_relatively_best_at_them() {
    // Two models barely slowed by the back side, two that take more than twice as long.
    let printers = vec![
        printer(29.0, 30.7),
        printer(29.0, 65.0),
        printer(36.0, 37.9),
        printer(30.0, 72.0),
    ];
    let mut inst = Instance::new(8_000, 1);
    inst.priority = vec![0; 8_000];
    inst.two_sided = (0..8_000).map(|j| j % 2 == 0).collect();
    let opts = options(u64::MAX);
    let s = plan(&inst.jobs(), &printers, &opts).unwrap();
    check_invariants(&inst, &printers, &opts, &s);
    let ratio = s.makespan / s.lower_bound;
    assert!(ratio <= 1.02, "makespan / bound = {ratio}");
    let printer = s.by_record().printer;
    let share = |p: i32| {
        let mine: Vec<usize> = (0..8_000).filter(|&j| printer[j] == p).collect();
        mine.iter().filter(|&&j| inst.two_sided[j]).count() as f64 / mine.len() as f64
    };
    assert!(share(0).min(share(2)) > 0.6);
    assert!(share(1).max(share(3)) < 0.1);
}

#[test]
fn small_plans_searched_for_shorter_click_sizes_keep_every_rule() {
    // A few clicks per printer on fleets of different models, ribbons part used, three
    // classes: where the search runs. Every card once, limits, windows, ribbons, and the
    // priority rule at click level (no click holding a less urgent card starts before a
    // click holding a more urgent one); the same input gives the same plan.
    for seed in 0..40u64 {
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (seed * 0x2545_F491);
        let mut next = move |m: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        };
        let n = 20 + next(200) as usize;
        let mut inst = Instance::new(n, 1 + next(12) as u32);
        inst.priority = (0..n).map(|_| [0, 0, 0, 1, 2][next(5) as usize]).collect();
        let printers: Vec<PrinterSpec> = (0..2 + next(3))
            .map(|_| {
                let one = 15.0 + next(80) as f64;
                let capacity = 20 + next(60) as u32;
                PrinterSpec {
                    one_sided_s: one,
                    two_sided_s: one + next(60) as f64,
                    ribbon_capacity: capacity,
                    ribbon_left: next(u64::from(capacity) + 1) as u32,
                    ribbon_change_s: 120.0 + next(800) as f64,
                    free_at: next(300) as f64,
                    windows: vec![(0.0, 1e9)],
                }
            })
            .collect();
        let mut opts = options(u64::MAX);
        opts.click_limit = 10 + next(60) as u32;
        opts.click_overhead_s = 240.0;
        let s = plan(&inst.jobs(), &printers, &opts).unwrap();
        check_invariants(&inst, &printers, &opts, &s);
        assert_eq!(s.order.len(), n, "seed {seed}: every card planned");
        for (b, batch) in s.batches.iter().enumerate() {
            assert!(batch.start >= printers[batch.printer as usize].free_at);
            let cards = &s.order[batch.first as usize..(batch.first + batch.len) as usize];
            let worst = cards
                .iter()
                .map(|&j| inst.priority[j as usize])
                .max()
                .unwrap();
            for other in &s.batches {
                let theirs = &s.order[other.first as usize..(other.first + other.len) as usize];
                if theirs.iter().any(|&j| inst.priority[j as usize] < worst) {
                    assert!(
                        other.start <= batch.start + 1e-9,
                        "seed {seed}: batch {b} starts before a more urgent one"
                    );
                }
            }
            // Print order by group within a batch; one printer's batches do not overlap.
            assert!(cards
                .windows(2)
                .all(|w| inst.group[w[0] as usize] <= inst.group[w[1] as usize]));
        }
        for p in 0..printers.len() {
            let mut mine: Vec<&Batch> = s
                .batches
                .iter()
                .filter(|b| b.printer as usize == p)
                .collect();
            mine.sort_by(|a, b| a.start.total_cmp(&b.start));
            assert!(mine.windows(2).all(|w| w[0].end <= w[1].start + 1e-9));
        }
        assert_eq!(
            s,
            plan(&inst.jobs(), &printers, &opts).unwrap(),
            "seed {seed}"
        );
    }
}

#[test]
fn a_small_plan_puts_the_replacements_into_the_last_clicks_instead_of_clicks_of_their_own() {
    // Two printers, 60 cards with a fifth replacements, a click limit of 20: list scheduling
    // alone prints the replacements last in small clicks of their own, each paying the click
    // overhead; the search folds them into the printers' last clicks.
    let n = 60;
    let inst = Instance {
        ready: vec![0.0; n],
        priority: (0..n).map(|j| if j % 5 == 0 { 2 } else { 0 }).collect(),
        group: (0..n).map(|j| (j % 7) as u32).collect(),
        two_sided: (0..n).map(|j| j % 5 == 1 || j % 5 == 2).collect(),
    };
    let mut fast = printer(24.0, 90.0);
    let mut slow = printer(85.0, 95.0);
    (fast.ribbon_capacity, fast.ribbon_left, fast.ribbon_change_s) = (30, 12, 840.0);
    (slow.ribbon_capacity, slow.ribbon_left, slow.ribbon_change_s) = (36, 21, 600.0);
    let printers = vec![slow, fast];
    let mut opts = options(u64::MAX);
    (opts.click_limit, opts.click_overhead_s) = (20, 240.0);
    let s = plan(&inst.jobs(), &printers, &opts).unwrap();
    check_invariants(&inst, &printers, &opts, &s);
    let replacements_only = s
        .batches
        .iter()
        .filter(|b| {
            s.order[b.first as usize..(b.first + b.len) as usize]
                .iter()
                .all(|&j| inst.priority[j as usize] == 2)
        })
        .count();
    assert!(s.batches.len() <= 4, "{} clicks", s.batches.len());
    assert!(
        replacements_only <= 1,
        "{replacements_only} clicks of replacements alone"
    );
}
