//! Printer working windows: the staffed shifts, day by day, less downtime and within the
//! periods a printer is available, as `[start, end)` seconds from the plan's origin.
//!
//! The Python layer turns datetimes and shift times into seconds (WIB keeps no daylight
//! saving: every day is 86,400 s and shifts are fixed offsets); the windows are built here.

/// A staffed shift as offsets from midnight: `finish > begin` (a shift past midnight ends
/// after 86,400 s).
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftSpan {
    pub begin: f64,
    pub finish: f64,
    /// Weekdays the shift runs (bit `d` for Monday = 0 .. Sunday = 6).
    pub weekdays: u8,
    /// How many printers the staff can run (`None`: all of them).
    pub printers: Option<u32>,
}

/// Every weekday.
pub const ALL_WEEKDAYS: u8 = 0x7f;

/// One printer's own limits: its speed (the fastest run first when a shift cannot run them
/// all), its downtime and, when given, the only periods it may work.
#[derive(Clone, Debug, PartialEq)]
pub struct Availability {
    pub two_sided_s: f64,
    pub down: Vec<(f64, f64)>,
    pub only: Option<Vec<(f64, f64)>>,
}

/// Where the staffed days start: the plan's start `t0`, the midnight (WIB) of the day before
/// it, and that day's weekday.
#[derive(Clone, Debug, PartialEq)]
pub struct Staffing {
    pub spans: Vec<ShiftSpan>,
    pub t0: f64,
    pub midnight: f64,
    pub first_weekday: u32,
    /// Whether every printer is staffed every hour of every day (the Python layer decides):
    /// then one stretch from the start to the last shift's end, less downtime.
    pub around_the_clock: bool,
}

/// Each printer's working windows over `days` days from the start: the staffed shifts, the
/// fastest printers first when a shift cannot run them all, less downtime, within the periods
/// a printer is available; sorted and merged.
pub fn windows(printers: &[Availability], staffing: &Staffing, days: u32) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new(); printers.len()];
    let pieces_of = |i: usize, lo: f64, hi: f64| {
        let p = &printers[i];
        let pieces = subtract(vec![(lo, hi)], &p.down);
        match &p.only {
            Some(allowed) => intersect(&pieces, allowed),
            None => pieces,
        }
    };
    let spans = &staffing.spans;
    if !spans.is_empty() && staffing.around_the_clock {
        let hi = spans
            .iter()
            .map(|s| staffing.midnight + f64::from(days) * 86_400.0 + s.finish)
            .fold(f64::NEG_INFINITY, f64::max);
        for (i, w) in out.iter_mut().enumerate() {
            *w = pieces_of(i, staffing.t0, hi);
            sort(w);
            *w = merge(w);
        }
        return out;
    }
    let mut speed_order: Vec<usize> = (0..printers.len()).collect();
    speed_order.sort_by(|&a, &b| {
        printers[a]
            .two_sided_s
            .total_cmp(&printers[b].two_sided_s)
            .then(a.cmp(&b))
    });
    for d in 0..=days {
        let weekday = (staffing.first_weekday + d) % 7;
        let day = staffing.midnight + f64::from(d) * 86_400.0;
        for s in spans {
            if s.weekdays & (1 << weekday) == 0 {
                continue;
            }
            let lo = (day + s.begin).max(staffing.t0);
            let hi = day + s.finish;
            if hi <= lo {
                continue;
            }
            let capacity = s.printers.map_or(printers.len(), |k| k as usize);
            let mut running = 0;
            for &i in &speed_order {
                if running >= capacity {
                    break;
                }
                let pieces = pieces_of(i, lo, hi);
                if pieces.is_empty() {
                    continue;
                }
                out[i].extend(pieces);
                running += 1;
            }
        }
    }
    out.iter_mut()
        .map(|w| {
            sort(w);
            merge(w)
        })
        .collect()
}

fn sort(windows: &mut [(f64, f64)]) {
    windows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
}

fn subtract(mut windows: Vec<(f64, f64)>, holes: &[(f64, f64)]) -> Vec<(f64, f64)> {
    for &(h0, h1) in holes {
        let mut cut = Vec::with_capacity(windows.len() + 1);
        for (a, b) in windows {
            if h1 <= a || h0 >= b {
                cut.push((a, b));
                continue;
            }
            if a < h0 {
                cut.push((a, h0));
            }
            if h1 < b {
                cut.push((h1, b));
            }
        }
        windows = cut;
    }
    windows
}

fn intersect(windows: &[(f64, f64)], allowed: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for &(a, b) in windows {
        for &(c, d) in allowed {
            if a.max(c) < b.min(d) {
                out.push((a.max(c), b.min(d)));
            }
        }
    }
    out
}

fn merge(windows: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(windows.len());
    for &(a, b) in windows {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day_and_night() -> Vec<ShiftSpan> {
        vec![
            ShiftSpan {
                begin: 8.0 * 3600.0,
                finish: 20.0 * 3600.0,
                weekdays: ALL_WEEKDAYS,
                printers: None,
            },
            ShiftSpan {
                begin: 20.0 * 3600.0,
                finish: 32.0 * 3600.0,
                weekdays: ALL_WEEKDAYS,
                printers: None,
            },
        ]
    }

    #[test]
    fn around_the_clock_equals_the_day_by_day_union() {
        let spans = day_and_night();
        let printers = vec![
            Availability {
                two_sided_s: 36.0,
                down: vec![(20_000.0, 30_000.0)],
                only: None,
            },
            Availability {
                two_sided_s: 40.0,
                down: vec![],
                only: Some(vec![(50_000.0, 90_000.0), (100_000.0, 110_000.0)]),
            },
        ];
        let mut staffing = Staffing {
            spans,
            t0: 3600.0,
            midnight: -86_400.0 - 8.0 * 3600.0,
            first_weekday: 0,
            around_the_clock: true,
        };
        let fast = windows(&printers, &staffing, 6);
        staffing.around_the_clock = false;
        assert_eq!(windows(&printers, &staffing, 6), fast);
        assert_eq!(fast[0].len(), 2);
        assert_eq!(fast[1], vec![(50_000.0, 90_000.0), (100_000.0, 110_000.0)]);
    }

    #[test]
    fn a_short_staffed_shift_runs_the_fastest_printers() {
        let spans = vec![ShiftSpan {
            begin: 8.0 * 3600.0,
            finish: 20.0 * 3600.0,
            weekdays: 0b001_1111,
            printers: Some(1),
        }];
        let slow = Availability {
            two_sided_s: 60.0,
            down: vec![],
            only: None,
        };
        let fast = Availability {
            two_sided_s: 30.0,
            ..slow.clone()
        };
        let staffing = Staffing {
            spans,
            t0: 0.0,
            midnight: -86_400.0,
            first_weekday: 6, // the day before the start is a Sunday
            around_the_clock: false,
        };
        let w = windows(&[slow, fast], &staffing, 7);
        assert!(w[0].is_empty());
        // Days 0 to 7 from a Sunday: Monday to Friday.
        assert_eq!(w[1].len(), 5);
        assert_eq!(w[1][0], (8.0 * 3600.0, 20.0 * 3600.0));
    }
}
