//! Tables (CSV, Parquet) into a tabular [`Dataset`], in two streaming passes so memory is
//! the output matrix plus the categories, whatever the file size:
//!
//! 1. *Infer*: count rows, read labels and ids (or hash each row's content), and type each
//!    feature column: numeric when every value parses as a finite number, categorical when
//!    none does (a column mixing both is an error naming the first value that disagrees).
//! 2. *Fill*: check `rows x width` against the limit, allocate once, write the values.
//!
//! **Categorical encoding** is one-hot over the column's sorted distinct values (no order
//! is invented between categories), recorded in a [`TableEncoding`] that can be applied to
//! another table (e.g. a test split) to reproduce the same columns; a category the encoding
//! does not know is then an error. Missing values are errors: nothing is imputed silently.

use super::{content_ids, encode_labels, format_err, parse_id, ReadOptions};
use crate::{Dataset, Features, Modality, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// One table cell as a source delivers it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    Num(f64),
    Text(&'a str),
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    Missing,
}

/// A table that can be streamed, row by row, as often as needed.
pub(crate) trait RowSource {
    fn path(&self) -> &Path;
    fn header(&self) -> &[String];
    /// Calls `visit(locator, cells)` for every row in file order (`cells` has one entry per
    /// header column); the source checks the row's width.
    fn for_each_row(&mut self, visit: &mut dyn FnMut(u64, &[Cell]) -> Result<()>) -> Result<()>;
    /// What a locator counts in errors: `line` (CSV) or `row` (Parquet).
    fn unit(&self) -> &'static str;
}

/// How a table's columns became features and its label column became classes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableEncoding {
    /// The label column's name.
    pub label_column: String,
    /// Class names: label `i` is `classes[i]`.
    pub classes: Vec<String>,
    /// The id column's name, when ids came from one.
    pub id_column: Option<String>,
    /// Feature columns in output order.
    pub columns: Vec<ColumnEncoding>,
}

/// One feature column's encoding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnEncoding {
    /// One output feature: the value itself.
    Numeric { name: String },
    /// One output feature per category (sorted): 1 for the row's category, 0 elsewhere.
    OneHot {
        name: String,
        categories: Vec<String>,
    },
}

impl ColumnEncoding {
    pub fn name(&self) -> &str {
        match self {
            ColumnEncoding::Numeric { name } | ColumnEncoding::OneHot { name, .. } => name,
        }
    }

    fn width(&self) -> usize {
        match self {
            ColumnEncoding::Numeric { .. } => 1,
            ColumnEncoding::OneHot { categories, .. } => categories.len(),
        }
    }
}

impl TableEncoding {
    /// Number of output features.
    pub fn width(&self) -> usize {
        self.columns.iter().map(ColumnEncoding::width).sum()
    }
}

/// Per-column state of pass 1.
enum Kind {
    Unseen,
    Numeric,
    Categorical(BTreeSet<String>),
}

fn text_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

