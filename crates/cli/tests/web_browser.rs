//! End to end: real headless Chromium, driven over the DevTools protocol,
//! against `portmatrix serve` on loopback. Opens the catalog, filters the
//! jtel-acd table to port 5060, opens the diagram, clicks a role and reads
//! its ports; checks that no page requests anything but the loopback server
//! and that the rendered HTML report requests nothing at all; with the
//! example inventory, opens a host of the deployment view, downloads its
//! nftables file and compares it byte for byte with `portmatrix compile`;
//! asks the explain form by host name; downloads a network firewall's
//! nftables file and compares it with `portmatrix compile --firewall`;
//! checks that the change request's HTML fits the screen and that its
//! table of contents lands on its sections.
//! Screenshots go to `test-artifacts/`.
//!
//! Without Chromium the test prints why and passes, unless `CI` is set: in CI
//! it must run (`scripts/test.sh` installs Debian's `chromium`).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-artifacts");
    std::fs::create_dir_all(&dir).expect("create test-artifacts/");
    dir
}

/// Kills and reaps a child process when dropped (also when the test fails).
struct Reaped(Child);
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The date of every change request the test compares (server and CLI alike).
const DATE: &str = "1767225600";

fn example_inventory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jtel-acd.yaml")
}

fn start_server() -> (Reaped, String) {
    start_server_with(&[])
}

/// `portmatrix serve` on the example inventory, with more arguments.
fn start_server_with(more: &[&std::ffi::OsStr]) -> (Reaped, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portmatrix"))
        .args(["serve", "--listen", "127.0.0.1:0", "-i"])
        .arg(example_inventory())
        .args(more)
        .env("SOURCE_DATE_EPOCH", DATE)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start portmatrix serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the server's first line");
    let url =
        line.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).unwrap_or_else(|| panic!("no URL in {line:?}")).to_string();
    (Reaped(child), url)
}

struct Browser {
    _child: Reaped,
    _profile: tempfile::TempDir,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    events: Vec<Value>,
    session: String,
}

