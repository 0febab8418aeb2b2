#!/usr/bin/env python3
"""Passkeys in a real browser: headless Chromium with a virtual WebAuthn authenticator, driven over CDP.

    scripts/passkeys_browser.sh            (builds, then runs this; Python standard library only)

Starts the real `gatehouse serve` on a free port (SQLite and mail folder in a temp dir, issuer
http://localhost:PORT), creates a user with a password and confidential clients with the CLI, starts
headless Chromium with a fresh profile and a virtual authenticator (CTAP2, internal, resident keys, user
verification), then walks the pages as a person would:

  1. sign in with the password on /account, add a passkey on /account/passkeys, see it listed; adding
     the same authenticator again is refused (excludeCredentials) with the page's message;
  2. delete the session cookie, sign in on /account with the passkey button only ("Keep me signed in"
     ticked: the new session cookie is persistent), land signed in; the portal shows "last used";
  3. sign out; a refused user verification shows the error on the page, the retry signs in;
  4. sign out; the email field's autofill (conditional mediation) signs in without a click;
  5. in a fresh cookie context (the passkey moved to that tab's authenticator with its counter), start an
     OIDC authorization (PKCE), sign in with the passkey button on /login, get redirected to the redirect
     URI with the code and state, redeem the code, check the ID token's nonce and amr (hwk/swk + mfa);
  6. for a client that requires a second factor: password on /login, then the passkey on /login/mfa,
     redirect with a code, amr pwd + hwk + mfa.

Every navigator.credentials call the pages make is recorded (RECORDER), so each step checks which
ceremony (the button's modal request or the autofill one) actually signed the person in.

Screenshots go to target/screenshots/passkeys-*.png. Prints PASS/FAIL per step; exits 1 on a failure.
Environment: CHROMIUM (browser binary), GATEHOUSE_BIN (default target/debug/gatehouse), KEEP_TMP=1.
"""

import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(ROOT, "target", "screenshots")
EMAIL = "pat@example.com"
PASSWORD = "correct horse battery staple"
CLIENT_ID = "passkey-demo"
MFA_CLIENT_ID = "passkey-mfa-demo"
CLIENT_SECRET = "s3cret-" + "x" * 40
TIMEOUT = 20.0

# Runs in every document before the page's scripts: records each navigator.credentials call the page makes
# (get / get:conditional / create) and how it ended, through a CDP binding (Runtime.bindingCalled), so a
# step can tell which ceremony signed the person in even after the page has gone to another origin.
RECORDER = r"""
(() => {
  const c = navigator.credentials;
  if (!c || typeof c.get !== 'function') return;
  const log = (entry) => {
    try { window.gatehouseRecord(JSON.stringify(entry)); } catch (_) {}
  };
  for (const method of ['get', 'create']) {
    const original = c[method].bind(c);
    c[method] = function (options) {
      const kind = method + (options && options.mediation ? ':' + options.mediation : '');
      log({kind, ev: 'start', path: location.pathname});
      const promise = original(options);
      promise.then(
        (cred) => log({kind, ev: cred ? 'resolved' : 'null'}),
        (e) => log({kind, ev: 'rejected', name: e && e.name, message: String(e && e.message)}));
      return promise;
    };
  }
})();
"""

results = []


def log(msg):
    print(msg, flush=True)


class StepFailed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise StepFailed(message)


# ---------------------------------------------------------------------------------------------------
# A minimal WebSocket client (RFC 6455), enough for the DevTools protocol on loopback.


class WebSocket:
    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        path = parsed.path + (("?" + parsed.query) if parsed.query else "")
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        head, self.buffer = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError("websocket handshake refused: " + head.decode(errors="replace"))

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        message = b""
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if b0 & 0x80:
                    return message.decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class CDP:
    """One browser-level DevTools connection; pages are flattened sessions on it."""

    def __init__(self, url):
        self.ws = WebSocket(url)
        self.next_id = 0
        self.events = []

    def call(self, method, params=None, session=None, timeout=TIMEOUT):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"CDP {method}: no answer in {timeout}s")
            data = json.loads(self.ws.recv(left))
            if data.get("id") == mid:
                if "error" in data:
                    raise RuntimeError(f"CDP {method}: {data['error']}")
                return data.get("result", {})
            if "method" in data:
                self.events.append(data)


