//! Turning the verified cache files of each built-in dataset into [`Dataset`]s.

use crate::fetch::{cached_corpus, cached_files};
use crate::registry::BuiltinDataset;
use crate::split::{stratified_indices, CANONICAL_SPLIT_SEED, CANONICAL_TEST_FRACTION};
use crate::{DataError, DataHome, Dataset, Features, Modality, Result, Split};

/// Per-feature standardisation `z = (x - mean) / std`, fitted on one dataset (the train
/// split) and applied to any other with the same features, as scikit-learn's
/// `StandardScaler` does: population standard deviation (`ddof = 0`), and a feature that is
/// constant in the fit data is only centred (its `std` is taken as 1).
///
/// ```
/// use mithridate_data::{standardize::Standardizer, Dataset, Features, Modality};
/// let d = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![1.0, 3.0]),
///     vec![0, 1], vec![0, 1], 2, vec![]).unwrap();
/// let s = Standardizer::fit(&d).unwrap();
/// assert_eq!((s.mean()[0], s.std()[0]), (2.0, 1.0));
/// assert_eq!(s.apply(&d).unwrap().dense_row(1).unwrap(), &[1.0]);
/// ```
pub mod standardize {
    use crate::{DataError, Dataset, Features, Result};

    #[derive(Debug, Clone, PartialEq)]
    pub struct Standardizer {
        mean: Vec<f32>,
        std: Vec<f32>,
    }

    impl Standardizer {
        /// Mean and population standard deviation of every feature of `fit_on` (accumulated
        /// in `f64`). Errors for text or empty datasets.
        pub fn fit(fit_on: &Dataset) -> Result<Standardizer> {
            let Features::Dense(values) = fit_on.features() else {
                return Err(DataError::invalid("cannot standardise token features"));
            };
            let d = fit_on.modality().sample_len();
            let n = fit_on.len();
            if n == 0 {
                return Err(DataError::invalid("cannot standardise an empty dataset"));
            }
            let mut mean = vec![0f64; d];
            for row in values.chunks_exact(d) {
                for (m, &v) in mean.iter_mut().zip(row) {
                    *m += v as f64;
                }
            }
            mean.iter_mut().for_each(|m| *m /= n as f64);
            let mut var = vec![0f64; d];
            for row in values.chunks_exact(d) {
                for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                    *s += (v as f64 - m).powi(2);
                }
            }
            let std = var
                .iter()
                .map(|s| {
                    let sd = (s / n as f64).sqrt();
                    if sd > 0.0 {
                        sd as f32
                    } else {
                        1.0
                    }
                })
                .collect();
            Ok(Standardizer {
                mean: mean.into_iter().map(|m| m as f32).collect(),
                std,
            })
        }

        pub fn mean(&self) -> &[f32] {
            &self.mean
        }

        /// Standard deviations used as divisors (1 for constant features).
        pub fn std(&self) -> &[f32] {
            &self.std
        }

        /// `data` with every feature standardised; ids, labels and names are kept.
        pub fn apply(&self, data: &Dataset) -> Result<Dataset> {
            let Features::Dense(values) = data.features() else {
                return Err(DataError::invalid("cannot standardise token features"));
            };
            let d = self.mean.len();
            if data.modality().sample_len() != d {
                return Err(DataError::invalid(format!(
                    "standardiser fitted on {d} features, data has {}",
                    data.modality().sample_len()
                )));
            }
            let scaled = values
                .chunks_exact(d)
                .flat_map(|row| {
                    row.iter()
                        .zip(&self.mean)
                        .zip(&self.std)
                        .map(|((&v, m), s)| (v - m) / s)
                })
                .collect();
            Dataset::new(
                data.modality().clone(),
                Features::Dense(scaled),
                data.labels().to_vec(),
                data.ids().to_vec(),
                data.num_classes(),
                data.class_names(),
            )
        }
    }
}