fn label_text(cell: Cell) -> Option<String> {
    match cell {
        Cell::Text(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
        Cell::Num(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 4e9 => {
            Some(format!("{}", x as u64))
        }
        Cell::Num(x) if x.is_finite() => Some(format!("{x}")),
        _ => None,
    }
}

/// Reads a table into a dataset and the encoding used (inferred, or `options.encoding`).
pub(crate) fn read_table(
    source: &mut dyn RowSource,
    options: &ReadOptions,
) -> Result<(Dataset, TableEncoding)> {
    let path = source.path().to_path_buf();
    let unit = source.unit();
    let header = source.header().to_vec();
    let limits = &options.limits;
    if header.len() > limits.max_columns {
        return Err(format_err(
            &path,
            format!(
                "{} columns, over the {}-column limit",
                header.len(),
                limits.max_columns
            ),
        ));
    }
    let recorded = options.encoding.as_ref();
    let position = |name: &str| header.iter().position(|h| h == name);
    let label_name = recorded.map_or(options.label_name(), |e| e.label_column.as_str());
    let label_col = position(label_name).ok_or_else(|| {
        let shown: Vec<&str> = header.iter().take(8).map(String::as_str).collect();
        format_err(
            &path,
            format!(
                "no label column '{label_name}' (columns: {}{}); choose one with --label-column",
                shown.join(", "),
                if header.len() > 8 { ", ..." } else { "" }
            ),
        )
    })?;
    let id_name = match (recorded, &options.id_column) {
        (Some(e), _) => e.id_column.clone(),
        (None, Some(name)) => Some(name.clone()),
        (None, None) => position("id").map(|_| "id".to_string()),
    };
    let id_col = match &id_name {
        Some(name) => Some(
            position(name).ok_or_else(|| format_err(&path, format!("no id column '{name}'")))?,
        ),
        None => None,
    };
    if id_col == Some(label_col) {
        return Err(format_err(
            &path,
            "the id column cannot be the label column",
        ));
    }
    let feature_cols: Vec<usize> = match recorded {
        Some(e) => {
            let cols = e
                .columns
                .iter()
                .map(|c| {
                    position(c.name()).ok_or_else(|| {
                        format_err(
                            &path,
                            format!("no column '{}' (recorded encoding)", c.name()),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if let Some(extra) = (0..header.len())
                .find(|i| *i != label_col && Some(*i) != id_col && !cols.contains(i))
            {
                return Err(format_err(
                    &path,
                    format!("column '{}' is not in the recorded encoding", header[extra]),
                ));
            }
            cols
        }
        None => (0..header.len())
            .filter(|&i| i != label_col && Some(i) != id_col)
            .collect(),
    };
    if feature_cols.is_empty() {
        return Err(format_err(&path, "no feature columns"));
    }

    // Pass 1: rows, labels, ids, column kinds.
    let mut kinds: Vec<Kind> = feature_cols.iter().map(|_| Kind::Unseen).collect();
    let mut labels_text: Vec<String> = Vec::new();
    let mut locators: Vec<u64> = Vec::new();
    let mut ids: Vec<u64> = Vec::new();
    let mut digests: Vec<[u8; 32]> = Vec::new();
    {
        let header = &header;
        let infer = recorded.is_none();
        let mut visit = |loc: u64, cells: &[Cell]| -> Result<()> {
            let at = |m: String| (loc, m);
            let fail = |(loc, m): (u64, String)| -> crate::DataError {
                format_err(&path, format!("{unit} {loc}: {m}"))
            };
            if locators.len() >= limits.max_samples {
                return Err(fail(at(format!(
                    "more than {} rows, over the limit",
                    limits.max_samples
                ))));
            }
            let label = label_text(cells[label_col])
                .ok_or_else(|| fail(at(format!("missing label in column '{label_name}'"))))?;
            labels_text.push(label);
            match id_col {
                Some(c) => {
                    let id = match cells[c] {
                        Cell::Text(t) => parse_id(t),
                        Cell::Num(x) if x >= 0.0 && x.fract() == 0.0 && x < 9e15 => Some(x as u64),
                        Cell::Num(x) if x.is_finite() => Some(super::hashed_id(&x.to_string())),
                        _ => None,
                    };
                    ids.push(id.ok_or_else(|| {
                        fail(at(format!("missing id in column '{}'", header[c])))
                    })?);
                }
                None => {
                    let mut h = Sha256::new();
                    for (i, cell) in cells.iter().enumerate() {
                        match cell {
                            Cell::Num(x) => h.update(
                                [b'n']
                                    .iter()
                                    .chain(&x.to_bits().to_le_bytes())
                                    .copied()
                                    .collect::<Vec<u8>>(),
                            ),
                            Cell::Text(t) => {
                                h.update(b"t");
                                h.update(t.trim().as_bytes());
                            }
                            Cell::Missing => h.update(b"m"),
                        }
                        h.update((i as u32).to_le_bytes());
                    }
                    digests.push(h.finalize().into());
                }
            }
            locators.push(loc);
            if !infer {
                return Ok(());
            }
            for (kind, &c) in kinds.iter_mut().zip(&feature_cols) {
                let name = &header[c];
                let numeric = match cells[c] {
                    Cell::Num(x) => Some(x),
                    Cell::Text(t) if t.trim().is_empty() => None,
                    Cell::Text(t) => text_number(t),
                    Cell::Missing => None,
                };
                let text = match cells[c] {
                    Cell::Text(t) if !t.trim().is_empty() => Some(t.trim()),
                    _ => None,
                };
                if numeric.is_none() && text.is_none() {
                    return Err(fail(at(format!("missing value in column '{name}'"))));
                }
                if let Some(x) = numeric.filter(|x| !x.is_finite()) {
                    return Err(fail(at(format!("non-finite value {x} in column '{name}'"))));
                }
                match (kind, numeric, text) {
                    (k @ Kind::Unseen, Some(_), _) => *k = Kind::Numeric,
                    (k @ Kind::Unseen, None, Some(t)) => {
                        *k = Kind::Categorical(BTreeSet::from([t.to_string()]))
                    }
                    (Kind::Numeric, Some(_), _) => {}
                    (Kind::Categorical(set), None, Some(t)) => {
                        if !set.contains(t) {
                            if set.len() >= limits.max_categories {
                                return Err(fail(at(format!(
                                    "column '{name}' has more than {} distinct text values (an id column? pass --id-column)",
                                    limits.max_categories
                                ))));
                            }
                            set.insert(t.to_string());
                        }
                    }
                    (_, _, Some(t)) => {
                        return Err(fail(at(format!(
                            "column '{name}' mixes numbers and text ('{}')",
                            t.chars().take(40).collect::<String>()
                        ))))
                    }
                    _ => unreachable!("a cell is numeric or text here"),
                }
            }
            Ok(())
        };
        source.for_each_row(&mut visit)?;
    }
    let n = locators.len();
    if n == 0 {
        return Err(format_err(&path, "no data rows"));
    }
    let ids = match id_col {
        Some(_) => ids,
        None => content_ids(&digests),
    };
    drop(digests);
    super::check_unique_ids(&path, &ids, |i| format!("{unit} {}", locators[i]))?;
    let label_refs: Vec<&str> = labels_text.iter().map(String::as_str).collect();
    let (labels, num_classes, classes) =
        encode_labels(&label_refs, recorded.map(|e| e.classes.as_slice()), limits)
            .map_err(|(i, m)| format_err(&path, format!("{unit} {}: {m}", locators[i])))?;
    drop(labels_text);
    let encoding = match recorded {
        Some(e) => e.clone(),
        None => TableEncoding {
            label_column: label_name.to_string(),
            classes: classes.clone(),
            id_column: id_name,
            columns: kinds
                .into_iter()
                .zip(&feature_cols)
                .map(|(kind, &c)| match kind {
                    Kind::Categorical(set) => ColumnEncoding::OneHot {
                        name: header[c].clone(),
                        categories: set.into_iter().collect(),
                    },
                    _ => ColumnEncoding::Numeric {
                        name: header[c].clone(),
                    },
                })
                .collect(),
        },
    };
    let width = encoding.width();
    if width > limits.max_columns {
        return Err(format_err(
            &path,
            format!(
                "{width} features after one-hot encoding, over the {}-column limit",
                limits.max_columns
            ),
        ));
    }
    if n.saturating_mul(width) > limits.max_values {
        return Err(format_err(
            &path,
            format!(
                "{n} rows x {width} features is over the {}-value limit",
                limits.max_values
            ),
        ));
    }

    // Pass 2: the values.
    let indexes: Vec<Option<HashMap<&str, usize>>> = encoding
        .columns
        .iter()
        .map(|c| match c {
            ColumnEncoding::OneHot { categories, .. } => Some(
                categories
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.as_str(), i))
                    .collect(),
            ),
            ColumnEncoding::Numeric { .. } => None,
        })
        .collect();
    let mut values: Vec<f32> = Vec::with_capacity(n * width);
    let mut row = 0usize;
    {
        let mut visit = |loc: u64, cells: &[Cell]| -> Result<()> {
            if row >= n {
                return Err(format_err(&path, "the file changed while it was read"));
            }
            row += 1;
            for ((enc, index), &c) in encoding.columns.iter().zip(&indexes).zip(&feature_cols) {
                let name = enc.name();
                let bad = |m: String| format_err(&path, format!("{unit} {loc}: {m}"));
                match (index, cells[c]) {
                    (None, cell) => {
                        let x = match cell {
                            Cell::Num(x) => Some(x),
                            Cell::Text(t) => text_number(t),
                            Cell::Missing => None,
                        }
                        .ok_or_else(|| {
                            bad(format!("non-numeric value in numeric column '{name}'"))
                        })?;
                        let v = x as f32;
                        if !v.is_finite() {
                            return Err(bad(format!(
                                "value {x:e} in column '{name}' is not a finite float32"
                            )));
                        }
                        values.push(v);
                    }
                    (Some(index), Cell::Text(t)) => {
                        let k = *index.get(t.trim()).ok_or_else(|| {
                            bad(format!(
                                "unknown category '{}' in column '{name}'",
                                t.trim().chars().take(40).collect::<String>()
                            ))
                        })?;
                        let start = values.len();
                        values.resize(start + index.len(), 0.0);
                        values[start + k] = 1.0;
                    }
                    (Some(_), _) => {
                        return Err(bad(format!(
                            "non-text value in categorical column '{name}'"
                        )))
                    }
                }
            }
            Ok(())
        };
        source.for_each_row(&mut visit)?;
    }
    if row != n {
        return Err(format_err(&path, "the file changed while it was read"));
    }
    let dataset = Dataset::new(
        Modality::Tabular { features: width },
        Features::Dense(values),
        labels,
        ids,
        num_classes,
        classes,
    )
    .map_err(|e| format_err(&path, e.to_string()))?;
    Ok((dataset, encoding))
}
