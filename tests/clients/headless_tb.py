"""A headless Thunderbird driven through Marionette, for the tests that use real
Thunderbird (tests/clients/test_thunderbird.py, tests/clientconfig): where the shared
harness is, how to start Thunderbird on a fresh profile, and how to stop it."""
import importlib.util
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import TOP

TIMEOUT = 60            # per Thunderbird step, seconds (a run takes about 3 s)


def _find_shared():
    """The shared Thunderbird harness: $LB_SHARED_DIR/thunderbird, else ../shared next to
    the repository (the developers' layout), else /work/shared (a clone elsewhere on a
    machine that has it)."""
    candidates = [os.environ.get("LB_SHARED_DIR", ""),
                  os.path.join(TOP, "..", "shared"), "/work/shared"]
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "thunderbird", "run.sh")):
            return os.path.normpath(os.path.join(c, "thunderbird"))
    return os.path.normpath(os.path.join(TOP, "..", "shared", "thunderbird"))


SHARED = _find_shared()


def need_thunderbird():
    for f in ("run.sh", "tb_test.py", "marionette.py"):
        if not os.path.exists(os.path.join(SHARED, f)):
            pytest.skip(f"the shared Thunderbird harness is not there ({SHARED}/{f})")
    if shutil.which("thunderbird") is None:
        pytest.skip("thunderbird is not installed (scripts/install-deps.sh installs it)")


def tb_harness():
    """The shared tb_test module (it imports marionette.py from its own directory)."""
    need_thunderbird()
    if "tb_test" not in sys.modules:
        spec = importlib.util.spec_from_file_location("tb_test",
                                                      os.path.join(SHARED, "tb_test.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules["tb_test"] = mod
    return sys.modules["tb_test"]


class HeadlessThunderbird:
    """Thunderbird, headless, on a fresh profile in tmp_path (its HOME inside it, so
    nothing lands in the real one), with a Marionette chrome session in .m. extra_prefs
    are user.js lines added to the harness's. Every socket it opens is audited
    (foreign_peers). close() stops it and whatever it started."""

    def __init__(self, tmp_path, extra_prefs=""):
        self.tb = tb = tb_harness()
        self.profile = tmp_path / "tb-profile"
        self.profile.mkdir()
        home = self.profile / "home"
        home.mkdir()
        mport = tb.free_port()
        (self.profile / "user.js").write_text(tb.USER_JS.replace("{mport}", str(mport)) +
                                              extra_prefs)
        env = dict(os.environ, MOZ_HEADLESS="1", MOZ_CRASHREPORTER_DISABLE="1",
                   MOZ_DISABLE_AUTO_SAFE_MODE="1", TMPDIR=str(self.profile),
                   HOME=str(home))
        self.log = open(tmp_path / "thunderbird.log", "wb")
        self.proc = subprocess.Popen(
            [shutil.which("thunderbird"), "--headless", "--no-remote", "--profile",
             str(self.profile), "--marionette", "-remote-allow-system-access"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.audit = tb.SocketAudit(self.proc.pid)
        self.audit.start()
        self.m = None
        try:
            self.m = tb.Marionette("127.0.0.1", mport, connect_timeout=TIMEOUT)
            self.m.start_chrome_session(script_timeout_ms=(TIMEOUT + 30) * 1000)
        except BaseException:
            self.close()
            raise

    def run(self, script, cfg):
        return self.tb.js(self.m, script, [cfg], timeout=TIMEOUT + 60)

    def close(self):
        self.audit.stop.set()
        if self.m is not None:
            self.m.quit()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:    # leftovers in the process group Thunderbird was started in
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()

    def foreign_peers(self):
        self.audit.sample()
        return self.audit.foreign()