/// Loads `split` of a built-in dataset; `scale` standardises tabular features with the
/// train split's statistics.
pub(crate) fn load(
    home: &DataHome,
    dataset: &'static BuiltinDataset,
    split: Split,
    scale: bool,
) -> Result<Dataset> {
    let (train, test) = match dataset.name {
        "mnist" | "fashion-mnist" => idx_pair(home, dataset)?,
        "digits" => canonical(dataset, digits(home, dataset)?)?,
        "breast-cancer" => canonical(dataset, breast_cancer(home, dataset)?)?,
        "spambase" => canonical(dataset, spambase(home, dataset)?)?,
        "german-credit" => canonical(dataset, german_credit(home, dataset)?)?,
        "phishing" => canonical(dataset, phishing(home, dataset)?)?,
        "spamassassin" => {
            let docs = cached_corpus(home, dataset)?;
            return crate::spamassassin::dataset(&docs, dataset.class_names, split);
        }
        other => return Err(DataError::UnknownDataset(other.to_string())),
    };
    let is_tabular = matches!(train.modality(), Modality::Tabular { .. });
    let chosen = match split {
        Split::Train => &train,
        Split::Test => &test,
    };
    if scale && is_tabular {
        standardize::Standardizer::fit(&train)?.apply(chosen)
    } else {
        Ok(match split {
            Split::Train => train,
            Split::Test => test,
        })
    }
}

fn names(dataset: &BuiltinDataset) -> Vec<String> {
    dataset.class_names.iter().map(|s| s.to_string()).collect()
}

/// Splits a full dataset (rows in source order) into the canonical stratified train/test
/// parts and renumbers ids: train rows `0..n_train`, then test rows, each in source order.
pub(crate) fn canonical(dataset: &BuiltinDataset, full: Dataset) -> Result<(Dataset, Dataset)> {
    let (train_rows, test_rows) = stratified_indices(
        full.labels(),
        full.num_classes(),
        CANONICAL_TEST_FRACTION,
        CANONICAL_SPLIT_SEED,
    )?;
    let renumber = |rows: &[usize], first_id: u64| -> Result<Dataset> {
        let part = full.select(rows)?;
        let vocabulary = part.vocabulary().map(<[String]>::to_vec);
        let (modality, features, labels, _, k, _) = part.into_parts();
        let ids = (first_id..first_id + rows.len() as u64).collect();
        let renumbered = Dataset::new(modality, features, labels, ids, k, names(dataset))?;
        match vocabulary {
            Some(v) => renumbered.with_vocabulary(v),
            None => Ok(renumbered),
        }
    };
    let train = renumber(&train_rows, 0)?;
    let test = renumber(&test_rows, train_rows.len() as u64)?;
    Ok((train, test))
}

/// (Fashion-)MNIST: the official train and test IDX files.
fn idx_pair(home: &DataHome, dataset: &'static BuiltinDataset) -> Result<(Dataset, Dataset)> {
    let files = cached_files(home, dataset)?;
    let crate::registry::CacheLayout::Files { files: meta } = dataset.layout else {
        return Err(DataError::invalid("IDX datasets have a fixed file list"));
    };
    let part = |images: usize, labels: usize, first_id: u64| -> Result<Dataset> {
        let images = crate::idx::images_and_labels(
            meta[images].name,
            &files[images],
            meta[labels].name,
            &files[labels],
            dataset.classes,
        )?;
        Dataset::new(
            Modality::Image {
                channels: 1,
                height: images.rows,
                width: images.cols,
            },
            Features::Dense(images.pixels),
            images.labels,
            (first_id..first_id + images.n as u64).collect(),
            dataset.classes,
            names(dataset),
        )
    };
    let train = part(0, 1, 0)?;
    let test = part(2, 3, train.len() as u64)?;
    Ok((train, test))
}

fn csv_err(file: &str, line: usize, message: impl std::fmt::Display) -> DataError {
    DataError::Format {
        path: file.into(),
        message: format!("line {line}: {message}"),
    }
}

/// Parses comma-separated numeric rows of exactly `columns` values, the last one an integer
/// label `< classes`. Returns (features row-major, labels).
pub(crate) fn parse_numeric_csv(
    file: &str,
    text: &str,
    skip_lines: usize,
    columns: usize,
    classes: usize,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().skip(skip_lines) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != columns {
            return Err(csv_err(
                file,
                i + 1,
                format!("{} columns, expected {columns}", cells.len()),
            ));
        }
        for cell in &cells[..columns - 1] {
            let v: f32 = cell
                .parse()
                .map_err(|_| csv_err(file, i + 1, format!("'{cell}' is not a number")))?;
            if !v.is_finite() {
                return Err(csv_err(file, i + 1, format!("non-finite value '{cell}'")));
            }
            features.push(v);
        }
        let label_cell = cells[columns - 1];
        let label: u32 = label_cell.parse().map_err(|_| {
            csv_err(
                file,
                i + 1,
                format!("label '{label_cell}' is not a class index"),
            )
        })?;
        if label as usize >= classes {
            return Err(csv_err(
                file,
                i + 1,
                format!("label {label} is not below {classes}"),
            ));
        }
        labels.push(label);
    }
    Ok((features, labels))
}

