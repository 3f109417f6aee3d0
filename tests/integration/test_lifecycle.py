"""Daemon start-up and shutdown: clean SIGTERM with clients connected, and
refusal to start on a bad configuration."""

import asyncio
import re
import signal
import socket
import time

import pytest

from apiclient import HttpApi, WsApi
from gateway import port_open


async def test_sigterm_with_open_sessions(gateway_factory):
	"""SIGTERM with sessions open on both transports and a long poll parked:
	exit code 0 within 5 s; WebSocket clients see their connection closed
	with 1001, the parked long poll is completed (never left hanging)."""
	gw = gateway_factory()
	ws = await WsApi.connect(gw.ws_url)
	admin_ws = await WsApi.connect(gw.admin_ws_url, protocol="janus-admin-protocol")
	http = HttpApi(gw.http_url)
	try:
		wsid = await ws.create()
		await ws.attach(wsid, gw.plugin)
		hsid = await http.create()
		await http.attach(hsid, gw.plugin)
		poll = asyncio.ensure_future(http.poll(hsid, maxev=5, timeout=10))
		await asyncio.sleep(0.3)
		assert not poll.done()

		t0 = time.monotonic()
		gw.signal(signal.SIGTERM)
		rc = await asyncio.get_running_loop().run_in_executor(None, gw.wait_exit, 5.0)
		took = time.monotonic() - t0
		assert rc == 0, f"exit code {rc} after SIGTERM ({took:.1f}s; None = still running after 5 s)"

		# WebSocket clients get a proper close: 1001 "going away"
		await asyncio.wait_for(ws.closed.wait(), 2)
		await asyncio.wait_for(admin_ws.closed.wait(), 2)
		if gw.flavor == "cardea":
			assert ws.close_code == 1001, ws.close_code
			assert admin_ws.close_code == 1001, admin_ws.close_code
		# the parked long poll is completed (with a keepalive, or with the
		# events of the teardown, e.g. `detached`), not cut
		if gw.flavor == "cardea":
			status, body = await asyncio.wait_for(poll, 2)
			assert status == 200 and isinstance(body, list) and body, (status, body)
			assert all(e.get("janus") in ("keepalive", "detached") for e in body), body
		else:
			await asyncio.wait([poll], timeout=2)
			assert poll.done(), "the parked long poll was left hanging"
		for port in (gw.http_port, gw.admin_http_port, gw.ws_port, gw.admin_ws_port):
			assert not port_open(port), f"port {port} still open after exit"
	finally:
		await ws.close()
		await admin_ws.close()
		await http.close()


def test_sigterm_idle_is_quick(gateway_factory):
	gw = gateway_factory()
	rc, took = gw.stop()
	assert rc == 0 and took < 5, (rc, took)


def test_sigint_is_clean_too(gateway_factory):
	gw = gateway_factory()
	gw.signal(signal.SIGINT)
	assert gw.wait_exit(5) == 0


def test_sigterm_during_startup_is_clean(gateway_factory):
	"""A SIGTERM that lands while modules are still loading (a service
	manager giving up, a test harness stopping early) is a clean stop, exit
	0, not death by the default signal action."""
	gw = gateway_factory(start=False)
	gw.start(wait=False)
	deadline = time.monotonic() + 20
	while "usrsctp initialised" not in gw.log_text() and "[modules] loaded" not in gw.log_text():
		assert gw.proc.poll() is None, gw.log_text()[-2000:]
		assert time.monotonic() < deadline, gw.log_text()[-2000:]
		time.sleep(0.002)
	gw.signal(signal.SIGTERM)
	assert gw.wait_exit(5) == 0, gw.log_text()[-2000:]
	assert "[main] stopping (signal received)" in gw.log_text()


# ---- bad configuration -----------------------------------------------------------

def _refuses(gw, file_name, line):
	"""Starts `gw`, expects exit 1 within 10 s with exactly one
	`<path>/<file_name>:<line>:` line in its output, and no port left open."""
	gw.start(wait=False)
	rc = gw.wait_exit(10)
	out = gw.log_text()
	assert rc == 1, f"expected exit 1, got {rc}:\n{out[-3000:]}"
	hits = [l for l in out.splitlines() if re.search(re.escape(file_name) + r":\d+:", l)]
	assert len(hits) == 1, f"expected one '{file_name}:LINE:' line, got {hits}:\n{out[-3000:]}"
	m = re.search(re.escape(file_name) + r":(\d+):", hits[0])
	assert int(m.group(1)) == line, f"wrong line in {hits[0]!r}, the error is on line {line}"
	for port in (gw.http_port, gw.admin_http_port, gw.ws_port, gw.admin_ws_port):
		assert not port_open(port), f"port {port} open after a refused start"
	return hits[0]


CARDEA_JCFG_ERRORS = [
	# (text, line of the error)
	('general: {\n\tsession_timeout = 60\n\tserver_name = = "x"\n}\n', 3),                       # syntax
	('general: {\n\tsession_timeout = "soon"\n}\n', 2),                                           # type
	('general: {\n\tserver_name = "x"\n\n\tdebug_level = 42\n}\n', 4),                            # range
	('general: {\n\tsession_timeout = 60\n}\nmedia: {\n\trtp_port_range = "a-b"\n}\n', 5),       # value
	('general: {\n\tsession_timeout = 60\n', 3),                                                   # unterminated
]


@pytest.mark.cardea_only
@pytest.mark.parametrize("text,line", CARDEA_JCFG_ERRORS, ids=["syntax", "type", "range", "value", "eof"])
def test_bad_core_config(gateway_factory, text, line):
	gw = gateway_factory(start=False, main_text=text)
	_refuses(gw, "cardea.jcfg", line)


@pytest.mark.cardea_only
def test_bad_transport_config(gateway_factory):
	gw = gateway_factory(start=False, http={"general": {"port": "eighty"}})
	# port is the first key of the first section: line 2
	_refuses(gw, "cardea.transport.http.jcfg", 2)


@pytest.mark.cardea_only
def test_bad_ws_config_leaves_http_closed(gateway_factory):
	"""Whichever transport starts first, a broken second one makes the daemon
	exit, and the first one's listener goes with it."""
	gw = gateway_factory(start=False, ws={"general": {"ws_port": 99999}})
	_refuses(gw, "cardea.transport.websockets.jcfg", 2)


@pytest.mark.cardea_only
def test_port_in_use_refuses_start(gateway_factory):
	"""A listener that cannot bind is fatal: exit 1, and the transport that
	did start closes its ports again."""
	blocker = socket.socket()
	blocker.bind(("127.0.0.1", 0))
	blocker.listen()
	try:
		gw = gateway_factory(start=False, ws={"general": {"ws_port": blocker.getsockname()[1]}})
		gw.start(wait=False)
		rc = gw.wait_exit(10)
		assert rc == 1, f"expected exit 1, got {rc}:\n{gw.log_tail(40)}"
		for port in (gw.http_port, gw.admin_http_port, gw.admin_ws_port):
			assert not port_open(port), f"port {port} open after a refused start"
	finally:
		blocker.close()
