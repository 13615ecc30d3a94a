//! Regression tests for model files found unsafe while building the fuzz harnesses
//! (`crates/mithridate-fuzz`, target `model`): a card is checked against the weights file
//! before the model it describes is built, so a forged card cannot make `load` allocate
//! without bound or overflow computing tensor shapes.

use mithridate_engine::Classifier;
use std::path::Path;

fn load_err(card: &str, weights: &[u8]) -> String {
    Classifier::load_bytes(Path::new("m.safetensors"), card.as_bytes(), weights)
        .unwrap_err()
        .to_string()
}

fn card(architecture: &str, modality: &str, num_classes: u64) -> String {
    format!(
        r#"{{"architecture": "{architecture}", "modality": {modality}, "num_classes": {num_classes},
            "dataset": "d", "seed": 0, "train": null, "metrics": {{}}, "engine": "0"}}"#
    )
}

#[test]
fn a_card_larger_than_its_weights_is_refused_before_building_the_model() {
    // A valid, empty 64-byte safetensors file: the header `{}` padded with spaces.
    let mut tiny = 56u64.to_le_bytes().to_vec();
    tiny.extend(format!("{:<56}", "{}").bytes());
    // A trillion features: building the model would allocate 4 TB.
    let e = load_err(
        &card(
            "logreg",
            r#"{"kind": "tabular", "features": 1000000000000}"#,
            2,
        ),
        &tiny,
    );
    assert!(
        e.contains("needs more weights than the 64-byte weights file holds"),
        "{e}"
    );
    // Classes, vocabularies and pixels are bounded the same way.
    for c in [
        card("mlp", r#"{"kind": "tabular", "features": 2}"#, 1 << 40),
        card(
            "text",
            r#"{"kind": "text", "max_len": 4, "vocab_size": 1000000000000}"#,
            2,
        ),
        card(
            "cnn",
            r#"{"kind": "image", "channels": 1, "height": 4000000, "width": 4000000}"#,
            2,
        ),
    ] {
        assert!(load_err(&c, &tiny).contains("needs more weights"), "{c}");
    }
    // channels x height x width overflowing usize is an error, not an overflow panic.
    let huge = u64::MAX / 2;
    let e = load_err(
        &card(
            "logreg",
            &format!(r#"{{"kind": "image", "channels": {huge}, "height": {huge}, "width": 3}}"#),
            2,
        ),
        &tiny,
    );
    assert!(e.contains("needs more weights"), "{e}");
}
