"""Starting and stopping a gateway daemon for the integration tests.

A Gateway writes its configuration into a private temporary folder, picks
free loopback ports, runs the daemon with stdout+stderr going to a log file
in that folder, waits until every listener answers and stops it by PID.

Two flavours exist:
  * "cardea" (the default): $CARDEA_PREFIX/bin/cardea with the http and
    websockets transports from $CARDEA_PREFIX/lib/cardea/transports and the
    test plugin copied from $CARDEA_BUILD/tests/plugins/.libs.
  * "janus" (CARDEA_TEST_TARGET=janus): Debian's /usr/bin/janus with the same
    settings translated, and janus.plugin.echotest standing in for the test
    plugin. Only used to check the suite's assumptions about the wire against
    the reference implementation; tests that need the test plugin are skipped
    in that mode (a janus run is a check of the tests, never of Cardea).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFIX = Path(os.environ.get("CARDEA_PREFIX", REPO / "_install"))
BUILD = Path(os.environ.get("CARDEA_BUILD", REPO))
TARGET = os.environ.get("CARDEA_TEST_TARGET", "cardea")
JANUS_BIN = Path(os.environ.get("JANUS_BIN", "/usr/bin/janus"))
JANUS_LIBDIR = Path(os.environ.get("JANUS_LIBDIR", "/usr/lib/x86_64-linux-gnu/janus"))

TEST_PLUGIN = "cardea.plugin.test"
ADMIN_SECRET = "overlord-itest"
# Sanitizer builds start and stop more slowly; the 5 s shutdown budget is
# the spec, the start budget is just patience.
START_TIMEOUT = float(os.environ.get("CARDEA_START_TIMEOUT", "20"))
STOP_TIMEOUT = float(os.environ.get("CARDEA_STOP_TIMEOUT", "5"))

# Sanitizer builds (configure --enable-sanitizers): UBSan must stop the
# daemon rather than just print, leaks are checked at exit, and any report
# in a daemon log fails the test (conftest.py). Harmless for normal builds.
SANITIZER_ENV = {"UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1", "ASAN_OPTIONS": "detect_leaks=1"}
SANITIZER_REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|\.c:\d+:\d+: runtime error:")

_handed_out = set()


def free_port():
	"""A loopback TCP port nobody listens on right now (bind 0, read, close).
	Never the shared fixed ports, never one this process handed out before."""
	for _ in range(100):
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		try:
			s.bind(("127.0.0.1", 0))
			port = s.getsockname()[1]
		finally:
			s.close()
		if port not in _handed_out and port not in (8088, 8188, 7088, 7188):
			_handed_out.add(port)
			return port
	raise RuntimeError("no free port found")


def port_open(port, host="127.0.0.1"):
	try:
		with socket.create_connection((host, port), timeout=0.5):
			return True
	except OSError:
		return False


def jcfg_value(v):
	if isinstance(v, bool):
		return "true" if v else "false"
	if isinstance(v, int):
		return str(v)
	if isinstance(v, (list, tuple)):
		return "[ " + ", ".join(jcfg_value(x) for x in v) + " ]"
	return json.dumps(str(v), ensure_ascii=False)  # \" and \\ escapes are the same in libconfig


def jcfg_text(sections):
	"""{"general": {"a": 1}} -> libconfig text. A None value drops the key."""
	out = []
	for name, keys in sections.items():
		out.append(f"{name}: {{")
		for k, v in (keys or {}).items():
			if v is not None:
				out.append(f"\t{k} = {jcfg_value(v)}")
		out.append("}")
	return "\n".join(out) + "\n"


def merge(base, extra):
	"""Deep-merges section dicts (extra wins)."""
	res = {k: dict(v) for k, v in base.items()}
	for sec, keys in (extra or {}).items():
		res.setdefault(sec, {}).update(keys or {})
	return res


class GatewayError(AssertionError):
	pass


class Gateway:
	"""One daemon. Construct, then start(). Attributes worth knowing:

	http_url / admin_url       http://127.0.0.1:P/janus, http://127.0.0.1:Q/admin
	ws_url / admin_ws_url      ws://127.0.0.1:R, ws://127.0.0.1:S
	http_port, admin_http_port, ws_port, admin_ws_port
	plugin                     package to attach to (the test plugin)
	admin_secret               the configured admin secret (None if unset)
	general                    the general {} settings written to the config
	dir, log_path, proc, returncode
	"""

	def __init__(self, flavor=None, http=None, ws=None, sections=None, files=None, args=None,
			main_text=None, wrapper=None, **general):
		self.flavor = flavor or TARGET
		self.dir = Path(tempfile.mkdtemp(prefix="cardea-itest-"))
		self.http_port, self.admin_http_port = free_port(), free_port()
		self.ws_port, self.admin_ws_port = free_port(), free_port()
		self.http_url = f"http://127.0.0.1:{self.http_port}/janus"
		self.admin_url = f"http://127.0.0.1:{self.admin_http_port}/admin"
		self.ws_url = f"ws://127.0.0.1:{self.ws_port}"
		self.admin_ws_url = f"ws://127.0.0.1:{self.admin_ws_port}"
		self.general = {
			"session_timeout": 60,
			"reclaim_session_timeout": 0,
			"admin_secret": ADMIN_SECRET,
			"server_name": "cardea-itest",
			"debug_level": 4,
		}
		self.general.update(general)
		self.admin_secret = self.general.get("admin_secret")
		self.http_cfg = merge({
			"general": {"port": self.http_port, "ip": "127.0.0.1", "base_path": "/janus"},
			"admin": {"admin_http": True, "admin_port": self.admin_http_port, "admin_ip": "127.0.0.1"},
		}, http)
		self.ws_cfg = merge({
			"general": {"ws_port": self.ws_port, "ws_ip": "127.0.0.1"},
			"admin": {"admin_ws": True, "admin_ws_port": self.admin_ws_port, "admin_ws_ip": "127.0.0.1"},
		}, ws)
		self.sections = sections or {}
		self.files = files or {}
		self.main_text = main_text   # replaces the generated main config verbatim
		self.args = list(args or [])
		self.wrapper = list(wrapper or [])   # e.g. ["valgrind", ...]: runs the daemon under it
		self.proc = None
		self.returncode = None
		self.started_at = None
		self.stopped_at = None
		self.log_path = self.dir / "daemon.log"
		self.plugin = TEST_PLUGIN if self.flavor == "cardea" else "janus.plugin.echotest"
		self.config_path = None

	# ---- configuration -------------------------------------------------

	def _write_cardea(self):
		binary = PREFIX / "bin" / "cardea"
		transports = PREFIX / "lib" / "cardea" / "transports"
		plugin_so = BUILD / "tests" / "plugins" / ".libs" / "cardea_plugin_test.so"
		for p in (binary, transports / "cardea_transport_http.so",
				transports / "cardea_transport_websockets.so", plugin_so):
			if not p.exists():
				raise GatewayError(f"missing {p}: build and `make install` into CARDEA_PREFIX={PREFIX}, "
					f"and set CARDEA_BUILD (now {BUILD}) to the build dir")
		plugins = self.dir / "plugins"
		plugins.mkdir()
		shutil.copy(plugin_so, plugins / plugin_so.name)
		main = merge({"general": self.general, "certificates": {}, "media": {}, "nat": {},
			"plugins": {}, "transports": {}, "auth": {}, "events": {}}, self.sections)
		self.config_path = self.dir / "cardea.jcfg"
		self.config_path.write_text(self.main_text if self.main_text is not None else jcfg_text(main))
		(self.dir / "cardea.transport.http.jcfg").write_text(jcfg_text(self.http_cfg))
		(self.dir / "cardea.transport.websockets.jcfg").write_text(jcfg_text(self.ws_cfg))
		self._write_files()
		return [str(binary), "-C", str(self.config_path), "-F", str(self.dir),
			"-P", str(plugins), "-T", str(transports), "-d", str(self.general.get("debug_level", 4))]

	def _write_janus(self):
		if not JANUS_BIN.exists():
			raise GatewayError(f"CARDEA_TEST_TARGET=janus but {JANUS_BIN} is missing")
		dirs = {}
		for kind, keep in (("plugins", ["libjanus_echotest.so", "libjanus_videocall.so", "libjanus_videoroom.so"]),
				("transports", ["libjanus_http.so", "libjanus_websockets.so"]),
				("events", []), ("loggers", [])):
			d = self.dir / kind
			d.mkdir()
			for so in keep:
				os.symlink(JANUS_LIBDIR / kind / so, d / so)
			dirs[kind] = d
		general = {k: v for k, v in self.general.items()
			if k not in ("max_sessions", "max_handles_per_session", "request_workers")}
		general.update({"plugins_folder": str(dirs["plugins"]), "transports_folder": str(dirs["transports"]),
			"events_folder": str(dirs["events"]), "loggers_folder": str(dirs["loggers"])})
		main = merge({"general": general, "certificates": {}, "media": {"rtp_port_range": "40000-50000"},
			"nat": {"ice_ignore_list": "vmnet", "ignore_mdns": True}, "plugins": {}, "transports": {},
			"loggers": {}, "events": {"broadcast": False}}, {k: v for k, v in self.sections.items() if k not in ("auth",)})
		self.config_path = self.dir / "janus.jcfg"
		self.config_path.write_text(self.main_text if self.main_text is not None else jcfg_text(main))
		http = merge(self.http_cfg, {"general": {"json": "compact", "http": True, "https": False},
			"admin": {"admin_base_path": "/admin", "admin_https": False}})
		ws = merge(self.ws_cfg, {"general": {"json": "compact", "ws": True, "wss": False},
			"admin": {"admin_wss": False}})
		(self.dir / "janus.transport.http.jcfg").write_text(jcfg_text(http))
		(self.dir / "janus.transport.websockets.jcfg").write_text(jcfg_text(ws))
		(self.dir / "janus.plugin.echotest.jcfg").write_text("general: {\n}\n")
		self._write_files()
		return [str(JANUS_BIN), "-C", str(self.config_path), "-F", str(self.dir), "-o",
			"-d", str(self.general.get("debug_level", 4))]

	def _write_files(self):
		for name, text in self.files.items():
			if self.flavor == "janus" and name.startswith("cardea.plugin."):
				name = "janus.plugin." + name[len("cardea.plugin."):]   # same syntax, Janus's name
			(self.dir / name).write_text(text)

	# ---- process -----------------------------------------------------------

	def start(self, wait=True):
		cmd = self._write_cardea() if self.flavor == "cardea" else self._write_janus()
		cmd = self.wrapper + cmd + self.args
		self.cmd = cmd
		self._log = open(self.log_path, "wb")
		self.started_at = time.monotonic()
		env = dict(os.environ)
		for k, v in SANITIZER_ENV.items():
			env.setdefault(k, v)
		self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
			stdin=subprocess.DEVNULL, cwd=self.dir, env=env)
		if wait:
			self.wait_ready()
		return self

	@property
	def pid(self):
		return self.proc.pid

	def alive(self):
		return self.proc is not None and self.proc.poll() is None

	def wait_ready(self, timeout=START_TIMEOUT):
		"""Polls GET /janus/info until server_info, then waits for the other
		three listeners to accept connections."""
		deadline = time.monotonic() + timeout
		last = None
		while time.monotonic() < deadline:
			if self.proc.poll() is not None:
				raise GatewayError(f"daemon exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
			try:
				with urllib.request.urlopen(self.http_url + "/info", timeout=1) as r:
					info = json.loads(r.read())
				if info.get("janus") == "server_info":
					break
				last = info
			except Exception as e:  # not listening yet
				last = e
			time.sleep(0.05)
		else:
			raise GatewayError(f"daemon not ready after {timeout}s (last: {last!r}):\n{self.log_tail()}")
		for port in (self.admin_http_port, self.ws_port, self.admin_ws_port):
			while not port_open(port):
				if time.monotonic() > deadline:
					raise GatewayError(f"port {port} never opened:\n{self.log_tail()}")
				time.sleep(0.05)
		return info

	def wait_exit(self, timeout):
		try:
			self.returncode = self.proc.wait(timeout)
		except subprocess.TimeoutExpired:
			return None
		self._closed()
		return self.returncode

	def signal(self, sig):
		if self.alive():
			os.kill(self.proc.pid, sig)

	def stop(self, timeout=STOP_TIMEOUT):
		"""SIGTERM, wait up to `timeout`, then SIGKILL. Returns (exit code,
		seconds it took); the code is -9 when it had to be killed."""
		if self.proc is None:
			return None, 0.0
		if self.proc.poll() is not None:
			self.returncode = self.proc.returncode
			self._closed()
			return self.returncode, 0.0
		t0 = time.monotonic()
		os.kill(self.proc.pid, signal.SIGTERM)
		try:
			self.returncode = self.proc.wait(timeout)
		except subprocess.TimeoutExpired:
			os.kill(self.proc.pid, signal.SIGKILL)
			self.proc.wait(5)
			self.returncode = -9
		took = time.monotonic() - t0
		self._closed()
		return self.returncode, took

	def _closed(self):
		if self.stopped_at is None:
			self.stopped_at = time.monotonic()
		if not self._log.closed:
			self._log.close()

	def log_text(self):
		try:
			return self.log_path.read_text(errors="replace")
		except OSError:
			return ""

	def sanitizer_report(self, lines=40):
		"""The first ASan/LSan/UBSan report in the daemon log, or None."""
		text = self.log_text()
		m = SANITIZER_REPORT.search(text)
		if m is None:
			return None
		start = text.rfind("\n", 0, m.start()) + 1
		return "\n".join(text[start:].splitlines()[:lines])

	def log_tail(self, lines=120):
		return "\n".join(self.log_text().splitlines()[-lines:])

	def assert_valgrind_clean(self, rc, took):
		"""After stop() of a daemon run under valgrind memcheck: no errors,
		0 bytes definitely lost, exit code 0."""
		log = self.log_text()
		summary = re.search(r"ERROR SUMMARY: (\d+) errors", log)
		assert summary, f"no valgrind summary in the log:\n{self.log_tail(60)}"
		assert summary.group(1) == "0", f"valgrind found errors:\n{self.log_tail(150)}"
		lost = re.search(r"definitely lost: ([\d,]+) bytes", log)
		assert lost is None or lost.group(1) == "0", f"definite leaks:\n{self.log_tail(150)}"
		assert rc == 0, f"exit code {rc} under valgrind after {took:.1f}s:\n{self.log_tail(60)}"

	def cleanup(self):
		if self.alive():
			self.stop()
		shutil.rmtree(self.dir, ignore_errors=True)

	def __repr__(self):
		return f"<Gateway {self.flavor} pid={self.proc.pid if self.proc else None} http={self.http_port} ws={self.ws_port}>"