fn text_of<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| DataError::Format {
        path: file.into(),
        message: "not UTF-8 text".into(),
    })
}

/// scikit-learn's `digits.csv`: 64 pixel columns (0..16) and the label; pixels scaled by 1/16.
fn digits(home: &DataHome, dataset: &'static BuiltinDataset) -> Result<Dataset> {
    let files = cached_files(home, dataset)?;
    let (pixels, labels) =
        parse_numeric_csv("digits.csv", text_of("digits.csv", &files[0])?, 0, 65, 10)?;
    if let Some(p) = pixels.iter().find(|&&p| !(0.0..=16.0).contains(&p)) {
        return Err(DataError::Format {
            path: "digits.csv".into(),
            message: format!("pixel value {p} outside 0..16"),
        });
    }
    let n = labels.len();
    Dataset::new(
        Modality::Image {
            channels: 1,
            height: 8,
            width: 8,
        },
        Features::Dense(pixels.into_iter().map(|p| p / 16.0).collect()),
        labels,
        (0..n as u64).collect(),
        10,
        names(dataset),
    )
}

/// scikit-learn's `breast_cancer.csv`: header `569,30,malignant,benign`, then 30 features and
/// the target (0 = malignant, 1 = benign, as in `load_breast_cancer`).
fn breast_cancer(home: &DataHome, dataset: &'static BuiltinDataset) -> Result<Dataset> {
    const FILE: &str = "breast_cancer.csv";
    let files = cached_files(home, dataset)?;
    let text = text_of(FILE, &files[0])?;
    let header = text.lines().next().unwrap_or_default().trim();
    if header != "569,30,malignant,benign" {
        return Err(csv_err(FILE, 1, format!("unexpected header '{header}'")));
    }
    let (features, labels) = parse_numeric_csv(FILE, text, 1, 31, 2)?;
    let n = labels.len();
    Dataset::new(
        Modality::Tabular { features: 30 },
        Features::Dense(features),
        labels,
        (0..n as u64).collect(),
        2,
        names(dataset),
    )
}

/// kernlab's `spam` data frame: 57 numeric columns and the factor `type` (nonspam/spam).
fn spambase(home: &DataHome, dataset: &'static BuiltinDataset) -> Result<Dataset> {
    let files = cached_files(home, dataset)?;
    let frame = crate::rdata::read_data_frame("spam.rda", &files[0], "spam")?;
    let label_column = frame
        .columns
        .iter()
        .position(|c| c.name == "type")
        .ok_or_else(|| crate::rdata::format_err("spam.rda", "no column 'type'"))?;
    let crate::rdata::Column {
        values: crate::rdata::ColumnValues::Factor { codes, levels },
        ..
    } = &frame.columns[label_column]
    else {
        return Err(crate::rdata::format_err(
            "spam.rda",
            "column 'type' is not a factor",
        ));
    };
    // Map levels by name so a reordering of factor levels cannot flip the labels.
    let class_of = |level: &str| dataset.class_names.iter().position(|c| *c == level);
    let level_class: Vec<usize> = levels
        .iter()
        .map(|l| {
            class_of(l).ok_or_else(|| {
                crate::rdata::format_err("spam.rda", format!("unexpected level '{l}' of 'type'"))
            })
        })
        .collect::<Result<_>>()?;
    let labels: Vec<u32> = codes.iter().map(|&c| level_class[c] as u32).collect();
    let numeric: Vec<&Vec<f64>> = frame
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != label_column)
        .map(|(_, c)| match &c.values {
            crate::rdata::ColumnValues::Real(v) => Ok(v),
            _ => Err(crate::rdata::format_err(
                "spam.rda",
                format!("column '{}' is not numeric", c.name),
            )),
        })
        .collect::<Result<_>>()?;
    let d = numeric.len();
    if d != dataset.features {
        return Err(crate::rdata::format_err(
            "spam.rda",
            format!("{d} numeric columns, expected {}", dataset.features),
        ));
    }
    let n = labels.len();
    let mut features = Vec::with_capacity(n * d);
    for row in 0..n {
        for column in &numeric {
            features.push(column[row] as f32);
        }
    }
    Dataset::new(
        Modality::Tabular { features: d },
        Features::Dense(features),
        labels,
        (0..n as u64).collect(),
        2,
        names(dataset),
    )
}

