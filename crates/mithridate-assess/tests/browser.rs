//! The HTML report in a real headless Chromium, driven over the Chrome DevTools Protocol on
//! `--remote-debugging-pipe` (NUL-terminated JSON on fds 3 and 4; `bash` maps them onto the
//! child's stdin and stdout so plain `std::process` suffices).
//!
//! Checks: the page loads with no console errors, exceptions or error log entries, makes no
//! network request besides its own file, every plot renders as a non-empty `<svg>` (count ==
//! `Report::plot_count`), and a PNG screenshot is written next to the report. A canary page
//! that does load an external image proves the harness sees requests and CSP errors.
//!
//! Without a Chromium binary the test prints a skip notice and passes, unless
//! `MITHRIDATE_REQUIRE_BROWSER=1` (set by CI) makes it fail. `MITHRIDATE_CHROMIUM` overrides
//! the binary.

// The shared fixtures name record types as `crate::record::...`.
use mithridate_assess::record;

#[path = "../src/report/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use base64::Engine as _;
use mithridate_assess::report::Report;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Every wait on the browser ends after this, so a hung browser fails instead of hanging CI.
const TIMEOUT: Duration = Duration::from_secs(30);

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MITHRIDATE_CHROMIUM") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "MITHRIDATE_CHROMIUM={} is not a file",
            path.display()
        );
        return Some(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ])
        .collect();
    for name in [
        "chromium-headless-shell",
        "chromium",
        "chromium-browser",
        "google-chrome",
        "headless_shell",
    ] {
        for dir in &dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A Chromium process and its DevTools pipe; killed on drop.
struct Browser {
    child: Child,
    commands: ChildStdin,
    messages: Receiver<Value>,
    /// Events (and stray responses) received while waiting for something else.
    seen: Vec<Value>,
    next_id: u64,
    stderr_log: PathBuf,
}

impl Browser {
    fn launch(binary: &Path, profile: &Path) -> Browser {
        let stderr_log = profile.join("chromium-stderr.log");
        let stderr = std::fs::File::create(&stderr_log).expect("create stderr log");
        let mut args: Vec<String> = vec![
            "--remote-debugging-pipe".into(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--mute-audio".into(),
            format!("--user-data-dir={}", profile.join("profile").display()),
        ];
        let shell = binary
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("headless"));
        if !shell {
            args.push("--headless".into());
        }
        args.push("about:blank".into());
        // fd 3 <- our stdin pipe (commands), fd 4 -> our stdout pipe (responses); the
        // browser's own stdout goes to the stderr log.
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(binary)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn chromium");
        let commands = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(0, &mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buffer.last() == Some(&0) {
                            buffer.pop();
                        }
                        if let Ok(message) = serde_json::from_slice::<Value>(&buffer) {
                            if sender.send(message).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        Browser {
            child,
            commands,
            messages,
            seen: Vec::new(),
            next_id: 1,
            stderr_log,
        }
    }

    fn diagnostics(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    fn receive(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!(
                "browser timed out after {TIMEOUT:?} waiting for {waiting_for}; stderr:\n{}",
                self.diagnostics()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "browser closed its pipe while waiting for {waiting_for}; stderr:\n{}",
                self.diagnostics()
            ),
        }
    }

    /// Sends a command and returns its result; events arriving meanwhile go to `seen`.
    fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("serialize command");
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .and_then(|()| self.commands.flush())
            .unwrap_or_else(|e| panic!("writing {method} to the browser: {e}"));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let message = self.receive(deadline, method);
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.seen.push(message);
        }
    }

    /// Waits for an event of a session (looking at already received events first).
    fn wait_event(&mut self, method: &str, session: &str) -> Value {
        let matches = |m: &Value| m["method"] == json!(method) && m["sessionId"] == json!(session);
        if let Some(found) = self.seen.iter().find(|m| matches(m)) {
            return found.clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let message = self.receive(deadline, method);
            self.seen.push(message.clone());
            if matches(&message) {
                return message;
            }
        }
    }

    /// Collects whatever arrives until `quiet` passes without a message (late console
    /// messages or requests), for at most the timeout.
    fn settle(&mut self, quiet: Duration) {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            match self.messages.recv_timeout(quiet) {
                Ok(message) => self.seen.push(message),
                Err(_) => return,
            }
        }
    }

    /// Opens a new page, navigates to `url`, waits for its load event; returns the session.
    fn open(&mut self, url: &str) -> String {
        let target = self.call("Target.createTarget", json!({ "url": "about:blank" }), None);
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            None,
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        for domain in ["Runtime", "Log", "Network", "Page"] {
            self.call(&format!("{domain}.enable"), json!({}), Some(&session));
        }
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
            Some(&session),
        );
        let navigated = self.call("Page.navigate", json!({ "url": url }), Some(&session));
        assert!(
            navigated.get("errorText").is_none(),
            "navigating to {url}: {navigated}"
        );
        self.wait_event("Page.loadEventFired", &session);
        self.settle(Duration::from_millis(300));
        session
    }

    /// Console errors, uncaught exceptions and error log entries of a session.
    fn errors(&self, session: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|m| m["sessionId"] == json!(session))
            .filter_map(|m| {
                let params = &m["params"];
                match m["method"].as_str()? {
                    "Runtime.consoleAPICalled"
                        if matches!(params["type"].as_str(), Some("error" | "assert")) =>
                    {
                        Some(format!("console.{}: {}", params["type"], params["args"]))
                    }
                    "Runtime.exceptionThrown" => {
                        Some(format!("exception: {}", params["exceptionDetails"]))
                    }
                    "Log.entryAdded" if params["entry"]["level"] == json!("error") => {
                        Some(format!("log: {}", params["entry"]["text"]))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// URLs the session requested other than `own`.
    fn requests(&self, session: &str, own: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|m| {
                m["sessionId"] == json!(session)
                    && m["method"] == json!("Network.requestWillBeSent")
            })
            .filter_map(|m| m["params"]["request"]["url"].as_str())
            .filter(|url| *url != own)
            .map(str::to_string)
            .collect()
    }

    /// Request ids the browser refused under the Content Security Policy.
    fn blocked_by_csp(&self, session: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|m| {
                m["sessionId"] == json!(session)
                    && m["method"] == json!("Network.loadingFailed")
                    && m["params"]["blockedReason"] == json!("csp")
            })
            .filter_map(|m| m["params"]["requestId"].as_str().map(str::to_string))
            .collect()
    }

    fn evaluate(&mut self, session: &str, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
            Some(session),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "evaluating {expression}: {result}"
        );
        result["result"]["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely, then make sure: a test must never leave a browser behind.
        let close = b"{\"id\":999999,\"method\":\"Browser.close\"}\0";
        let _ = self.commands.write_all(close);
        let _ = self.commands.flush();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file_url(path: &Path) -> String {
    let path = path.canonicalize().expect("canonical path");
    let text = path.to_str().expect("temp paths are UTF-8");
    assert!(
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)),
        "temp path needs URL escaping: {text}"
    );
    format!("file://{text}")
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(binary) = find_chromium() else {
        let message = "no Chromium binary found (install the Debian package \
                       `chromium-headless-shell`, or set MITHRIDATE_CHROMIUM)";
        if std::env::var("MITHRIDATE_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("MITHRIDATE_REQUIRE_BROWSER=1 but {message}");
        }
        eprintln!("\n*** SKIPPED report_renders_in_headless_chromium: {message} ***\n");
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let records = fixtures::followed_by(fixtures::full_assessment(), fixtures::rag_assessment());
    let report = Report::new(&records).expect("report");
    assert_eq!(
        report.plot_count(),
        fixtures::FULL_ASSESSMENT_PLOTS + fixtures::RAG_ASSESSMENT_PLOTS
    );
    let report_path = dir.path().join("report.html");
    std::fs::write(&report_path, report.to_html()).expect("write report");
    let url = file_url(&report_path);

    let mut browser = Browser::launch(&binary, dir.path());
    let session = browser.open(&url);

    let errors = browser.errors(&session);
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    let requests = browser.requests(&session, &url);
    assert!(requests.is_empty(), "network requests: {requests:#?}");

    let page = browser.evaluate(
        &session,
        "JSON.stringify({ title: document.title, \
           sections: Array.from(document.querySelectorAll('section')).map(s => s.id), \
           svgs: Array.from(document.querySelectorAll('svg')).map(s => { \
             const r = s.getBoundingClientRect(); \
             return { width: r.width, height: r.height, elements: s.querySelectorAll('*').length, \
                      texts: s.querySelectorAll('text').length }; }) })",
    );
    let page: Value = serde_json::from_str(page.as_str().expect("string")).expect("page JSON");
    assert_eq!(page["title"], json!("Mithridate assessment report"));
    assert_eq!(
        page["sections"],
        json!(["summary", "risk", "plots", "tables", "cells"])
    );
    let svgs = page["svgs"].as_array().expect("svgs");
    assert_eq!(svgs.len(), report.plot_count(), "svg count: {svgs:#?}");
    for (i, svg) in svgs.iter().enumerate() {
        let width = svg["width"].as_f64().unwrap_or(0.0);
        let height = svg["height"].as_f64().unwrap_or(0.0);
        let elements = svg["elements"].as_u64().unwrap_or(0);
        let texts = svg["texts"].as_u64().unwrap_or(0);
        assert!(
            width > 300.0 && height > 150.0 && elements > 10 && texts > 5,
            "plot {i} ({}) renders empty: {svg}",
            report.plots()[i].title
        );
    }

    let shot = browser.call(
        "Page.captureScreenshot",
        json!({ "format": "png", "captureBeyondViewport": true }),
        Some(&session),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().expect("screenshot data"))
        .expect("base64 screenshot");
    assert!(png.len() > 10_000, "screenshot is {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG");
    let shot_path = dir.path().join("report.png");
    std::fs::write(&shot_path, &png).expect("write screenshot");
    // Keep a copy where a developer (or CI artifact upload) can look at it.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::write(&keep, &png);
    let _ = std::fs::copy(&report_path, keep.with_file_name("report.html"));

    // Canary: a page that does load an external image must show up as a network request,
    // and the same page under the report's CSP as a console error — the checks above can fail.
    let canary = dir.path().join("canary.html");
    std::fs::write(
        &canary,
        "<!DOCTYPE html><html><head><title>canary</title></head><body>\
         <img src=\"http://127.0.0.1:9/pixel.png\"></body></html>",
    )
    .expect("write canary");
    let canary_url = file_url(&canary);
    let canary_session = browser.open(&canary_url);
    let requests = browser.requests(&canary_session, &canary_url);
    assert!(
        requests.iter().any(|u| u.contains("127.0.0.1:9")),
        "the harness missed the canary's request: {requests:?}"
    );
    let guarded = dir.path().join("guarded.html");
    std::fs::write(
        &guarded,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <title>guarded</title></head><body><img src=\"http://127.0.0.1:9/pixel.png\"></body></html>",
    )
    .expect("write guarded canary");
    let guarded_url = file_url(&guarded);
    let guarded_session = browser.open(&guarded_url);
    // Chromium reports the attempt, then refuses it: the CSP must have blocked it.
    let attempted = browser.requests(&guarded_session, &guarded_url);
    let blocked = browser.blocked_by_csp(&guarded_session);
    assert!(
        !attempted.is_empty() && blocked.len() == attempted.len(),
        "the CSP let a request through: attempted {attempted:?}, blocked {blocked:?}"
    );
    assert!(
        !browser.errors(&guarded_session).is_empty(),
        "the harness missed the CSP violation"
    );
    drop(browser);
    eprintln!(
        "browser test: {} plots rendered, {} byte screenshot at {}, {:.1} s",
        svgs.len(),
        png.len(),
        keep.display(),
        started.elapsed().as_secs_f64()
    );
}
