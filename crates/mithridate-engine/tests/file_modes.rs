//! Models and their cards are shared outputs: written 0644 through the one atomic writer,
//! with nothing left behind in the directory.

#![cfg(unix)]

use mithridate_data::Modality;
use mithridate_engine::{Architecture, Classifier, ModelCard};
use std::os::unix::fs::PermissionsExt;

#[test]
fn model_and_card_are_0644() {
    let modality = Modality::Tabular { features: 3 };
    let model = Classifier::new(Architecture::LogReg, &modality, 2, 7).unwrap();
    let card = ModelCard::describe(&model, "fixture", 7, None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    model.save(&path, &card).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o644);
    assert_eq!(mode(&dir.path().join("m.safetensors.json")), 0o644);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    let (back, _) = Classifier::load(&path).unwrap();
    assert_eq!(
        back.flat_parameters().unwrap(),
        model.flat_parameters().unwrap()
    );
}