impl Browser {
    fn start(chromium: &Path) -> Self {
        let profile = tempfile::tempdir().expect("temp profile dir");
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--hide-scrollbars",
                "--window-size=1280,1000",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let child = Reaped(child);
        // Chromium writes the port it chose and the browser target's path here.
        let active = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                let mut lines = text.lines();
                if let (Some(p), Some(path)) = (lines.next(), lines.next()) {
                    break (p.trim().to_string(), path.trim().to_string());
                }
            }
            assert!(Instant::now() < deadline, "chromium did not open its DevTools port");
            std::thread::sleep(Duration::from_millis(100));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect to DevTools");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("set timeout");
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream).expect("DevTools websocket");
        let mut b = Browser { _child: child, _profile: profile, ws, next_id: 0, events: Vec::new(), session: String::new() };
        let target = b.call_browser("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = b.call_browser("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}));
        b.session = attached["sessionId"].as_str().expect("sessionId").to_string();
        for domain in ["Page.enable", "Network.enable", "Runtime.enable"] {
            b.call(domain, json!({}));
        }
        b
    }

    fn send(&mut self, session: Option<String>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = Value::String(s);
        }
        self.ws.send(Message::text(msg.to_string())).expect("send to DevTools");
        loop {
            let m = self.read();
            if m["id"].as_u64() == Some(id) {
                if let Some(e) = m.get("error") {
                    panic!("{method} failed: {e}");
                }
                return m["result"].clone();
            }
            self.events.push(m);
        }
    }

    fn read(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read from DevTools") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("DevTools sends JSON"),
                Message::Close(_) => panic!("DevTools closed the connection"),
                _ => continue,
            }
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(None, method, params)
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(Some(s), method, params)
    }

    /// Waits for an event of this page's session.
    fn wait_event(&mut self, method: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(i) = self.events.iter().position(|e| e["method"] == method && e["sessionId"] == self.session.as_str()) {
                return self.events.remove(i);
            }
            assert!(Instant::now() < deadline, "timed out waiting for {method}");
            let m = self.read();
            self.events.push(m);
        }
    }

    fn forget(&mut self, method: &str) {
        self.events.retain(|e| e["method"] != method);
    }

    fn navigate(&mut self, url: &str) {
        self.forget("Page.loadEventFired");
        self.call("Page.navigate", json!({"url": url}));
        self.wait_event("Page.loadEventFired");
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": expr, "returnByValue": true, "awaitPromise": true}));
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits for an event of the browser target (not of a page).
    fn wait_browser_event(&mut self, method: &str, pred: &dyn Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(i) = self.events.iter().position(|e| e["method"] == method && e.get("sessionId").is_none() && pred(e)) {
                return self.events.remove(i);
            }
            assert!(Instant::now() < deadline, "timed out waiting for {method}");
            let m = self.read();
            self.events.push(m);
        }
    }

    /// Clicks the centre of the first element matching `selector` with the
    /// mouse, as a person would, and waits for the page it opens.
    fn click_and_wait(&mut self, selector: &str) {
        self.forget("Page.loadEventFired");
        self.click(selector);
        self.wait_event("Page.loadEventFired");
    }

    fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).expect("JSON string");
        let rect = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView({{block: 'center', inline: 'center'}}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = match rect.as_array() {
            Some(a) if a.len() == 2 => (a[0].as_f64().expect("x"), a[1].as_f64().expect("y")),
            _ => panic!("nothing matches {selector} on {}", self.eval("location.href")),
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call("Input.dispatchMouseEvent", json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}));
        }
    }

    fn key(&mut self, key: &str, code: &str, vk: u32) {
        for kind in ["rawKeyDown", "keyUp"] {
            self.call("Input.dispatchKeyEvent", json!({"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": vk}));
        }
    }

    fn screenshot(&mut self, name: &str) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": false}));
        let data = data_encoding::BASE64.decode(r["data"].as_str().expect("screenshot data").as_bytes()).expect("base64 PNG");
        assert!(data.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(artifacts().join(name), data).expect("write screenshot");
    }

    /// URLs of every request the page made since the last call.
    fn take_requests(&mut self) -> Vec<String> {
        // Drain what has arrived: a round trip makes sure earlier events are in.
        self.eval("1");
        let mut urls = Vec::new();
        self.events.retain(|e| {
            if e["method"] == "Network.requestWillBeSent" {
                urls.push(e["params"]["request"]["url"].as_str().unwrap_or_default().to_string());
                false
            } else {
                true
            }
        });
        urls
    }
}

