//! JUnit XML output, so CI systems (GitLab, Jenkins, GitHub test reporters) show the gate's
//! verdict check by check.
//!
//! One `<testsuite name="mithridate-gate">` with one `<testcase>` per check; a failed check
//! carries `<failure message="...">`, a skipped one `<skipped message="..."/>`. This is the
//! subset of the JUnit XML schema every mainstream CI parser reads.

use crate::{CheckStatus, GateError, GateReport, Result};
use std::path::Path;

/// Escapes `text` for XML 1.0 character data and double-quoted attribute values: `& < > " '`
/// become entities, and characters XML 1.0 forbids (C0 controls other than tab, LF, CR; and
/// U+FFFE, U+FFFF) become U+FFFD, since even a character reference to them is ill-formed.
///
/// ```
/// assert_eq!(mithridate_gate::junit::escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;\u{FFFD}");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Attribute values normalise raw newlines and tabs to spaces; keep them.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The report as a JUnit XML document. `properties` (e.g. the model paths and hashes) are
/// written as `<property>` elements of the suite.
pub fn to_junit_xml(report: &GateReport, properties: &[(&str, String)]) -> String {
    let failures = report.checks.iter().filter(|c| c.failed()).count();
    let skipped = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Skipped)
        .count();
    let tests = report.checks.len();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"mithridate-gate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n"
    ));
    xml.push_str(&format!(
        "  <testsuite name=\"mithridate-gate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n"
    ));
    let verdict = if report.passed() { "pass" } else { "fail" };
    xml.push_str("    <properties>\n");
    xml.push_str(&format!(
        "      <property name=\"verdict\" value=\"{verdict}\"/>\n"
    ));
    for (name, value) in properties {
        xml.push_str(&format!(
            "      <property name=\"{}\" value=\"{}\"/>\n",
            escape(name),
            escape(value)
        ));
    }
    xml.push_str("    </properties>\n");
    for check in &report.checks {
        let open = format!(
            "    <testcase classname=\"mithridate-gate\" name=\"{}\"",
            escape(&check.name)
        );
        let message = escape(&format!(
            "{}: value {:.6} vs threshold {:.6}: {}",
            check.name, check.value, check.threshold, check.detail
        ));
        match check.status {
            CheckStatus::Passed => {
                xml.push_str(&open);
                xml.push_str(&format!(
                    ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                    escape(&check.detail)
                ));
            }
            CheckStatus::Failed => {
                xml.push_str(&open);
                xml.push_str(&format!(
                    ">\n      <failure message=\"{message}\" type=\"threshold\">{message}</failure>\n    </testcase>\n"
                ));
            }
            CheckStatus::Skipped => {
                xml.push_str(&open);
                xml.push_str(&format!(
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    escape(&check.detail)
                ));
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Writes `contents` to `path` through the workspace's one atomic writer (0644), so a reader
/// never sees half a report; errors name the path.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    mithridate_core::write_atomic(path, contents, mithridate_core::FileMode::Shared).map_err(
        |source| GateError::Io {
            path: path.to_path_buf(),
            source,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{evaluate, Comparison, GatePolicy, ProbeOutcome};
    use mithridate_core::ParamGuard;

    #[test]
    fn escape_handles_every_special_character() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("<&>\"'"), "&lt;&amp;&gt;&quot;&apos;");
        assert_eq!(escape("a\nb\tc"), "a&#10;b&#9;c");
        assert_eq!(escape("\u{0}\u{1b}\u{FFFF}é"), "\u{FFFD}\u{FFFD}\u{FFFD}é");
    }

    fn report_with_nasty_probe() -> crate::GateReport {
        let labels = vec![0u32; 50];
        let c = Comparison::new(&labels, &labels, &labels, 2).unwrap();
        let probe = ProbeOutcome {
            name: "<evil> & \"quoted\" ]]>\u{7}".into(),
            attack: "badnets".into(),
            samples: 50,
            baseline_success: 0.0,
            candidate_success: 1.0,
        };
        evaluate(&GatePolicy::default().check().unwrap(), &c, &[probe])
    }

    #[test]
    fn document_counts_checks_and_escapes_names() {
        let report = report_with_nasty_probe();
        let xml = to_junit_xml(&report, &[("candidate", "m<1>.safetensors".into())]);
        assert!(xml.contains(&format!("tests=\"{}\"", report.checks.len())));
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("skipped=\"1\""), "{xml}"); // concentration: no flips
        assert!(xml.contains("name=\"probe:&lt;evil&gt; &amp; &quot;quoted&quot; ]]&gt;\u{FFFD}\""));
        assert!(xml.contains("value=\"m&lt;1&gt;.safetensors\""));
        assert!(xml.contains("<property name=\"verdict\" value=\"fail\"/>"));
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert_eq!(xml.matches("<testcase ").count(), report.checks.len());
        // Well-formed enough for a strict parser: no raw special characters inside tags'
        // attribute values, and every element that opens closes.
        assert_eq!(
            xml.matches("<testcase ").count(),
            xml.matches("</testcase>").count()
        );
        assert!(!xml.contains('\u{7}'));
    }

    #[test]
    fn write_atomic_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.xml");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        #[cfg(unix)]
        {
            // CI systems read JUnit XML as another user: 0644.
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        let missing = dir.path().join("no-such-dir").join("r.xml");
        assert!(matches!(
            write_atomic(&missing, b"x"),
            Err(GateError::Io { .. })
        ));
    }
}
