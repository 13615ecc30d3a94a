//! Text output of manifest diffs.

use crate::output;
use mithridate_provenance::ManifestDiff;

/// How many ids per category the text output lists (`--json` lists all).
const IDS_SHOWN: usize = 20;

fn id_list(ids: &[u64]) -> String {
    let mut text: Vec<String> = ids.iter().take(IDS_SHOWN).map(u64::to_string).collect();
    if ids.len() > IDS_SHOWN {
        text.push(format!(
            "... and {} more (--json lists all)",
            ids.len() - IDS_SHOWN
        ));
    }
    text.join(", ")
}

pub(super) fn print_diff(diff: &ManifestDiff) {
    for change in &diff.metadata_changes {
        println!("{} changed: {} -> {}", change.field, change.old, change.new);
    }
    let labels: Vec<u64> = diff.changed_labels.iter().map(|c| c.id).collect();
    for (name, ids) in [
        ("added", &diff.added),
        ("removed", &diff.removed),
        ("changed features", &diff.changed_features),
        ("changed labels", &labels),
    ] {
        println!("{name} ({}): {}", ids.len(), id_list(ids));
    }
    for c in diff.changed_labels.iter().take(IDS_SHOWN) {
        println!("  id {}: label {} -> {}", c.id, c.old, c.new);
    }
    let rows: Vec<Vec<String>> = diff
        .class_shifts
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.old_count.to_string(),
                c.new_count.to_string(),
                format!("{:.2}", c.old_share * 100.0),
                format!("{:.2}", c.new_share * 100.0),
                format!("{:+.2}", c.delta * 100.0),
                if c.flagged {
                    "FLAGGED".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    println!(
        "{}",
        output::table(
            &[
                "class",
                "old",
                "new",
                "old %",
                "new %",
                "shift (points)",
                ""
            ],
            &rows
        )
    );
    println!("{}", diff.summary());
}
