//! The CLI's lists and help read the registries: every registered name appears, and nothing
//! else does.

use crate::common;

use common::{json, mithridate};
use mithridate_attack::registry::ATTACKS;
use mithridate_detect::registry::{DETECTORS, INPUT_DETECTORS};

fn names(value: &serde_json::Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is a list: {value}"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn poison_list_is_the_attack_registry() {
    let listed = names(
        &json(&mithridate(&["--json", "poison", "--list"])),
        "attacks",
    );
    assert_eq!(listed, ATTACKS.names());
    let help = String::from_utf8_lossy(&mithridate(&["poison", "--help"]).stdout).to_string();
    for name in ATTACKS.names() {
        assert!(help.contains(name), "poison --help lacks {name}");
    }
}

#[test]
fn scan_list_and_help_are_the_detector_registries() {
    let listed = names(
        &json(&mithridate(&["--json", "scan", "data", "--list"])),
        "detectors",
    );
    let registered: Vec<&str> = DETECTORS
        .names()
        .into_iter()
        .chain(INPUT_DETECTORS.names())
        .collect();
    assert_eq!(listed, registered);
    let help = String::from_utf8_lossy(&mithridate(&["scan", "data", "--help"]).stdout).to_string();
    for name in DETECTORS.names() {
        assert!(help.contains(name), "scan data --help lacks {name}");
    }
    // A parameter of a detector reaches it; a wrong key or detector is named.
    let bad = mithridate(&[
        "scan",
        "data",
        "--data",
        "digits",
        "--detector",
        "knn",
        "-P",
        "knn.kk=3",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("kk"));
    let unselected = mithridate(&["scan", "data", "--data", "digits", "-P", "knn.k=3"]);
    assert_eq!(unselected.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unselected.stderr).contains("not selected"));
}

#[test]
fn federated_help_is_the_rule_and_update_attack_registries() {
    let fl = String::from_utf8_lossy(&mithridate(&["fl", "--help"]).stdout).to_string();
    let aggregate =
        String::from_utf8_lossy(&mithridate(&["aggregate", "--help"]).stdout).to_string();
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (fl, aggregate) = (flat(&fl), flat(&aggregate));
    for name in mithridate_fl::UPDATE_ATTACKS.names() {
        assert!(fl.contains(name), "fl --help lacks {name}");
    }
    for name in mithridate_aggregate::RULES
        .names()
        .into_iter()
        .chain(mithridate_aggregate::PRE_AGGREGATORS.names())
    {
        assert!(fl.contains(name), "fl --help lacks {name}");
        assert!(aggregate.contains(name), "aggregate --help lacks {name}");
    }
}