class Page:
    """A tab in its own browser context (its own cookies), with its own virtual authenticator."""

    def __init__(self, cdp, name):
        self.cdp = cdp
        self.name = name
        self.context = cdp.call("Target.createBrowserContext", {"disposeOnDetach": True})["browserContextId"]
        target = cdp.call("Target.createTarget", {"url": "about:blank", "browserContextId": self.context})
        self.target = target["targetId"]
        self.session = cdp.call("Target.attachToTarget", {"targetId": self.target, "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        self.call("WebAuthn.enable", {"enableUI": False})
        self.call("Runtime.addBinding", {"name": "gatehouseRecord"})
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
        self.calls_from = 0
        self.authenticator = self.call("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }})["authenticatorId"]

    def call(self, method, params=None, timeout=TIMEOUT):
        return self.cdp.call(method, params, session=self.session, timeout=timeout)

    def eval(self, expression, gesture=False):
        result = self.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True, "userGesture": gesture,
        })
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def try_eval(self, expression):
        try:
            return self.eval(expression)
        except (RuntimeError, TimeoutError):
            return None  # the document is being replaced

    def wait_for(self, predicate_js, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.try_eval(f"document.readyState === 'complete' && !!({predicate_js})"):
                return
            time.sleep(0.1)
        raise StepFailed(f"timed out waiting for {what}; at {self.url()}: {self.text()[:600]!r}")

    def mark(self):
        """Tag the current document; `wait_new_document` then waits for another one."""
        self.eval("window.__gatehouseOldDocument = true")

    def wait_new_document(self, what, timeout=TIMEOUT):
        self.wait_for("!window.__gatehouseOldDocument", what, timeout)

    def goto(self, url):
        self.mark()
        result = self.call("Page.navigate", {"url": url})
        check("errorText" not in result, f"navigation to {url} failed: {result.get('errorText')}")
        self.wait_new_document(f"navigation to {url}")

    def url(self):
        return self.try_eval("location.href") or "?"

    def text(self):
        return self.try_eval("document.body ? document.body.innerText : ''") or ""

    def click(self, selector, what):
        """A trusted click (Input.dispatchMouseEvent) in the middle of the element, as a person would."""
        box = self.eval(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            if (!el) return null;
            el.scrollIntoView({{block: 'center'}});
            const r = el.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height}};
        }})()""")
        check(box is not None, f"{what}: no element {selector} on {self.url()}")
        check(box["w"] > 0 and box["h"] > 0, f"{what}: {selector} is not visible (hidden form?)")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent",
                      {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1})

    def fill(self, selector, value):
        ok = self.eval(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            if (!el) return false;
            el.focus(); el.value = {json.dumps(value)};
            el.dispatchEvent(new Event('input', {{bubbles: true}}));
            return true;
        }})()""")
        check(ok, f"no field {selector} on {self.url()}")

    def screenshot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path = os.path.join(SHOTS, f"passkeys-{name}.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        log(f"      screenshot {os.path.relpath(path, ROOT)}")

    def credentials(self):
        return self.call("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})["credentials"]

    def presence(self, enabled):
        """Whether the authenticator answers at once (a person touching it / picking it from autofill)."""
        self.call("WebAuthn.setAutomaticPresenceSimulation",
                  {"authenticatorId": self.authenticator, "enabled": enabled})

    def ceremonies(self):
        """The WebAuthn calls the pages made (see RECORDER), oldest first."""
        self.try_eval("0")  # a round trip collects the events sent before it
        return [json.loads(e["params"]["payload"]) for e in self.cdp.events[self.calls_from:]
                if e.get("sessionId") == self.session and e["method"] == "Runtime.bindingCalled"
                and e["params"]["name"] == "gatehouseRecord"]

    def clear_ceremonies(self):
        self.calls_from = len(self.cdp.events)

    def wait_ceremony(self, kind, event, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(c.get("kind") == kind and c.get("ev") == event for c in self.ceremonies()):
                return
            time.sleep(0.1)
        raise StepFailed(f"timed out waiting for {what} ({kind} {event}); calls: {self.ceremonies()}")

    def take_credential_from(self, other):
        """Move the passkey (with its current signature counter) from another tab's authenticator: the
        same device in another cookie context. Copying it instead would be a cloned authenticator."""
        credential = other.credentials()[0]
        other.call("WebAuthn.removeCredential",
                   {"authenticatorId": other.authenticator, "credentialId": credential["credentialId"]})
        self.add_credential(credential)

    def add_credential(self, credential):
        self.call("WebAuthn.addCredential", {"authenticatorId": self.authenticator, "credential": credential})

    def close(self):
        try:
            self.cdp.call("Target.closeTarget", {"targetId": self.target})
            self.cdp.call("Target.disposeBrowserContext", {"browserContextId": self.context})
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass


# ---------------------------------------------------------------------------------------------------
# The redirect URI: a tiny server on loopback that records the authorization responses.


class Callback:
    def __init__(self):
        self.hits = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                outer.hits.append(urllib.parse.urlparse(self.path))
                body = b"<!doctype html><title>Callback</title><h1>Back at the app</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/cb"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.hits) >= count:
                return urllib.parse.parse_qs(self.hits[count - 1].query)
            time.sleep(0.1)
        return None

    def close(self):
        self.server.shutdown()


# ---------------------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def find_chromium():
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


class Harness:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="gatehouse-passkeys-")
        self.procs = []
        self.bin = os.environ.get("GATEHOUSE_BIN", os.path.join(ROOT, "target", "debug", "gatehouse"))
        self.port = free_port()
        self.issuer = f"http://localhost:{self.port}"
        self.config = os.path.join(self.tmp, "gatehouse.toml")
        with open(self.config, "w") as f:
            f.write(f"""[server]
issuer = "{self.issuer}"
bind = "127.0.0.1:{self.port}"
workers = 2

[database]
url = "sqlite://{self.tmp}/gatehouse.db"

[keys]
encryption_key = "{base64.b64encode(os.urandom(32)).decode()}"

[mail]
transport = "folder"
folder = "{self.tmp}/mail"

[log]
level = "info"
""")
        self.server_log = os.path.join(self.tmp, "gatehouse.log")

    def cli(self, *args, stdin=None):
        run = subprocess.run([self.bin, "--config", self.config, *args], input=stdin, capture_output=True,
                             text=True, timeout=60)
        if run.returncode != 0:
            raise StepFailed(f"gatehouse {' '.join(args)}: exit {run.returncode}: {run.stderr.strip()}")
        return run.stdout

    def start_server(self):
        log_file = open(self.server_log, "w")
        proc = subprocess.Popen([self.bin, "--config", self.config, "serve"], stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            check(proc.poll() is None, f"gatehouse serve exited with {proc.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise StepFailed("gatehouse serve did not answer /healthz in 30s")

    def start_chromium(self):
        browser = find_chromium()
        check(browser is not None, "Chromium not found (apt-get install -y chromium, or set CHROMIUM)")
        version = subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip()
        log(f"      browser: {version}")
        profile = os.path.join(self.tmp, "profile")
        proc = subprocess.Popen([
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
            "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1280,1000",
            "about:blank",
        ], stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "chromium.log"), "w"),
            start_new_session=True)
        self.procs.append(proc)
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            check(proc.poll() is None, f"chromium exited with {proc.returncode}")
            if os.path.exists(port_file):
                lines = open(port_file).read().split()
                if len(lines) >= 2:
                    return CDP(f"ws://127.0.0.1:{lines[0]}{lines[1]}")
            time.sleep(0.1)
        raise StepFailed("chromium wrote no DevToolsActivePort in 30s")

    def tail(self, n=30):
        try:
            text = re.sub(r"\x1b\[[0-9;]*m", "", open(self.server_log).read())
            return "\n".join(text.splitlines()[-n:])
        except OSError:
            return ""

    def token(self, code, verifier, redirect_uri, client_id=CLIENT_ID):
        body = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }).encode()
        auth = base64.b64encode(f"{client_id}:{CLIENT_SECRET}".encode()).decode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/token", data=body, headers={
            "Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded",
        })
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise StepFailed(f"/token answered {e.code}: {e.read().decode(errors='replace')}")

    def cleanup(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 15)
                    proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, 9)
                    except OSError:
                        pass
        if os.environ.get("KEEP_TMP"):
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def step(name, fn):
    try:
        fn()
    except StepFailed as e:
        results.append((name, False))
        log(f"FAIL  {name}: {e}")
        return False
    except Exception as e:  # noqa: BLE001 - report any breakage as this step's failure
        results.append((name, False))
        log(f"FAIL  {name}: {type(e).__name__}: {e}")
        traceback.print_exc()
        return False
    results.append((name, True))
    log(f"PASS  {name}")
    return True


