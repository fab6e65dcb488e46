//! Bindings of demographic dedup (`crate::dedup::people`): records arrive as a dict of
//! columns, candidate pairs and scores leave as numpy columns.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::dedup::people::{self, Config, People, Prepared, Weights, RULE_COUNT};
use crate::error::EktpError;

type PeopleMatches<'py> = (
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<f32>>,
    Vec<Bound<'py, PyArray1<u8>>>,
    Bound<'py, PyArray1<i64>>,
    usize,
    Vec<(&'static str, usize)>,
);

fn people_config(
    weights: Vec<f64>,
    threshold: f64,
    max_block: usize,
    window: usize,
) -> PyResult<Config> {
    let w: [f64; 19] = weights.try_into().map_err(|w: Vec<f64>| {
        EktpError::InvalidArgument(format!("expected 19 weights, got {}", w.len()))
    })?;
    let weights = Weights {
        name: [w[0], w[1], w[2], w[3]],
        name_frequency_offset: w[4],
        birth: [w[5], w[6], w[7], w[8], w[9]],
        birth_placeholder: w[10],
        sex: [w[11], w[12]],
        place: [w[13], w[14], w[15]],
        mother: [w[16], w[17], w[18]],
    };
    Ok(Config {
        weights,
        threshold,
        max_block,
        window,
    })
}

/// People records as the Python layer hands them over: a dict of columns (names, birth,
/// sex, places, mothers, niks).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct PeopleColumns<'py> {
    names: Vec<Option<String>>,
    birth: PyReadonlyArray1<'py, i64>,
    sex: PyReadonlyArray1<'py, u8>,
    places: Vec<Option<String>>,
    mothers: Vec<Option<String>>,
    niks: PyReadonlyArray1<'py, i64>,
}

impl PeopleColumns<'_> {
    /// Borrows the columns as the core's records; numpy columns must be contiguous.
    fn people(&self) -> PyResult<People<'_>> {
        Ok(People {
            name: &self.names,
            birth: self.birth.as_slice()?,
            sex: self.sex.as_slice()?,
            place: &self.places,
            mother: &self.mothers,
            nik: self.niks.as_slice()?,
        })
    }
}

fn prepare_people(py: Python<'_>, c: &PeopleColumns<'_>) -> PyResult<Vec<Prepared>> {
    let records = c.people()?;
    Ok(py.detach(|| people::prepare(&records))?)
}

type PeopleKeys<'py> = (
    Vec<Bound<'py, PyArray1<i64>>>,
    Vec<Bound<'py, PyArray1<bool>>>,
    Vec<String>,
);
type PeopleBlock<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Vec<usize>,
);
type PeopleScores<'py> = (
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<f32>>,
    Vec<Bound<'py, PyArray1<u8>>>,
);

/// Blocking keys of every rule (`u64` as `int64`), whether each applies, and the name keys.
#[pyfunction]
pub fn people_keys<'py>(py: Python<'py>, columns: PeopleColumns<'py>) -> PyResult<PeopleKeys<'py>> {
    let records = prepare_people(py, &columns)?;
    let mut keys = Vec::new();
    let mut present = Vec::new();
    for rule in 0..RULE_COUNT {
        let k = py.detach(|| people::rule_keys(&records, rule));
        present.push(
            k.iter()
                .map(Option::is_some)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        );
        keys.push(
            k.iter()
                .map(|k| k.unwrap_or(0) as i64)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        );
    }
    Ok((keys, present, records.into_iter().map(|r| r.key).collect()))
}

/// Candidate pairs of one blocking rule among records (given in ascending `rows` order):
/// `(left_rows, right_rows, oversized group sizes)`.
#[pyfunction]
pub fn people_block<'py>(
    py: Python<'py>,
    columns: PeopleColumns<'py>,
    rows: PyReadonlyArray1<'py, i64>,
    rule: usize,
    max_block: usize,
    window: usize,
) -> PyResult<PeopleBlock<'py>> {
    if rule >= RULE_COUNT {
        return Err(EktpError::InvalidArgument(format!("no blocking rule {rule}")).into());
    }
    let records = prepare_people(py, &columns)?;
    let rows = rows.as_slice()?;
    let config = Config {
        max_block,
        window,
        ..Config::default()
    };
    let (pairs, oversized) = py.detach(|| {
        let keyed = people::rule_keys(&records, rule)
            .into_iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| (k, i as u32)))
            .collect();
        people::group_pairs(keyed, &records, rule, &config)
    });
    let left: Vec<i64> = pairs.iter().map(|p| rows[(p >> 32) as usize]).collect();
    let right: Vec<i64> = pairs
        .iter()
        .map(|p| rows[(p & 0xFFFF_FFFF) as usize])
        .collect();
    Ok((
        left.into_pyarray(py),
        right.into_pyarray(py),
        oversized.iter().map(|o| o.size).collect(),
    ))
}

