#!/usr/bin/env python3
"""End-to-end check of the hnswtune dashboard in headless Chromium (stdlib only).

usage: dashboard_e2e.py URL [--expect-at-least N] [--shot PATH]

Opens URL in headless Chromium, driven over the DevTools protocol on
--remote-debugging-pipe, then:

1. waits (at most 15 s) until the trials table has at least N rows and #champion shows
   params ("ef_search="), and prints `READY <rows>`;
2. polls the DOM every 100 ms until the row count grows above that (at most 30 s) and
   prints `UPDATED <rows> <unix epoch ms when it was seen>`;
3. waits about 1 s more, takes a full-page screenshot when --shot is given;
4. prints every console error/assert/warning, uncaught exception and error log entry
   (these include "Failed to load resource" for 4xx/5xx answers) and exits 1 if there was
   any; otherwise prints `OK`.

Any timeout exits 1 with a message saying what was awaited. Chromium runs with its own
temporary profile, in its own process group, and dies with this script (also when the
script itself is killed: PR_SET_PDEATHSIG).

Used by crates/cli/tests/dashboard.rs.
"""

import argparse
import base64
import ctypes
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

WIDTH, HEIGHT = 1280, 900
READY_TIMEOUT_S = 15.0
UPDATE_TIMEOUT_S = 30.0
POLL_S = 0.1
SETTLE_S = 1.0

# What the page shows, read in one evaluation so the numbers belong together.
PROBE_JS = """(() => {
  const rows = document.querySelectorAll('#trials-table tbody tr[data-trial-id]').length;
  const champ = document.getElementById('champion');
  const count = document.getElementById('trial-count');
  const status = document.getElementById('status-line');
  const banner = document.getElementById('error-banner');
  return {
    rows,
    champion: champ ? champ.textContent : null,
    count: count ? count.textContent : null,
    status: status ? status.textContent : null,
    banner: banner && !banner.hidden ? banner.textContent : null,
  };
})()"""


class Failure(Exception):
    """A check failed; the message says which."""


def out(line):
    print(line, flush=True)


def _die_with_parent():
    """preexec_fn for Chromium: its own session (so the whole tree can be killed as one
    process group) and SIGKILL when this script dies."""
    os.setsid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass  # not Linux: the finally block still kills it on a normal exit


class Cdp:
    """Chromium with the DevTools protocol on fds 3 (commands in) and 4 (answers out)."""

    def __init__(self, profile):
        r3, w3 = os.pipe()  # chromium reads commands on fd 3
        r4, w4 = os.pipe()  # chromium writes answers on fd 4

        def preexec():
            _die_with_parent()
            # Out of the way first (either end could itself be fd 3 or 4), then into place.
            # dup2 makes the copies inheritable; pass_fds keeps 3 and 4 open across exec.
            a = fcntl.fcntl(r3, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(w4, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                "chromium",
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-pipe",
                f"--window-size={WIDTH},{HEIGHT}",
                f"--user-data-dir={profile}",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--metrics-recording-only",
                "--password-store=basic",
                "--use-mock-keychain",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=preexec,
        )
        os.close(r3)
        os.close(w4)
        self.out = os.fdopen(w3, "wb", buffering=0)
        self.inp = os.fdopen(r4, "rb", buffering=0)
        self.next_id = 0
        self.pending = {}
        self.events = []
        self.lock = threading.Lock()
        self.closed = threading.Event()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        try:
            while True:
                chunk = self.inp.read(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    if "id" in msg:
                        with self.lock:
                            waiter = self.pending.pop(msg["id"], None)
                        if waiter:
                            waiter[1] = msg
                            waiter[0].set()
                    else:
                        with self.lock:
                            self.events.append(msg)
        finally:
            self.closed.set()
            with self.lock:
                waiters = list(self.pending.values())
                self.pending.clear()
            for w in waiters:
                w[0].set()  # answer None: "the browser went away"

    def send(self, method, params=None, session=None, timeout=20.0):
        with self.lock:
            self.next_id += 1
            i = self.next_id
            waiter = [threading.Event(), None]
            self.pending[i] = waiter
        msg = {"id": i, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            self.out.write(json.dumps(msg).encode() + b"\0")
        except OSError as e:
            raise Failure(f"Chromium is gone (writing {method}: {e})")
        if not waiter[0].wait(timeout):
            raise Failure(f"Chromium did not answer {method} within {timeout:.0f} s")
        if waiter[1] is None:
            raise Failure(f"Chromium exited while answering {method} (exit code {self.proc.poll()})")
        if "error" in waiter[1]:
            raise Failure(f"{method}: {waiter[1]['error']}")
        return waiter[1].get("result", {})

    def events_so_far(self):
        with self.lock:
            return list(self.events)

    def close(self):
        if self.proc.poll() is None and not self.closed.is_set():
            try:
                self.send("Browser.close", timeout=5)
            except Exception:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the tree (renderers, zygotes): one SIGKILL for the group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.out, self.inp):
            try:
                f.close()
            except OSError:
                pass


class Page:
    def __init__(self, cdp):
        self.cdp = cdp
        target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.send(domain)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )

    def send(self, method, params=None, timeout=20.0):
        return self.cdp.send(method, params, session=self.session, timeout=timeout)

    def eval(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, timeout=10)
        if "exceptionDetails" in r:
            raise Failure(f"evaluating the probe failed: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def probe(self):
        return self.eval(PROBE_JS) or {}

    def screenshot(self, path):
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        height = max(HEIGHT, int(size["height"] + 0.999))
        data = self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
            },
            timeout=30,
        )["data"]
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return height


