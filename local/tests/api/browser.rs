//! A real headless Chromium, driven through the DevTools protocol over its pipe
//! transport (`--remote-debugging-pipe`: JSON messages ending in NUL on file
//! descriptors 3 and 4), so no WebSocket client and no browser download: the
//! Debian package `chromium` that `.ci/run` installs. `ALILO_CHROMIUM` names
//! another binary.

use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// One browser with one page, signed in to nothing; dropped, it is killed and
/// its profile removed.
pub struct Browser {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
    next_id: u64,
    session: String,
    profile: std::path::PathBuf,
}

/// Where Chromium is: `ALILO_CHROMIUM`, else the Debian package's path.
fn binary() -> String {
    std::env::var("ALILO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and opens a blank page.
    pub async fn start() -> Self {
        let bin = binary();
        assert!(
            std::path::Path::new(&bin).exists(),
            "no Chromium at {bin}: `apt-get install -y chromium` (as .ci/run does) or set ALILO_CHROMIUM"
        );
        let profile = std::env::temp_dir().join(format!("alilo-chromium-{}", uuid::Uuid::new_v4().simple()));
        // The shell hands our stdin/stdout to Chromium as fds 3 and 4, the pipe transport's.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 1>/dev/null 0</dev/null"#)
            .arg(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        let to = child.stdin.take().unwrap();
        let from = BufReader::new(child.stdout.take().unwrap());
        let mut browser = Self { child, to, from, next_id: 0, session: String::new(), profile };
        let target = browser.call(None, "Target.createTarget", json!({"url": "about:blank"})).await;
        let target = target["targetId"].as_str().expect("a target id").to_string();
        let attached = browser.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true})).await;
        browser.session = attached["sessionId"].as_str().expect("a session id").to_string();
        browser.command("Page.enable", json!({})).await;
        browser
    }

    /// Sends a command (to the page's session when `session` is set) and waits
    /// for its answer, skipping events; a protocol error fails the test.
    async fn call(&mut self, session: Option<String>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = Value::String(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).await.expect("write to chromium");
        self.to.flush().await.unwrap();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = tokio::time::timeout(Duration::from_secs(30), self.from.read_until(0, &mut buf))
                .await
                .unwrap_or_else(|_| panic!("chromium did not answer {method} in 30 s"))
                .expect("read from chromium");
            assert!(read > 0, "chromium closed the pipe during {method}");
            let _ = buf.pop_if(|b| *b == 0);
            let answer: Value = serde_json::from_slice(&buf).expect("chromium sends JSON");
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// A command to the page.
    pub async fn command(&mut self, method: &str, params: Value) -> Value {
        let session = Some(self.session.clone());
        self.call(session, method, params).await
    }

    /// Opens `url` in the page.
    pub async fn goto(&mut self, url: &str) {
        let answer = self.command("Page.navigate", json!({"url": url})).await;
        assert!(answer.get("errorText").is_none(), "{url}: {answer}");
    }

    /// Evaluates `js` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, js: &str) -> Value {
        let answer = self
            .command("Runtime.evaluate", json!({"expression": js, "awaitPromise": true, "returnByValue": true}))
            .await;
        assert!(answer.get("exceptionDetails").is_none(), "{js}: {answer}");
        answer["result"]["value"].clone()
    }

    /// Evaluates `js` every 250 ms until it gives something other than null,
    /// false or undefined; fails after `secs` with `what` and the page's text.
    pub async fn wait_for(&mut self, secs: u64, what: &str, js: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.eval(&format!("(() => {{ try {{ return ({js}); }} catch (e) {{ return null; }} }})()")).await;
            if !(v.is_null() || v == false) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                let text = self.eval("document.body ? document.body.innerText : ''").await;
                panic!("timed out after {secs} s waiting for {what}; the page shows:\n{}", text.as_str().unwrap_or(""));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Clicks the middle of the element `selector` with the mouse, as a user would.
    pub async fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const r = document.querySelector({}).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            serde_json::to_string(selector).unwrap()
        );
        let at = self.eval(&js).await;
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.command(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Types `text` into the focused element.
    pub async fn type_text(&mut self, text: &str) {
        self.command("Input.insertText", json!({"text": text})).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
