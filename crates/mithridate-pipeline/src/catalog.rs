//! Every registry in one place: the docs table (`docs/registry.md`) is generated from here,
//! and tests check that the CLI's lists and the committed docs agree with it.

/// The Markdown catalogue of every registered algorithm, one section per role.
pub fn markdown() -> String {
    let sections = [
        (
            "Data attacks",
            mithridate_attack::registry::ATTACKS.markdown_table(),
        ),
        (
            "Training-set detectors",
            mithridate_detect::registry::DETECTORS.markdown_table(),
        ),
        (
            "Inference-time detectors",
            mithridate_detect::registry::INPUT_DETECTORS.markdown_table(),
        ),
        (
            "Aggregation rules",
            mithridate_aggregate::RULES.markdown_table(),
        ),
        (
            "Pre-aggregators (chain before any rule: `bucketing:s=2+clipping+median`)",
            mithridate_aggregate::PRE_AGGREGATORS.markdown_table(),
        ),
        (
            "Federated update attacks",
            mithridate_fl::UPDATE_ATTACKS.markdown_table(),
        ),
        (
            "Model inspectors (`mithridate scan model`; assessment defences)",
            mithridate_gate::inspectors::MODEL_INSPECTORS.markdown_table(),
        ),
        (
            "Model repairs (`mithridate repair`; assessment defences)",
            mithridate_repair::REPAIRS.markdown_table(),
        ),
    ];
    let mut out = String::from(
        "# Registry\n\nGenerated from the registries (`cargo test -p mithridate-pipeline --test integration catalog::` \
         checks it; `MITHRIDATE_BLESS=1` rewrites it). Every entry is one file plus one registry line.\n",
    );
    for (title, table) in sections {
        out.push_str(&format!("\n## {title}\n\n{table}"));
    }
    out
}