def describe(p):
    return (
        f"rows={p.get('rows')} #trial-count={p.get('count')!r} #champion={p.get('champion')!r} "
        f"#status-line={p.get('status')!r} #error-banner={p.get('banner')!r}"
    )


def problems(events):
    """Every console error/assert/warning, uncaught exception and error log entry."""
    bad = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled":
            if p.get("type") in ("error", "assert", "warning"):
                text = " ".join(
                    str(a.get("value", a.get("description", a.get("type", "")))) for a in p.get("args", [])
                )
                bad.append(f"console.{p.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = (d.get("exception") or {}).get("description") or d.get("text")
            where = f" at {d.get('url', '')}:{d.get('lineNumber', '?')}" if d.get("url") else ""
            bad.append(f"uncaught exception: {text}{where}")
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("level") == "error":
                url = f" ({e['url']})" if e.get("url") else ""
                bad.append(f"log.error [{e.get('source')}]: {e.get('text')}{url}")
    return bad


def run(args, cdp):
    page = Page(cdp)
    nav = page.send("Page.navigate", {"url": args.url})
    if nav.get("errorText"):
        raise Failure(f"could not open {args.url}: {nav['errorText']}")

    # 1. The study is on screen.
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = {}
    while True:
        last = page.probe()
        if last.get("rows", 0) >= args.expect_at_least and "ef_search=" in (last.get("champion") or ""):
            break
        if time.monotonic() > deadline:
            raise Failure(
                f"TIMEOUT: after {READY_TIMEOUT_S:.0f} s the page still does not show "
                f">= {args.expect_at_least} trial rows and a champion: {describe(last)}"
            )
        time.sleep(POLL_S)
    ready_rows = last["rows"]
    out(f"READY {ready_rows}")

    # 2. A new trial shows up by itself.
    deadline = time.monotonic() + UPDATE_TIMEOUT_S
    while True:
        last = page.probe()
        seen_ms = int(time.time() * 1000)
        if last.get("rows", 0) > ready_rows:
            break
        if time.monotonic() > deadline:
            raise Failure(
                f"TIMEOUT: no new trial row within {UPDATE_TIMEOUT_S:.0f} s of READY {ready_rows}: {describe(last)}"
            )
        time.sleep(POLL_S)
    out(f"UPDATED {last['rows']} {seen_ms}")

    # 3. Let the side polls (champion, front) and the charts catch up, then the picture.
    time.sleep(SETTLE_S)
    final = page.probe()
    out(f"page: {describe(final)}")
    if args.shot:
        height = page.screenshot(args.shot)
        out(f"screenshot: {args.shot} ({WIDTH}x{height})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--expect-at-least", type=int, default=1, metavar="N")
    ap.add_argument("--shot", metavar="PATH", help="full-page PNG taken at the end")
    args = ap.parse_args()

    # SIGTERM/SIGINT end the script through the finally blocks, so Chromium goes too.
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    profile = tempfile.mkdtemp(prefix="hnswtune-dashboard-e2e-")
    cdp = None
    failure = None
    events = []
    try:
        cdp = Cdp(profile)
        try:
            run(args, cdp)
        except Failure as e:
            failure = str(e)
        except Exception as e:  # a bug here, or an OS error (e.g. writing the shot)
            traceback.print_exc()
            failure = f"{type(e).__name__}: {e}"
        events = cdp.events_so_far()
    finally:
        if cdp is not None:
            cdp.close()
        shutil.rmtree(profile, ignore_errors=True)

    bad = problems(events)
    if bad:
        out(f"PROBLEMS: {len(bad)} console error(s), exception(s) or error log entr(y/ies):")
        for b in bad:
            out(f"  {b}")
    if failure:
        out(f"FAILED: {failure}")
    if bad or failure:
        sys.exit(1)
    out("OK")


if __name__ == "__main__":
    main()