/// Scores candidate pairs given both sides' records: `(keep, score, levels)`. `frequency[k]`
/// is how many of all `records` records share the left record's name key.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn people_score<'py>(
    py: Python<'py>,
    left: PeopleColumns<'py>,
    right: PeopleColumns<'py>,
    frequency: PyReadonlyArray1<'py, i64>,
    records: u64,
    weights: Vec<f64>,
    threshold: f64,
) -> PyResult<PeopleScores<'py>> {
    use rayon::prelude::*;
    let config = people_config(weights, threshold, 0, 0)?;
    let (a, b) = (prepare_people(py, &left)?, prepare_people(py, &right)?);
    let frequency = frequency.as_slice()?;
    if a.len() != b.len() || frequency.len() != a.len() {
        return Err(EktpError::InvalidArgument("pair columns differ in length".into()).into());
    }
    let scored: Vec<Option<(f32, [u8; 5])>> = py.detach(|| {
        (0..a.len())
            .into_par_iter()
            .map(|k| {
                let w = people::exact_name_weight(&config.weights, frequency[k] as u64, records);
                people::score_pair(&a[k], &b[k], w, &config)
            })
            .collect()
    });
    let keep: Vec<bool> = scored.iter().map(Option::is_some).collect();
    let score: Vec<f32> = scored.iter().map(|s| s.map_or(0.0, |s| s.0)).collect();
    let levels = (0..5)
        .map(|f| {
            scored
                .iter()
                .map(|s| s.map_or(0, |s| s.1[f]))
                .collect::<Vec<u8>>()
                .into_pyarray(py)
        })
        .collect();
    Ok((keep.into_pyarray(py), score.into_pyarray(py), levels))
}

/// The blocking rules' names, in rule order.
#[pyfunction]
pub fn people_rule_names() -> Vec<&'static str> {
    (0..RULE_COUNT).map(people::rule_name).collect()
}

/// Connected components of matched pairs: per record, the smallest index of its cluster.
#[pyfunction]
pub fn people_clusters<'py>(
    py: Python<'py>,
    n: usize,
    left: PyReadonlyArray1<'py, u32>,
    right: PyReadonlyArray1<'py, u32>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (l, r) = (left.as_slice()?, right.as_slice()?);
    if l.iter().chain(r).any(|&i| i as usize >= n) || l.len() != r.len() {
        return Err(EktpError::InvalidArgument("pair indices out of range".into()).into());
    }
    Ok(py.detach(|| people::clusters(n, l, r)).into_pyarray(py))
}

/// Demographic matches: `(left, right, score, levels, cluster, candidates, oversized)`.
/// `weights` is flat: name 4, name frequency offset 1, birth 5, birth placeholder 1, sex 2,
/// place 3, mother 3.
#[pyfunction]
pub fn find_people_matches<'py>(
    py: Python<'py>,
    columns: PeopleColumns<'py>,
    weights: Vec<f64>,
    threshold: f64,
    max_block: usize,
    window: usize,
) -> PyResult<PeopleMatches<'py>> {
    let config = people_config(weights, threshold, max_block, window)?;
    let records = columns.people()?;
    let m = py.detach(|| people::find_matches(&records, &config))?;
    Ok((
        m.left.into_pyarray(py),
        m.right.into_pyarray(py),
        m.score.into_pyarray(py),
        m.levels.into_iter().map(|l| l.into_pyarray(py)).collect(),
        m.cluster.into_pyarray(py),
        m.candidates,
        m.oversized.into_iter().map(|o| (o.rule, o.size)).collect(),
    ))
}

/// The default weights, flat in the order `find_people_matches` takes them.
#[pyfunction]
pub fn default_match_weights() -> Vec<f64> {
    let w = Weights::default();
    [
        &w.name[..],
        &[w.name_frequency_offset],
        &w.birth,
        &[w.birth_placeholder],
        &w.sex,
        &w.place,
        &w.mother,
    ]
    .concat()
}