#[test]
fn web_ui_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        if in_ci() {
            panic!("CI is set but chromium is not installed: scripts/test.sh installs it");
        }
        eprintln!("skipped: chromium is not installed (apt-get install chromium); CI is not set");
        return;
    };
    let (_server, base) = start_server();
    let mut b = Browser::start(&chromium);

    // The catalog.
    b.navigate(&base);
    assert_eq!(b.eval("document.querySelector('h1').textContent"), "Catalog");
    assert!(b.eval("document.querySelectorAll('.cards li').length").as_u64().unwrap_or(0) >= 5, "every catalog matrix");
    b.screenshot("01-catalog.png");

    // Keyboard: the first Tab reaches the skip link.
    b.key("Tab", "Tab", 9);
    assert_eq!(b.eval("document.activeElement.className"), "skip");

    // Open jtel-acd and filter it to port 5060 with the form.
    b.click_and_wait("a[href='/m/jtel-acd']");
    assert!(b.eval("location.pathname").as_str() == Some("/m/jtel-acd"));
    let all_rows = b.eval("document.querySelectorAll('#flow-table tbody tr').length").as_u64().expect("row count");
    b.eval("document.getElementById('f-port').focus()");
    b.call("Input.insertText", json!({"text": "5060"}));
    b.click_and_wait("form.filters button[type=submit]");
    assert!(b.eval("location.search").as_str().is_some_and(|s| s.contains("port=5060")), "a plain GET form");
    let rows =
        b.eval("[...document.querySelectorAll('#flow-table tbody tr')].map(r => r.cells[0].textContent + ' ' + r.cells[4].textContent)");
    let rows: Vec<String> = rows.as_array().expect("rows").iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect();
    assert!(!rows.is_empty() && (rows.len() as u64) < all_rows, "filtered: {rows:?} of {all_rows}");
    assert!(rows.iter().any(|r| r.starts_with("sip-pbx ")), "the SIP flow from the PBX: {rows:?}");
    assert!(rows.iter().all(|r| r.contains("5060") || r.contains('-')), "every row reaches 5060: {rows:?}");
    b.screenshot("02-jtel-acd-port-5060.png");

    // The diagram; click the telephony servers and read their ports.
    b.click_and_wait("a[href='/m/jtel-acd/diagram']");
    assert!(b.eval("document.querySelector('.diagram svg') !== null").as_bool() == Some(true));
    b.screenshot("03-jtel-acd-diagram.png");
    b.click_and_wait("svg a[href*='role=acd-tel'] rect");
    assert!(b.eval("location.search").as_str() == Some("?role=acd-tel"));
    let listens = b.eval("document.getElementById('listens-summary').textContent");
    let listens = listens.as_str().expect("the role's listening ports");
    assert!(listens.contains("5060") && listens.contains("30000-34999"), "{listens}");
    assert!(b.eval("document.querySelectorAll('#listens tbody tr').length").as_u64().unwrap_or(0) > 0);
    assert!(b.eval("document.querySelector('g.node.hl') !== null").as_bool() == Some(true), "the role is highlighted");
    b.screenshot("04-jtel-acd-role-acd-tel.png");

    // The diagram works from the keyboard: Tab reaches a role, Enter opens it.
    b.navigate(&format!("{base}m/jtel-acd/diagram"));
    let mut reached = None;
    for _ in 0..40 {
        b.key("Tab", "Tab", 9);
        let href = b.eval("document.activeElement.closest('svg') ? document.activeElement.getAttribute('href') : null");
        if let Some(h) = href.as_str() {
            reached = Some(h.to_string());
            break;
        }
    }
    let href = reached.expect("Tab reaches a role of the diagram");
    b.forget("Page.loadEventFired");
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyDown", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}),
    );
    b.call("Input.dispatchKeyEvent", json!({"type": "keyUp", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}));
    b.wait_event("Page.loadEventFired");
    let search = b.eval("location.search");
    assert!(href.contains(search.as_str().unwrap_or("?none")), "Enter followed {href}, now at {search}");
    assert!(b.eval("document.getElementById('listens-summary') !== null").as_bool() == Some(true));
    b.navigate(&format!("{base}m/jtel-acd/diagram?role=acd-tel"));

    // Dark mode follows the system.
    b.call("Emulation.setEmulatedMedia", json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}));
    let bg = b.eval("getComputedStyle(document.body).backgroundColor");
    assert_eq!(bg, "rgb(13, 17, 23)", "dark background");
    b.eval("window.scrollTo(0, 0)");
    b.screenshot("05-jtel-acd-role-dark.png");
    b.call("Emulation.setEmulatedMedia", json!({"features": [{"name": "prefers-color-scheme", "value": "light"}]}));

    // The deployment: a host's nftables file, downloaded with a click, is
    // byte for byte what `portmatrix compile` writes.
    b.navigate(&format!("{base}d"));
    assert!(b.eval("document.querySelectorAll('table.hosts tbody tr').length").as_u64().unwrap_or(0) >= 10, "hosts by zone");
    b.screenshot("07-deployment.png");
    b.click_and_wait("a[href='/d/host/acd-lb1']");
    assert_eq!(b.eval("location.pathname"), "/d/host/acd-lb1");
    b.screenshot("08-host-acd-lb1.png");
    let downloads = tempfile::tempdir().expect("temp dir");
    b.call_browser(
        "Browser.setDownloadBehavior",
        json!({"behavior": "allow", "downloadPath": downloads.path().to_str().expect("utf-8 path"), "eventsEnabled": true}),
    );
    b.click("a[data-file='acd-lb1.nft']");
    let begun = b.wait_browser_event("Browser.downloadWillBegin", &|_| true);
    let guid = begun["params"]["guid"].as_str().expect("download guid").to_string();
    let name = begun["params"]["suggestedFilename"].as_str().expect("file name").to_string();
    assert_eq!(name, "acd-lb1.nft");
    b.wait_browser_event("Browser.downloadProgress", &|e| e["params"]["guid"] == guid.as_str() && e["params"]["state"] == "completed");
    let downloaded = std::fs::read(downloads.path().join(&name)).expect("the downloaded file");
    let compiled = Command::new(env!("CARGO_BIN_EXE_portmatrix"))
        .args(["compile", "--target", "nftables", "--host", "acd-lb1", "-i"])
        .arg(example_inventory())
        .output()
        .expect("run compile");
    assert!(compiled.status.success(), "compile: {}", String::from_utf8_lossy(&compiled.stderr));
    assert!(!downloaded.is_empty());
    assert!(
        downloaded == compiled.stdout,
        "the downloaded acd-lb1.nft differs from `portmatrix compile` ({} vs {} bytes)",
        downloaded.len(),
        compiled.stdout.len()
    );

    // The deployment's zone diagram spans the width of the page.
    b.navigate(&format!("{base}d"));
    let fill = b.eval(
        "(() => { const d = document.querySelector('.diagram'); const s = d.querySelector('svg'); return s.getBoundingClientRect().width / d.clientWidth; })()",
    );
    let fill = fill.as_f64().expect("a ratio");
    assert!(fill > 0.95, "the zone diagram fills its box: {fill}");

    // Explain by host name, with the form: the flow that permits it and the firewalls on the path.
    b.navigate(&format!("{base}d/explain"));
    for (field, text) in [("x-from", "acd-lb1"), ("x-to", "acd-store1"), ("x-service", "445/tcp")] {
        b.eval(&format!("document.getElementById('{field}').focus()"));
        b.call("Input.insertText", json!({"text": text}));
    }
    b.click_and_wait("form.filters button[type=submit]");
    assert!(b.eval("location.search").as_str().is_some_and(|s| s.contains("from=acd-lb1")), "a plain GET form");
    assert_eq!(b.eval("document.getElementById('verdict').dataset.verdict"), "permitted");
    let hits = b.eval("document.getElementById('hits').textContent");
    assert!(hits.as_str().is_some_and(|t| t.contains("acd/internal-samba")), "{hits}");
    b.screenshot("09-explain.png");
    b.navigate(&format!("{base}d/explain?from=acd-lb9&to=acd-dbm1&service=3306/tcp"));
    let alert = b.eval("document.querySelector('[role=alert]').textContent");
    assert!(alert.as_str().is_some_and(|t| t.contains("did you mean")), "a misspelt host gets a hint: {alert}");
    b.navigate(&format!("{base}d/explain?from=10.20.1.5&to=acd-dbm1&service=3306/tcp"));
    assert_eq!(b.eval("document.getElementById('verdict').dataset.verdict"), "denied");
    let dropped = b.eval("document.getElementById('dropped-by').textContent");
    assert!(dropped.as_str().is_some_and(|t| t.contains("core-fw")), "{dropped}");

    // A network firewall's page: its nftables file, downloaded with a click,
    // is byte for byte what `portmatrix compile --firewall` writes.
    b.navigate(&format!("{base}d"));
    b.click_and_wait("a[href='/d/firewall/core-fw']");
    assert_eq!(b.eval("location.pathname"), "/d/firewall/core-fw");
    b.screenshot("10-firewall-core-fw.png");
    b.click("a[data-file='core-fw.nft']");
    let begun = b.wait_browser_event("Browser.downloadWillBegin", &|_| true);
    let guid = begun["params"]["guid"].as_str().expect("download guid").to_string();
    let name = begun["params"]["suggestedFilename"].as_str().expect("file name").to_string();
    assert_eq!(name, "core-fw.nft");
    b.wait_browser_event("Browser.downloadProgress", &|e| e["params"]["guid"] == guid.as_str() && e["params"]["state"] == "completed");
    let downloaded = std::fs::read(downloads.path().join(&name)).expect("the downloaded file");
    let compiled = Command::new(env!("CARGO_BIN_EXE_portmatrix"))
        .args(["compile", "--target", "nftables", "--firewall", "core-fw", "-i"])
        .arg(example_inventory())
        .output()
        .expect("run compile");
    assert!(compiled.status.success(), "compile: {}", String::from_utf8_lossy(&compiled.stderr));
    assert!(!downloaded.is_empty());
    assert!(
        downloaded == compiled.stdout,
        "the downloaded core-fw.nft differs from `portmatrix compile --firewall core-fw` ({} vs {} bytes)",
        downloaded.len(),
        compiled.stdout.len()
    );

    // Nothing but the loopback server was asked for anything.
    let requests = b.take_requests();
    assert!(!requests.is_empty());
    for url in &requests {
        assert!(url.starts_with(&base) || url.starts_with("data:") || url == "about:blank", "request outside the loopback server: {url}");
    }

    // The self-contained HTML report requests nothing at all.
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("jtel-acd.html");
    let st = Command::new(env!("CARGO_BIN_EXE_portmatrix"))
        .args(["render", "jtel-acd", "--format", "html", "-o"])
        .arg(&report)
        .status()
        .expect("run render");
    assert!(st.success());
    let file_url = format!("file://{}", report.display());
    b.navigate(&file_url);
    let requests = b.take_requests();
    assert_eq!(requests, vec![file_url.clone()], "the report loads nothing but itself");
    assert!(b.eval("document.querySelector('svg.pm-diagram') !== null").as_bool() == Some(true));
    b.screenshot("06-jtel-acd-report.png");

    // The change request as one HTML file: a table of contents whose links
    // land on their sections, and a page no wider than the screen.
    let report = dir.path().join("change-request.html");
    let st = Command::new(env!("CARGO_BIN_EXE_portmatrix"))
        .args(["render", "--format", "html", "-o"])
        .arg(&report)
        .arg("-i")
        .arg(example_inventory())
        .status()
        .expect("run render");
    assert!(st.success());
    b.navigate(&format!("file://{}", report.display()));
    let overflow = b.eval("document.documentElement.scrollWidth - window.innerWidth").as_f64().expect("a width");
    assert!(overflow <= 0.0, "the change request is {overflow}px wider than the screen");
    let links = b.eval("[...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'))");
    let links: Vec<String> = links.as_array().expect("links").iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect();
    assert!(links.len() >= 5, "{links:?}");
    let last = links[3].clone();
    b.click(&format!("nav.toc a[href='{last}']"));
    b.eval("new Promise(r => setTimeout(r, 200))");
    assert_eq!(b.eval("location.hash").as_str(), Some(last.as_str()));
    let top = b.eval(&format!("document.getElementById('{}').getBoundingClientRect().top", &last[1..])).as_f64().expect("top");
    assert!(top.abs() < 5.0, "{last} scrolled to the top: {top}");
    b.screenshot("11-change-request.png");
}

