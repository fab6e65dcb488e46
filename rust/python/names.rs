//! Bindings of Indonesian name parsing (`crate::names`): one name, or a column of them spread
//! over the cores with the GIL released.

use pyo3::prelude::*;

use crate::names;

/// `(canonical, key, titles, patronym)` of one name.
#[pyfunction]
pub fn parse_name(name: &str) -> (String, String, Vec<String>, String) {
    let p = names::parse_name(name);
    (p.canonical, p.key, p.titles, p.patronym)
}

/// Canonical forms (or sorted keys, with `key=True`) of many names; `None` stays `None`.
#[pyfunction]
#[pyo3(signature = (items, key=false))]
pub fn normalize_names(
    items: Vec<Option<String>>,
    key: bool,
    py: Python<'_>,
) -> Vec<Option<String>> {
    py.detach(|| {
        use rayon::prelude::*;
        items
            .par_iter()
            .with_min_len(1024)
            .map(|n| {
                n.as_deref().map(|n| {
                    let p = names::parse_name(n);
                    if key {
                        p.key
                    } else {
                        p.canonical
                    }
                })
            })
            .collect()
    })
}