def authorize_url(h, client_id, redirect_uri, state, nonce):
    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
        "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256",
    })
    return f"{h.issuer}/authorize?{query}", verifier


def main():
    h = Harness()
    callback = Callback()
    state = {}

    def setup():
        check(os.path.exists(h.bin), f"{h.bin} missing: run cargo build first")
        h.cli("migrate")
        h.cli("user", "create", "--email", EMAIL, "--name", "Pat Passkey", "--email-verified",
              "--password-stdin", stdin=PASSWORD + "\n")
        for cid in (CLIENT_ID, MFA_CLIENT_ID):
            h.cli("client", "create", "--name", f"Demo app {cid}", "--id", cid, "--secret", CLIENT_SECRET,
                  "--redirect-uri", callback.uri, "--skip-consent")
        h.cli("client", "mfa", MFA_CLIENT_ID, "--required", "true")
        h.start_server()
        log(f"      gatehouse at {h.issuer}, redirect URI {callback.uri}")

    def browser():
        state["cdp"] = h.start_chromium()
        state["page"] = Page(state["cdp"], "main")

    def password_sign_in():
        page = state["page"]
        page.goto(f"{h.issuer}/account")
        page.wait_for("document.querySelector('form[action=\"/account/login\"]')", "the account sign-in page")
        check(page.eval("!document.querySelector('form[action=\"/account/login/passkey\"]').hidden"),
              "the passkey form on /account is hidden (passkeys.js did not show it, or passkeys are off)")
        page.screenshot("account-login")
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.mark()
        page.click('form[action="/account/login"] button.button-primary', "password sign-in")
        page.wait_new_document("the account page after the password sign-in")
        check(not page.eval("!!document.querySelector('form[action=\"/account/login\"]')"),
              f"still on the sign-in page: {page.text()[:300]!r}")

    def add_passkey():
        page = state["page"]
        page.goto(f"{h.issuer}/account/passkeys")
        page.wait_for("document.querySelector('h1')", "the passkeys page")
        check("/account/passkeys" in page.url(), f"not on /account/passkeys but {page.url()}")
        check(page.eval("!!document.querySelector('form[data-passkey=\"create\"]')"),
              f"no 'Add a passkey' form: {page.text()[:400]!r}")
        check(page.eval("!document.querySelector('form[data-passkey=\"create\"]').hidden"),
              "the 'Add a passkey' form stays hidden")
        page.screenshot("portal-empty")
        page.fill("#passkey-name", "Virtual laptop")
        page.mark()
        page.click('form[data-passkey="create"] button[type=submit]', "add a passkey")
        try:
            page.wait_new_document("the passkeys page after adding one")
        except StepFailed:
            error = page.try_eval("(document.querySelector('.passkey-error')||{}).textContent")
            raise StepFailed(f"the ceremony did not post; passkey-error: {error!r}")
        creds = page.credentials()
        check(len(creds) == 1, f"the virtual authenticator holds {len(creds)} credentials, expected 1")
        check(creds[0]["isResidentCredential"], "the passkey is not discoverable (resident)")
        check(creds[0].get("rpId") == "localhost", f"rpId is {creds[0].get('rpId')}, expected localhost")
        state["credential"] = creds[0]
        text = page.text()
        check("Virtual laptop" in text, f"the new passkey is not listed: {text[:500]!r}")
        check(page.eval("!document.querySelector('.alert[role=alert]:not([hidden])')")
              or "Virtual laptop" in text, "an error is shown")
        page.screenshot("portal")
        # The same authenticator again: excludeCredentials makes it refuse, and the page says so.
        page.fill("#passkey-name", "Same laptop")
        page.click('form[data-passkey="create"] button[type=submit]', "add the same passkey again")
        page.wait_for("!document.querySelector('form[data-passkey=\"create\"] .passkey-error').hidden",
                      "the error for a passkey registered twice")
        error = page.eval("document.querySelector('form[data-passkey=\"create\"] .passkey-error').textContent")
        check("already registered" in error, f"unexpected error for a duplicate: {error!r}")
        check(len(page.credentials()) == 1, "the authenticator registered the same passkey twice")
        log(f"      same authenticator again: {error!r}")

    def session_cookies(page):
        """The session cookie (`gh_session`, `__Host-gh_session` over TLS), not the browser binding one."""
        return [c for c in page.call("Network.getCookies", {"urls": [h.issuer]})["cookies"]
                if c["name"].endswith("session")]

    def button_sign_in(page, form, what):
        """With the page's autofill (conditional) request pending, the person clicks the passkey button."""
        page.wait_for(f"document.querySelector('{form}') && !document.querySelector('{form}').hidden",
                      f"the passkey button on {what}")
        if page.eval("PublicKeyCredential.isConditionalMediationAvailable ? "
                     "PublicKeyCredential.isConditionalMediationAvailable() : false"):
            page.wait_ceremony("get:conditional", "start", "the autofill request")
        page.presence(True)
        page.mark()
        page.click(f"{form} button[type=submit]", f"the passkey button on {what}")

    def modal_get_resolved(page):
        calls = page.ceremonies()
        check(any(c["kind"] == "get" and c["ev"] == "resolved" for c in calls),
              f"the button's request did not sign in; calls: {calls}")
        check(not any(c["kind"] == "get:conditional" and c["ev"] == "resolved" for c in calls),
              f"the autofill request answered, not the button's; calls: {calls}")
        return calls

    def passkey_sign_in_account():
        page = state["page"]
        session = session_cookies(page)
        check(session, "no session cookie")
        page.call("Network.deleteCookies", {"name": session[0]["name"], "url": h.issuer})
        page.clear_ceremonies()
        page.presence(False)  # nothing answers until the person acts
        page.goto(f"{h.issuer}/account")
        page.wait_for("document.querySelector('form[action=\"/account/login/passkey\"]')",
                      "the account sign-in page after dropping the cookies")
        before = page.credentials()[0]["signCount"]
        page.eval("document.getElementById('remember').checked = true")  # "Keep me signed in"
        button_sign_in(page, 'form[action="/account/login/passkey"]', "/account")
        try:
            page.wait_new_document("the account page after the passkey sign-in")
        except StepFailed:
            error = page.try_eval("(document.querySelector('.passkey-error')||{}).textContent")
            raise StepFailed(f"the passkey sign-in did not post; passkey-error: {error!r}; "
                             f"calls: {page.ceremonies()}")
        check(urllib.parse.urlparse(page.url()).path == "/account", f"landed on {page.url()}, not /account")
        check(not page.eval("!!document.querySelector('form[action=\"/account/login\"]')"),
              f"not signed in: {page.text()[:400]!r}")
        check(EMAIL in page.text() or "Pat Passkey" in page.text(),
              f"the account page does not show the person: {page.text()[:400]!r}")
        after = page.credentials()[0]["signCount"]
        check(after > before, f"the authenticator was not used (signCount {before} -> {after})")
        log(f"      calls: {modal_get_resolved(page)}")
        page.screenshot("account-signed-in")
        session = session_cookies(page)
        check(session and not session[0]["session"] and session[0]["expires"] > time.time() + 86400,
              f"'Keep me signed in' was not carried to the passkey sign-in: {session}")
        page.goto(f"{h.issuer}/account/passkeys")
        page.wait_for("document.querySelector('h1')", "the passkeys page")
        check("last used" in page.text(), f"the passkey does not show its last use: {page.text()[:500]!r}")

    def sign_out(page):
        page.goto(f"{h.issuer}/account")
        page.wait_for("document.querySelector('form[action=\"/end_session\"]')", "the Sign out button")
        page.mark()
        page.click('form[action="/end_session"] button[type=submit]', "Sign out")
        page.wait_new_document("the page after signing out")
        check(not any(c["value"] for c in session_cookies(page)), "still a session cookie after signing out")

    def cancelled_then_retried():
        page = state["page"]
        sign_out(page)
        page.clear_ceremonies()
        page.presence(False)
        page.goto(f"{h.issuer}/account")
        page.wait_for("document.querySelector('form[action=\"/account/login\"]')", "the account sign-in page")
        page.call("WebAuthn.setUserVerified", {"authenticatorId": page.authenticator, "isUserVerified": False})
        try:
            button_sign_in(page, 'form[action="/account/login/passkey"]', "/account")
            page.wait_for("!document.querySelector('form[action=\"/account/login/passkey\"] .passkey-error').hidden",
                          "the error after a refused user verification")
            error = page.eval("document.querySelector('.passkey-error').textContent")
            check(page.eval("!!window.__gatehouseOldDocument"), "the page was submitted after a refusal")
            log(f"      refused verification: {error!r}")
            page.screenshot("account-login-error")
        finally:
            page.call("WebAuthn.setUserVerified", {"authenticatorId": page.authenticator, "isUserVerified": True})
        page.click('form[action="/account/login/passkey"] button[type=submit]', "the passkey button again")
        page.wait_new_document("the account page after retrying")
        check(urllib.parse.urlparse(page.url()).path == "/account"
              and not page.eval("!!document.querySelector('form[action=\"/account/login\"]')"),
              f"the retry did not sign in: {page.url()} {page.text()[:300]!r}")
        calls = page.ceremonies()
        check([c["ev"] for c in calls if c["kind"] == "get"][-2:] == ["rejected", "resolved"] or
              [c["ev"] for c in calls if c["kind"] == "get"].count("resolved") == 1,
              f"unexpected calls: {calls}")
        log(f"      calls: {calls}")

    def autofill_sign_in_account():
        page = state["page"]
        sign_out(page)
        page.clear_ceremonies()
        page.presence(True)  # the person picks the passkey in the email field's autofill
        page.goto(f"{h.issuer}/account")
        page.wait_for("location.pathname === '/account' && !document.querySelector('form[action=\"/account/login\"]')",
                      "the account page, signed in through autofill")
        calls = page.ceremonies()
        check(any(c["kind"] == "get:conditional" and c["ev"] == "resolved" for c in calls),
              f"not signed in by the autofill request; calls: {calls}")
        log(f"      calls: {calls}")

    def oidc_passkey_sign_in():
        page = Page(state["cdp"], "oidc")
        state["oidc_page"] = page
        page.take_credential_from(state["page"])
        page.presence(False)
        url, verifier = authorize_url(h, CLIENT_ID, callback.uri, "x", "y")
        page.goto(url)
        page.wait_for("document.querySelector('form[action=\"/login/passkey\"]')", "the login page")
        check(urllib.parse.urlparse(page.url()).path == "/login", f"not on /login but {page.url()}")
        page.wait_for("!document.querySelector('form[action=\"/login/passkey\"]').hidden",
                      "the passkey button to show")
        page.screenshot("login")
        hits = len(callback.hits)
        button_sign_in(page, 'form[action="/login/passkey"]', "/login")
        query = callback.wait(hits + 1)
        if query is None:
            error = page.try_eval("(document.querySelector('.passkey-error, .alert')||{}).textContent")
            raise StepFailed(f"no redirect to the client; at {page.url()}; error shown: {error!r}; "
                             f"calls: {page.ceremonies()}")
        check(query.get("state") == ["x"], f"state is {query.get('state')}")
        check("code" in query, f"no code in the redirect: {query}")
        page.wait_for("location.href.startsWith(" + json.dumps(callback.uri) + ")", "the redirect URI")
        modal_get_resolved(page)
        tokens = h.token(query["code"][0], verifier, callback.uri)
        claims = jwt_claims(tokens["id_token"])
        log(f"      id_token amr={claims.get('amr')} acr={claims.get('acr')} nonce={claims.get('nonce')}")
        check(claims.get("nonce") == "y", f"nonce is {claims.get('nonce')}")
        amr = claims.get("amr") or []
        check(("hwk" in amr or "swk" in amr) and "mfa" in amr, f"amr is {amr}, expected hwk/swk + mfa")

    def mfa_second_factor():
        page = Page(state["cdp"], "mfa")
        state["mfa_page"] = page
        page.take_credential_from(state["oidc_page"])
        page.presence(False)
        url, verifier = authorize_url(h, MFA_CLIENT_ID, callback.uri, "mfa-state", "mfa-nonce")
        page.goto(url)
        page.wait_for("document.querySelector('form[action=\"/login\"]')", "the login page")
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.mark()
        page.click('form[action="/login"] button.button-primary', "password sign-in on /login")
        page.wait_new_document("the page after the password")
        check(urllib.parse.urlparse(page.url()).path == "/login/mfa", f"not on /login/mfa but {page.url()}: "
              f"{page.text()[:300]!r}")
        page.wait_for("document.querySelector('form[action=\"/login/mfa/passkey\"]')"
                      " && !document.querySelector('form[action=\"/login/mfa/passkey\"]').hidden",
                      "the 'Use a passkey' button")
        page.screenshot("mfa")
        hits = len(callback.hits)
        page.presence(True)
        page.click('form[action="/login/mfa/passkey"] button[type=submit]', "use a passkey on /login/mfa")
        query = callback.wait(hits + 1)
        if query is None:
            error = page.try_eval("(document.querySelector('.passkey-error, .alert')||{}).textContent")
            raise StepFailed(f"no redirect to the client; at {page.url()}; error shown: {error!r}; "
                             f"calls: {page.ceremonies()}")
        check(query.get("state") == ["mfa-state"] and "code" in query, f"bad redirect: {query}")
        tokens = h.token(query["code"][0], verifier, callback.uri, client_id=MFA_CLIENT_ID)
        claims = jwt_claims(tokens["id_token"])
        log(f"      id_token amr={claims.get('amr')} acr={claims.get('acr')}")
        amr = claims.get("amr") or []
        check("pwd" in amr and "mfa" in amr, f"amr is {amr}, expected pwd + hwk/swk + mfa")

    try:
        ok = step("setup: gatehouse serve, user with password, clients (CLI)", setup)
        ok = ok and step("chromium + virtual authenticator (ctap2, internal, rk, uv)", browser)
        if ok:
            if step("password sign-in on /account", password_sign_in):
                if step("add a passkey on /account/passkeys, listed", add_passkey):
                    step("session cookie deleted: passkey button only on /account (+ keep me signed in)",
                         passkey_sign_in_account)
                    step("signed out: refused user verification shows an error, retry signs in",
                         cancelled_then_retried)
                    step("signed out: autofill (conditional UI) sign-in on /account",
                         autofill_sign_in_account)
                    step("OIDC /authorize in a fresh context: passkey on /login -> redirect with code",
                         oidc_passkey_sign_in)
                    step("MFA client: password then passkey on /login/mfa -> redirect with code",
                         mfa_second_factor)
    finally:
        for key in ("mfa_page", "oidc_page", "page"):
            if key in state:
                state[key].close()
        if "cdp" in state:
            state["cdp"].ws.close()
        callback.close()
        failed = [n for n, ok in results if not ok]
        if failed:
            log("---- gatehouse log (tail) ----\n" + h.tail())
        h.cleanup()
    passed = sum(1 for _, ok in results if ok)
    log(f"{passed} passed, {len(results) - passed} failed")
    return 1 if len(results) - passed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