impl Browser {
    /// Lets the page download into `dir`.
    fn allow_downloads(&mut self, dir: &Path) {
        self.call_browser(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.to_str().expect("utf-8 path"), "eventsEnabled": true}),
        );
    }

    /// Clicks a download link and returns the file's suggested name and bytes.
    fn download(&mut self, selector: &str, dir: &Path) -> (String, Vec<u8>) {
        self.click(selector);
        let begun = self.wait_browser_event("Browser.downloadWillBegin", &|_| true);
        let guid = begun["params"]["guid"].as_str().expect("download guid").to_string();
        let name = begun["params"]["suggestedFilename"].as_str().expect("file name").to_string();
        self.wait_browser_event("Browser.downloadProgress", &|e| {
            e["params"]["guid"] == guid.as_str() && e["params"]["state"] == "completed"
        });
        let bytes = std::fs::read(dir.join(&name)).expect("the downloaded file");
        (name, bytes)
    }

    /// Chooses `value` in the select `id` and says what it holds afterwards.
    fn choose(&mut self, id: &str, value: &str) -> Value {
        let (id, value) = (serde_json::to_string(id).expect("JSON"), serde_json::to_string(value).expect("JSON"));
        self.eval(&format!("(() => {{ const s = document.getElementById({id}); s.value = {value}; return s.value; }})()"))
    }

    /// The text of column `header` in every body row of table `#id`.
    fn column(&mut self, id: &str, header: &str) -> Vec<String> {
        let v = self.eval(&format!(
            "(() => {{ const t = document.getElementById('{id}'); if (!t) return []; const i = [...t.querySelectorAll('thead th')].findIndex(h => h.textContent.trim() === '{header}'); return [...t.querySelectorAll('tbody tr')].map(r => i < 0 ? null : r.cells[i].textContent); }})()"
        ));
        v.as_array()
            .expect("a list")
            .iter()
            .map(|c| c.as_str().unwrap_or_else(|| panic!("no column {header} in #{id}")).to_string())
            .collect()
    }
}

