//! Dataset summaries for `mithridate data info` / `fetch`.

use crate::output::{self};
use mithridate_data::{Dataset, Features, Modality};
use serde_json::{json, Value};

/// Shape, class counts and ids of one dataset, as JSON.
pub(super) fn summary(data: &Dataset) -> Value {
    let mut shape = vec![data.len()];
    shape.extend(data.modality().sample_shape());
    let names = data.class_names();
    let counts = data.class_counts();
    let classes: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(c, n)| json!({ "class": c, "name": names[c], "count": n }))
        .collect();
    let id_range = match (data.ids().iter().min(), data.ids().iter().max()) {
        (Some(lo), Some(hi)) => json!([lo, hi]),
        _ => Value::Null,
    };
    let (dtype, value_range) = match data.features() {
        Features::Dense(v) => {
            let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            ("float32", json!([lo, hi]))
        }
        Features::Tokens(v) => ("token ids", json!([v.iter().min(), v.iter().max()])),
    };
    let mut out = json!({
        "samples": data.len(),
        "shape": shape,
        "modality": data.modality(),
        "dtype": dtype,
        "value_range": value_range,
        "num_classes": data.num_classes(),
        "classes": classes,
        "id_range": id_range,
    });
    if let Modality::Text { vocab_size, .. } = data.modality() {
        out["vocab_size"] = json!(vocab_size);
        out["vocabulary_known"] = json!(data.vocabulary().is_some());
    }
    out
}

pub(super) fn print_summary(title: &str, s: &Value) {
    println!(
        "{title}: {} samples, shape {}, {} {} in {}, ids {}",
        s["samples"],
        s["shape"],
        s["modality"]["kind"].as_str().unwrap_or("?"),
        s["dtype"].as_str().unwrap_or("?"),
        s["value_range"],
        s["id_range"]
    );
    if let Some(v) = s.get("vocab_size") {
        println!("  vocabulary size {v}");
    }
    let rows: Vec<Vec<String>> = s["classes"]
        .as_array()
        .map(|classes| {
            classes
                .iter()
                .map(|c| {
                    vec![
                        c["class"].to_string(),
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["count"].to_string(),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    println!("{}\n", output::table(&["class", "name", "count"], &rows));
}
