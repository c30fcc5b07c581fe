"""Bounds that keep ``make test`` from ever hanging, whatever a test does to its process.

- Each test (setup, call and teardown) is bounded by pytest-timeout (``timeout`` in setup.cfg,
  thread method: a test stuck inside native code is still stopped; its stacks are printed and
  the worker exits, which xdist reports as "worker crashed while running <test>").
- A crashed worker is not replaced (``--max-worker-restart=0``): pytest-xdist 3.8's loadfile
  scheduler hands the crashed module to the replacement, which crashes again or leaves the
  controller waiting forever with idle workers (seen with a test that aborts the process).
  The tests that could not run are listed at the end, and the run fails.
- A controller watchdog: if no test starts or finishes for 3 x ``timeout`` + 120 s (a module
  may raise its own bound with ``pytest.mark.timeout``, up to 3 x the default), it prints the
  tests in progress, kills the workers and exits 1 (a last resort; the per-test bound fires
  first)."""

import os
import signal
import sys
import threading
import time

WATCHDOG_SLACK_S = 120


def _children(pid):
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


class SuiteBounds:
    def __init__(self, config, timeout_s, limit_s):
        self.config = config
        self.limit_s = limit_s
        self.last_event = time.monotonic()
        self.running = {}
        self.collected = None
        self.reported = set()
        self.timed_out = []
        self.timeout_s = timeout_s
        self.lock = threading.Lock()
        if limit_s:
            threading.Thread(target=self._watch, name="suite-watchdog", daemon=True).start()

    def _event(self):
        self.last_event = time.monotonic()

    def pytest_xdist_node_collection_finished(self, node, ids):
        with self.lock:
            self.collected = set(ids) if self.collected is None else self.collected | set(ids)
        self._event()

    def pytest_runtest_logstart(self, nodeid, location):
        with self.lock:
            self.running[nodeid] = time.monotonic()
        self._event()

    def pytest_runtest_logreport(self, report):
        with self.lock:
            self.reported.add(report.nodeid)
            crashed = report.outcome == "failed" and "crashed while running" in str(
                report.longrepr)  # xdist's report for a worker that died (when="???")
            if not crashed and (report.when == "teardown" or report.outcome == "failed"
                                and report.when != "call"):
                self.running.pop(report.nodeid, None)
            if crashed:
                started = self.running.pop(report.nodeid, None)
                ran = time.monotonic() - started if started is not None else 0.0
                if self.timeout_s and ran >= self.timeout_s:
                    self.timed_out.append((report.nodeid, ran))
        self._event()

    def pytest_terminal_summary(self, terminalreporter, exitstatus):
        for nodeid, ran in self.timed_out:
            terminalreporter.write_line(
                f"{nodeid}: stopped by the per-test timeout ({self.timeout_s:.0f} s) after "
                f"{ran:.0f} s", red=True)
        if self.collected is None:
            return
        missing = sorted(self.collected - self.reported)
        if missing:
            terminalreporter.section("tests that never ran", sep="=", red=True)
            terminalreporter.write_line(
                f"{len(missing)} collected tests never ran because a worker crashed "
                "(a crashed worker is not replaced; fix the crash above and run again):")
            for nodeid in missing[:20]:
                terminalreporter.write_line(f"  {nodeid}")
            if len(missing) > 20:
                terminalreporter.write_line(f"  ... and {len(missing) - 20} more")

    def pytest_sessionfinish(self, session, exitstatus):
        if self.collected is not None and self.collected - self.reported and exitstatus == 0:
            session.exitstatus = 1

    def _watch(self):
        while True:
            time.sleep(5)
            idle = time.monotonic() - self.last_event
            if idle < self.limit_s:
                continue
            with self.lock:
                running = sorted(self.running)
            sys.__stderr__.write(
                f"\nsuite watchdog: no test started or finished for {idle:.0f} s (limit "
                f"{self.limit_s:.0f} s = 3 x per-test timeout + {WATCHDOG_SLACK_S} s); in progress: "
                f"{', '.join(running) or 'none'}; killing the workers and failing the run\n")
            sys.__stderr__.flush()
            for pid in _children(os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            os._exit(1)


def pytest_configure(config):
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return  # workers (and a plain in-process run) are bounded by pytest-timeout alone
    timeout = float(getattr(config.option, "timeout", None) or config.getini("timeout") or 0)
    config.pluginmanager.register(
        SuiteBounds(config, timeout, 3 * timeout + WATCHDOG_SLACK_S if timeout else 0),
        "suite-bounds")
