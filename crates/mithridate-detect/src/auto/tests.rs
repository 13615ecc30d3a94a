//! Unit tests of `auto`'s own rules (the members have their own).

use super::*;

#[test]
fn only_flags_the_clean_samples_also_outvote_are_kept() {
    let flags = vec![true, true, false, true];
    let clean = [true, false, true, true];
    assert_eq!(
        also_clean_candidates(flags.clone(), &clean),
        Some(vec![true, false, false, true])
    );
    assert_eq!(also_clean_candidates(flags, &[false, false, true, false]), None);
    assert_eq!(also_clean_candidates(vec![false; 3], &[true; 3]), None);
}

#[test]
fn bad_parameters_are_named() {
    let mut p = AutoParams {
        quorum: 4,
        ..Default::default()
    };
    assert!(p
        .clone()
        .check()
        .unwrap_err()
        .to_string()
        .contains("quorum"));
    p.quorum = 1;
    p.backdoor.push("auto".into());
    assert!(p.clone().check().is_err());
    p.backdoor.pop();
    p.decisive = vec!["auto".into()];
    assert!(p.clone().check().unwrap_err().to_string().contains("own member"));
    p.decisive = vec!["no-such-detector".into()];
    assert!(p.clone().check().unwrap_err().to_string().contains("no-such-detector"));
    p.decisive.clear();
    p.proposers = vec!["auto".into()];
    assert!(p.check().unwrap_err().to_string().contains("own member"));
}
