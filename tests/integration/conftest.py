"""Fixtures for the integration suite (pytest, Debian's /usr/bin/python3).

Run:  /usr/bin/python3 -m pytest tests/integration -q
Env:  CARDEA_PREFIX  install tree holding bin/cardea and lib/cardea/transports
                     (default <repo>/_install)
      CARDEA_BUILD   build dir holding tests/plugins/.libs/cardea_plugin_test.so
                     (default <repo>)
      CARDEA_START_TIMEOUT / CARDEA_STOP_TIMEOUT  seconds (default 20 / 5)
      CARDEA_TEST_TARGET=janus  run against /usr/bin/janus instead, to check the
                     tests' assumptions (tests marked `testplugin` or
                     `cardea_only` are skipped then; such a run says nothing
                     about Cardea). Without it nothing is ever skipped: a
                     missing binary or plugin is an error, not a skip.

Fixtures (all reusable from any test module in this folder):

  gateway            module-scoped default daemon (gateway.Gateway), started
                     and ready: session_timeout 60, reclaim 0, admin_secret
                     gateway.ADMIN_SECRET, no api_secret/token auth, test plugin
                     loaded, HTTP + admin HTTP + WS + admin WS on free loopback
                     ports (gw.http_url, gw.admin_url, gw.ws_url, gw.admin_ws_url).
  gateway_factory    function-scoped factory for daemons with special settings:
                         gw = gateway_factory(session_timeout=3, api_secret="s")
                     keyword args become cardea.jcfg `general` keys (None drops
                     one); http=/ws= dicts are merged into the transport
                     configs ({"general": {...}, "admin": {...}}); sections=
                     merges other cardea.jcfg sections; files={name: text}
                     writes extra files into the config folder; main_text=
                     replaces cardea.jcfg verbatim; start=False returns it
                     unstarted (then gw.start(wait=False), gw.wait_exit(t)). Every
                     daemon is stopped at teardown by PID (SIGTERM, 5 s, then
                     SIGKILL) and its exit code must be 0.
  module_gateway_factory   the same, module-scoped (for a module that shares one
                     daemon with special settings).
  transport          parametrizes a test over "http" and "ws".

Markers: testplugin (needs cardea.plugin.test), cardea_only, timeout_s(n).

Test functions may be `async def`: they are run with asyncio.run() (60 s
limit; @pytest.mark.timeout_s(N) changes it). Inside, use the clients from
apiclient.py: open_api(gw, kind), open_admin(gw, kind).

When a test fails, the tail of the log of every daemon that was running
during it is attached to the report ("daemon log" section).
"""

import asyncio
import inspect
import time

import pytest

import gateway as gwmod


def pytest_configure(config):
	config.addinivalue_line("markers", "testplugin: needs cardea.plugin.test (skipped with CARDEA_TEST_TARGET=janus)")
	config.addinivalue_line("markers", "cardea_only: Cardea-specific behaviour (skipped with CARDEA_TEST_TARGET=janus)")
	config.addinivalue_line("markers", "timeout_s(n): asyncio time limit for an async test")


def pytest_report_header(config):
	if gwmod.TARGET == "janus":
		return ("*** CARDEA_TEST_TARGET=janus: running against /usr/bin/janus to check the tests; "
			"this run does not test Cardea ***")
	return f"cardea: prefix {gwmod.PREFIX}, build {gwmod.BUILD}"


def pytest_collection_modifyitems(config, items):
	if gwmod.TARGET != "janus":
		return
	skip = pytest.mark.skip(reason="needs Cardea (CARDEA_TEST_TARGET=janus)")
	for item in items:
		if "testplugin" in item.keywords or "cardea_only" in item.keywords:
			item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
	fn = pyfuncitem.obj
	if not inspect.iscoroutinefunction(fn):
		return None
	m = pyfuncitem.get_closest_marker("timeout_s")
	limit = m.args[0] if m else 60
	args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}

	async def guarded():
		await asyncio.wait_for(fn(**args), limit)

	asyncio.run(guarded())
	return True


# ---- daemon bookkeeping: every Gateway ever started in this run ----------

_all_gateways = []


class GatewayFactory:
	def __init__(self):
		self.gateways = []

	def __call__(self, start=True, **kw):
		gw = gwmod.Gateway(**kw)
		self.gateways.append(gw)
		_all_gateways.append(gw)
		if start:
			gw.start()
		return gw

	def close_all(self):
		"""Stops every daemon still running; returns a list of problems."""
		problems = []
		for gw in self.gateways:
			if gw.proc is None:
				gw.cleanup()
				continue
			was_alive = gw.alive()
			rc, took = gw.stop()
			report = gw.sanitizer_report()
			if was_alive and rc != 0:
				# keep its folder: the full log stays in gw.dir
				problems.append(f"{gw!r}: SIGTERM gave exit code {rc} after {took:.1f}s "
					f"(log: {gw.log_path})\n{gw.log_tail(60)}")
			elif report:
				problems.append(f"{gw!r}: sanitizer report (log: {gw.log_path})\n{report}")
			else:
				gw.cleanup()
		self.gateways.clear()
		return problems


@pytest.fixture
def gateway_factory():
	f = GatewayFactory()
	yield f
	problems = f.close_all()
	assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def module_gateway_factory():
	f = GatewayFactory()
	yield f
	problems = f.close_all()
	assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def gateway(module_gateway_factory):
	gw = module_gateway_factory()
	yield gw
	assert gw.alive(), f"the shared daemon died during the module (exit {gw.proc.returncode}):\n{gw.log_tail()}"


@pytest.fixture(params=["http", "ws"])
def transport(request):
	return request.param


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
	outcome = yield
	rep = outcome.get_result()
	if not rep.failed:
		return
	# call.start/stop are wall-clock; gateways record monotonic times.
	now_wall, now_mono = time.time(), time.monotonic()
	t0 = now_mono - (now_wall - call.start)
	for gw in _all_gateways:
		if gw.started_at is None:
			continue
		if gw.stopped_at is not None and gw.stopped_at < t0:
			continue
		rep.sections.append((f"daemon log {gw!r} (last 80 lines)", gw.log_tail(80)))