/// `portmatrix ARGS` with the test's date; (exit code, standard output).
fn portmatrix(args: &[&std::ffi::OsStr]) -> (i32, Vec<u8>) {
    let out = Command::new(env!("CARGO_BIN_EXE_portmatrix")).args(args).env("SOURCE_DATE_EPOCH", DATE).output().expect("run portmatrix");
    assert!(out.status.code() != Some(2), "portmatrix {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), out.stdout)
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[test]
fn diff_views_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        if in_ci() {
            panic!("CI is set but chromium is not installed: scripts/test.sh installs it");
        }
        eprintln!("skipped: chromium is not installed (apt-get install chromium); CI is not set");
        return;
    };
    // The old deployment: the example without acd-store2 and the reporting
    // API, with corosync over multicast (opens in and out of core-fw, closes).
    let dir = tempfile::tempdir().expect("temp dir");
    let old = dir.path().join("jtel-acd-before.yaml");
    let mut text = std::fs::read_to_string(example_inventory()).expect("read the example");
    let store2 = "  acd-store2:\n    addresses: [10.10.0.22]\n    zone: servers\n    os: linux\n    roles: [acd/acd-store]\n";
    for (from, to) in [
        (store2, ""),
        ("reporting-api: true", "reporting-api: false"),
        ("      tts: true", "      corosync-multicast: true\n      tts: true"),
    ] {
        assert!(text.contains(from), "the example no longer contains {from:?}; update the edit");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&old, text).expect("write the old side");
    let (_server, base) = start_server_with(&[os("--compare"), old.as_os_str()]);
    let mut b = Browser::start(&chromium);
    let downloads = tempfile::tempdir().expect("temp dir");
    b.allow_downloads(downloads.path());

    // Two versions of a matrix, chosen with the form: the same flows as `portmatrix diff`.
    b.navigate(&format!("{base}diff/matrix"));
    assert_eq!(b.choose("v-old", "jtel-acd@previous"), "jtel-acd@previous", "the old version is offered");
    assert_eq!(b.choose("v-new", "jtel-acd"), "jtel-acd");
    b.click_and_wait("form.filters button[type=submit]");
    assert!(b.eval("location.search").as_str().is_some_and(|s| s.contains("new=jtel-acd")), "a plain GET form");
    let (code, json) = portmatrix(&[os("diff"), os("jtel-acd@previous"), os("jtel-acd"), os("--format"), os("json")]);
    assert_eq!(code, 1, "the revisions differ");
    let cli: Value = serde_json::from_slice(&json).expect("JSON");
    for kind in ["added", "removed", "renamed"] {
        let shown = b.eval(&format!("document.querySelectorAll('#{kind}-table tbody tr').length")).as_u64().expect("a count");
        let want = cli[kind].as_array().expect("a list").len() as u64;
        assert!(want > 0, "the revision has {kind} flows");
        assert_eq!(shown, want, "{kind} flows on the page and from `portmatrix diff`");
    }
    let changed = b.eval("document.getElementById('changed-table').textContent");
    for c in cli["changed"].as_array().expect("a list") {
        let id = c["id"].as_str().expect("a flow id");
        assert!(changed.as_str().is_some_and(|t| t.contains(id)), "changed flow {id} is on the page");
    }
    b.screenshot("12-matrix-diff.png");
    let (name, csv) = b.download("a[data-format='csv']", downloads.path());
    assert!(name.ends_with(".csv"), "{name}");
    let (_, want) = portmatrix(&[os("diff"), os("jtel-acd@previous"), os("jtel-acd"), os("--format"), os("csv")]);
    assert!(!csv.is_empty() && csv == want, "the downloaded {name} differs from `portmatrix diff --format csv`");

    // Two deployments: what to open and to close, as `portmatrix diff OLD NEW` says.
    let (code, json) = portmatrix(&[os("diff"), old.as_os_str(), example_inventory().as_os_str(), os("--format"), os("json")]);
    assert_eq!(code, 1, "the deployments differ");
    let cli: Value = serde_json::from_slice(&json).expect("JSON");
    let rows = |side: &str, firewall: Option<&str>| -> usize {
        cli[side]
            .as_array()
            .expect("a list")
            .iter()
            .filter(|r| firewall.is_none_or(|f| r["firewalls"].as_array().is_some_and(|fs| fs.iter().any(|x| x == f))))
            .count()
    };
    b.navigate(&format!("{base}diff/deployment"));
    for (id, side) in [("open", "opened"), ("close", "closed")] {
        let heading = b.eval(&format!("document.querySelector('#{id} h2').textContent"));
        let want = rows(side, None);
        assert!(heading.as_str().is_some_and(|h| h.ends_with(&format!("({want})"))), "{heading} against {want} from the CLI");
    }
    assert!(rows("opened", None) + rows("closed", None) > 0);
    // acd-store2 joins: the address sets that hold its role gain it, once
    // each, as the CLI says.
    let sets = cli["sets"].as_array().expect("a list");
    assert!(sets.iter().any(|s| s["added"].as_array().is_some_and(|a| a.iter().any(|n| n == "10.10.0.22/32"))), "{sets:?}");
    let shown = b.eval("document.querySelectorAll('#sets-rows tbody tr').length").as_u64().expect("a count");
    assert_eq!(shown, sets.len() as u64, "address set changes on the page and from `portmatrix diff`");
    b.screenshot("13-deployment-diff.png");
    // Filtered by a firewall with the form: exactly the rows it enforces.
    assert_eq!(b.choose("d-firewall", "core-fw"), "core-fw", "core-fw is offered");
    b.click_and_wait("form.filters button[type=submit]");
    assert!(b.eval("location.search").as_str().is_some_and(|s| s.contains("firewall=core-fw")));
    let mut crossing = 0;
    for (id, side) in [("open", "opened"), ("close", "closed")] {
        let enforced = b.column(&format!("{id}-rows"), "enforced by");
        assert_eq!(enforced.len(), rows(side, Some("core-fw")), "{side} rows through core-fw");
        assert!(enforced.iter().all(|e| e.contains("core-fw")), "{enforced:?}");
        crossing += enforced.len();
    }
    assert!(crossing > 0, "some change crosses core-fw");
    assert!(crossing < rows("opened", None) + rows("closed", None), "the filter leaves rows out");
    b.screenshot("14-deployment-diff-core-fw.png");
    // The delta change request downloaded from the page is the CLI's, byte for byte.
    let (name, csv) = b.download("a[data-format='csv']", downloads.path());
    let (_, want) = portmatrix(&[os("diff"), old.as_os_str(), example_inventory().as_os_str(), os("--format"), os("csv")]);
    assert!(!csv.is_empty() && csv == want, "the downloaded {name} differs from `portmatrix diff OLD NEW --format csv`");
}
