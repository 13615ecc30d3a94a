//! Throughput of forward passes and input gradients on the PyTorch fixtures, and the cost a
//! finite-difference gradient would have (2 forwards per input value), to justify autodiff.
//!
//! `cargo run -p mithridate-onnx --example gradient_speed [--release]`

use std::time::Instant;

use mithridate_data::{Dataset, Features, Modality};
use mithridate_onnx::{InputOptions, OnnxClassifier};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json"))?)?;
    let one: Vec<f32> = e["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect();
    let n = 1024;
    let images: Vec<f32> = one.iter().copied().cycle().take(n * 784).collect();
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 10).collect();
    let m = Modality::Image {
        channels: 1,
        height: 28,
        width: 28,
    };
    let data = Dataset::new(
        m,
        Features::Dense(images),
        labels.clone(),
        (0..n as u64).collect(),
        10,
        vec![],
    )?;
    for name in ["mlp_dynamo.onnx", "cnn_dynamo.onnx", "cnn_torchscript.onnx"] {
        let model = OnnxClassifier::load(&dir.join(name), InputOptions::default())?;
        let best = |f: &dyn Fn() -> f64| (0..3).map(|_| f()).fold(f64::MAX, f64::min);
        let fwd = best(&|| {
            let t = Instant::now();
            model.logits(&data).unwrap();
            t.elapsed().as_secs_f64()
        });
        let grad = best(&|| {
            let t = Instant::now();
            model.input_gradients(&data, &labels).unwrap();
            t.elapsed().as_secs_f64()
        });
        println!(
            "{name}: forward {:.0} samples/s, input gradient {:.0} samples/s; central finite differences would need {} forwards per sample: ~{:.1} samples/s",
            n as f64 / fwd,
            n as f64 / grad,
            2 * 784,
            n as f64 / fwd / (2.0 * 784.0)
        );
    }
    Ok(())
}