/// Weka's `credit-g.arff` through the ARFF reader: the header's declared order gives the
/// columns (numeric attributes as they are, nominal ones one-hot in declared order) and the
/// classes (`good` = 0, `bad` = 1), so nothing depends on which values the rows contain.
fn german_credit(home: &DataHome, dataset: &'static BuiltinDataset) -> Result<Dataset> {
    const FILE: &str = "credit-g.arff";
    let files = cached_files(home, dataset)?;
    let (data, encoding) = crate::arff::parse(FILE, &files[0])?;
    let bad = |message: String| DataError::Format {
        path: FILE.into(),
        message,
    };
    if encoding.classes != dataset.class_names {
        return Err(bad(format!(
            "classes {:?}, expected good/bad",
            encoding.classes
        )));
    }
    if encoding.width() != dataset.features || encoding.columns.len() != 20 {
        return Err(bad(format!(
            "{} attributes -> {} features, expected 20 -> {}",
            encoding.columns.len(),
            encoding.width(),
            dataset.features
        )));
    }
    Ok(data)
}

/// river's `phishing.csv`: a header naming 9 features (seven in {0, 0.5, 1}, two 0/1
/// flags) and `is_phishing` (1 = phishing) last.
fn phishing(home: &DataHome, dataset: &'static BuiltinDataset) -> Result<Dataset> {
    const FILE: &str = "phishing.csv";
    const HEADER: &str = "empty_server_form_handler,popup_window,https,request_from_other_domain,\
                          anchor_from_other_domain,is_popular,long_url,age_of_domain,ip_in_url,\
                          is_phishing";
    let files = cached_files(home, dataset)?;
    let text = text_of(FILE, &files[0])?;
    let header = text.lines().next().unwrap_or_default().trim();
    if header != HEADER {
        return Err(csv_err(FILE, 1, format!("unexpected header '{header}'")));
    }
    let (features, labels) = parse_numeric_csv(FILE, text, 1, 10, 2)?;
    let n = labels.len();
    Dataset::new(
        Modality::Tabular { features: 9 },
        Features::Dense(features),
        labels,
        (0..n as u64).collect(),
        2,
        names(dataset),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parser_rejects_bad_rows() {
        let ok = parse_numeric_csv("f", "1,2,0\n3,4,1\n", 0, 3, 2).unwrap();
        assert_eq!(ok, (vec![1.0, 2.0, 3.0, 4.0], vec![0, 1]));
        let e = |t: &str| parse_numeric_csv("f", t, 0, 3, 2).unwrap_err().to_string();
        assert!(e("1,2\n").contains("line 1: 2 columns"));
        assert!(e("1,x,0\n").contains("'x' is not a number"));
        assert!(e("1,2,5\n").contains("label 5 is not below 2"));
        assert!(e("1,2,-1\n").contains("not a class index"));
        assert!(e("1,inf,0\n").contains("non-finite"));
    }

    #[test]
    fn standardizer_uses_train_statistics() {
        use standardize::Standardizer;
        let train = Dataset::new(
            Modality::Tabular { features: 2 },
            Features::Dense(vec![0.0, 5.0, 2.0, 5.0, 4.0, 5.0]),
            vec![0, 1, 0],
            vec![0, 1, 2],
            2,
            vec![],
        )
        .unwrap();
        let s = Standardizer::fit(&train).unwrap();
        // mean 2, population std sqrt(8/3); constant column: std taken as 1.
        assert_eq!(s.mean(), &[2.0, 5.0]);
        assert!((s.std()[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.std()[1], 1.0);
        let test = Dataset::new(
            Modality::Tabular { features: 2 },
            Features::Dense(vec![2.0, 6.0]),
            vec![1],
            vec![7],
            2,
            vec![],
        )
        .unwrap();
        let z = s.apply(&test).unwrap();
        assert_eq!(z.dense_row(0).unwrap(), &[0.0, 1.0]);
        assert_eq!(z.ids(), &[7]);
    }
}
