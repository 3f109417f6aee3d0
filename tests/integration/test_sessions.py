"""Session lifetime (janus-api.md §3.1–3.4, §4.2): timeout, keepalive,
reclaim after a WebSocket drop, claim, HTTP long poll."""

import asyncio
import threading
import time

import pytest

from apiclient import (WsApi, async_probe, core_events, expect_error, open_admin, open_api, probe)

TIMEOUT = 3      # session_timeout of the short-lived daemon
RECLAIM = 3      # its reclaim_session_timeout
WATCHDOG = 2     # the core checks sessions every 2 s


def LATEST(limit):
	"""A session idle since t0 must be gone by t0 + limit + one watchdog
	period; Janus 1.1.2 needs up to one more second (timer coalescing), and a
	loaded 2-core box gets another second of slack."""
	return limit + WATCHDOG + 2


@pytest.fixture(scope="module")
def short_gw(module_gateway_factory):
	return module_gateway_factory(session_timeout=TIMEOUT, reclaim_session_timeout=RECLAIM)


# ---- the slow scenarios ---------------------------------------------------------
# Each of these has to sit through a timeout, so they all run at once on one
# background event loop, started with the module; each test then reports
# the outcome of its own scenario. That keeps the module at ~8 s instead of ~45.

SCENARIOS = {}


def scenario(fn):
	SCENARIOS[fn.__name__] = fn
	return fn


@scenario
async def timeout_ws(gw):
	async with open_api(gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, gw.plugin)
		t0 = time.monotonic()
		ev = await api.event(sid, {"janus": "timeout"}, timeout=LATEST(TIMEOUT))
		took = time.monotonic() - t0
		assert ev == {"janus": "timeout", "session_id": sid}, ev
		assert took >= TIMEOUT - 0.5, f"timed out after {took:.1f}s, session_timeout is {TIMEOUT}"
		r = await api.request({"janus": "keepalive", "session_id": sid})
		expect_error(r, 458, f"No such session {sid}")
		r = await api.message(sid, hid, {"request": "ping"})
		expect_error(r, 458)
		# the connection itself stays usable
		await api.ping()


@scenario
async def timeout_http(gw):
	# Over HTTP the timeout event reaches a parked long poll (the GET that
	# parked counts as one keepalive, at its start).
	async with open_api(gw, "http") as api:
		sid = await api.create()
		t0 = time.monotonic()
		status, body = await api.poll(sid, timeout=LATEST(TIMEOUT) + 1)
		took = time.monotonic() - t0
		assert status == 200 and body == {"janus": "timeout", "session_id": sid}, (status, body)
		assert took >= TIMEOUT - 0.5, took
		r = await api.request({"janus": "keepalive", "session_id": sid})
		expect_error(r, 458, f"No such session {sid}")


async def _keepalive(gw, kind):
	async with open_api(gw, kind) as api:
		sid = await api.create()
		hid = await api.attach(sid, gw.plugin)
		idle = await api.create()    # control: times out meanwhile
		t_end = time.monotonic() + LATEST(TIMEOUT) + 0.5
		while time.monotonic() < t_end:
			r = await api.request({"janus": "keepalive", "session_id": sid})
			assert r["janus"] == "ack", f"session died despite keepalives: {r}"
			await asyncio.sleep(1)
		assert core_events(await probe(api, sid, hid, gw)) == []
		r = await api.request({"janus": "keepalive", "session_id": idle})
		expect_error(r, 458, f"No such session {idle}")
		await api.destroy(sid)


@scenario
async def keepalive_http(gw):
	await _keepalive(gw, "http")


@scenario
async def keepalive_ws(gw):
	await _keepalive(gw, "ws")


@scenario
async def any_request_refreshes(gw):
	async with open_api(gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, gw.plugin)
		t_end = time.monotonic() + LATEST(TIMEOUT) + 0.5
		while time.monotonic() < t_end:
			r = await api.message(sid, hid, async_probe(gw))
			assert r["janus"] == "ack", r
			await asyncio.sleep(1)
		assert not [m for m in api.inbox if m.get("janus") == "timeout"], api.inbox
		await api.destroy(sid)


@scenario
async def claim_after_window(gw):
	ws1 = await WsApi.connect(gw.ws_url)
	sid = await ws1.create()
	await ws1.attach(sid, gw.plugin)
	await ws1.close()
	await asyncio.sleep(LATEST(RECLAIM))
	async with open_api(gw, "ws") as ws2:
		r = await ws2.request({"janus": "claim", "session_id": sid, "transaction": "cl-2"})
		assert r.get("transaction") == "cl-2", r
		expect_error(r, 458, f"No such session {sid}")
	async with open_admin(gw, "http") as admin:
		assert sid not in await admin.list_sessions()


class Scenarios:
	def __init__(self, gw):
		self.loop = asyncio.new_event_loop()
		self.thread = threading.Thread(target=self.loop.run_forever, name="scenarios", daemon=True)
		self.thread.start()
		self.futures = {name: asyncio.run_coroutine_threadsafe(fn(gw), self.loop) for name, fn in SCENARIOS.items()}

	def check(self, name):
		self.futures[name].result(timeout=60)

	def close(self):
		for f in self.futures.values():
			f.cancel()
		self.loop.call_soon_threadsafe(self.loop.stop)
		self.thread.join(5)


@pytest.fixture(scope="module")
def slow(short_gw):
	sc = Scenarios(short_gw)
	yield sc
	sc.close()


def test_timeout_event_ws(slow):
	slow.check("timeout_ws")


def test_timeout_event_http(slow):
	slow.check("timeout_http")


@pytest.mark.parametrize("kind", ["http", "ws"])
def test_keepalive_keeps_session_alive(slow, kind):
	slow.check(f"keepalive_{kind}")


def test_any_request_naming_the_session_refreshes_it(slow):
	slow.check("any_request_refreshes")


def test_claim_after_window_fails(slow):
	slow.check("claim_after_window")


# ---- reclaim after a WebSocket drop -----------------------------------------

async def test_claim_after_drop_within_window(short_gw):
	ws1 = await WsApi.connect(short_gw.ws_url)
	sid = await ws1.create()
	hid = await ws1.attach(sid, short_gw.plugin)
	await ws1.close()
	await asyncio.sleep(0.5)
	async with open_api(short_gw, "ws") as ws2:
		r = await ws2.request({"janus": "claim", "session_id": sid, "transaction": "cl-1"})
		assert r == {"janus": "success", "session_id": sid, "transaction": "cl-1"}, r
		# the handle survived and events now come to the new socket
		assert core_events(await probe(ws2, sid, hid, short_gw)) == []
		await ws2.destroy(sid)


async def test_no_reclaim_means_gone_at_once(gateway):
	"""reclaim_session_timeout = 0 (the default daemon): closing the socket
	destroys its sessions right away."""
	ws1 = await WsApi.connect(gateway.ws_url)
	sid = await ws1.create()
	await ws1.attach(sid, gateway.plugin)
	await ws1.close()
	await asyncio.sleep(0.3)
	async with open_api(gateway, "ws") as ws2:
		r = await ws2.request({"janus": "claim", "session_id": sid})
		expect_error(r, 458, f"No such session {sid}")
	async with open_admin(gateway, "http") as admin:
		assert sid not in await admin.list_sessions()


# ---- claim -----------------------------------------------------------------------

async def test_claim_moves_events_to_the_claimer(gateway):
	async with open_api(gateway, "ws") as ws1, open_api(gateway, "ws") as ws2:
		sid = await ws1.create()
		hid = await ws1.attach(sid, gateway.plugin)
		r = await ws2.request({"janus": "claim", "session_id": sid})
		assert r["janus"] == "success" and r["session_id"] == sid, r
		# a request sent on ws1: its ack comes back on ws1, its event goes to ws2
		r = await ws1.message(sid, hid, async_probe(gateway))
		assert r["janus"] == "ack", r
		ev = await ws2.event(sid, {"transaction": r["transaction"]})
		assert ev["janus"] == "event" and ev["sender"] == hid, ev
		await ws1.ping()
		assert ws1.pending(sid) == [], f"the old owner still gets events: {ws1.pending(sid)}"
		# detached goes to the owner too
		r = await ws2.request({"janus": "detach", "session_id": sid, "handle_id": hid})
		assert r["janus"] == "success", r
		ev = await ws2.event(sid, {"janus": "detached"})
		assert ev["sender"] == hid
		await ws2.destroy(sid)
		await ws1.ping()
		assert ws1.pending(sid) == [], ws1.pending(sid)


async def test_claim_is_accepted_at_handle_level(gateway):
	async with open_api(gateway, "ws") as ws1, open_api(gateway, "ws") as ws2:
		sid = await ws1.create()
		hid = await ws1.attach(sid, gateway.plugin)
		r = await ws2.request({"janus": "claim", "session_id": sid, "handle_id": hid, "transaction": "cl-h"})
		assert r == {"janus": "success", "session_id": sid, "transaction": "cl-h"}, r
		await ws2.destroy(sid)


@pytest.mark.parametrize("kind", ["http", "ws"])
async def test_claim_unknown_session(gateway, kind):
	async with open_api(gateway, kind) as api:
		r = await api.request({"janus": "claim", "session_id": 987654321, "transaction": "cl-x"})
		assert r.get("transaction") == "cl-x" and r.get("session_id") == 987654321, r
		expect_error(r, 458, "No such session 987654321")


async def test_claim_ws_session_over_http(gateway):
	"""An HTTP client may claim a session; its events then go to the long poll."""
	async with open_api(gateway, "ws") as ws, open_api(gateway, "http") as http:
		sid = await ws.create()
		hid = await ws.attach(sid, gateway.plugin)
		r = await http.request({"janus": "claim", "session_id": sid, "transaction": "cl-http"})
		assert r == {"janus": "success", "session_id": sid, "transaction": "cl-http"}, r
		assert core_events(await probe(http, sid, hid, gateway)) == []
		await ws.ping()
		assert ws.pending(sid) == [], ws.pending(sid)
		await http.destroy(sid)


# ---- HTTP long poll ------------------------------------------------------------

async def test_long_poll_maxev(gateway):
	async with open_api(gateway, "http") as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		txs = []
		for i in range(6):
			r = await api.message(sid, hid, async_probe(gateway, i))
			assert r["janus"] == "ack", r
			txs.append(r["transaction"])
		await asyncio.sleep(0.5)   # let all six events queue up
		status, one = await api.poll(sid)                 # no maxev: one object
		assert status == 200 and isinstance(one, dict) and one.get("transaction") == txs[0], one
		status, one = await api.poll(sid, maxev=1)        # maxev=1: one object
		assert status == 200 and isinstance(one, dict) and one.get("transaction") == txs[1], one
		status, many = await api.poll(sid, maxev=3)       # maxev>1: an array of up to N
		assert status == 200 and isinstance(many, list), many
		assert [e.get("transaction") for e in many] == txs[2:5], many
		status, rest = await api.poll(sid, maxev=10)      # fewer queued than maxev: still an array
		assert status == 200 and isinstance(rest, list), rest
		assert [e.get("transaction") for e in rest] == txs[5:], rest
		for e in [one] + many + rest:
			assert e["janus"] == "event" and e["session_id"] == sid and e["sender"] == hid, e
		await api.destroy(sid)


async def test_long_poll_parks_until_an_event(gateway):
	async with open_api(gateway, "http") as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		poll = asyncio.ensure_future(api.poll(sid, maxev=5))
		await asyncio.sleep(0.5)
		assert not poll.done(), poll.result()
		r = await api.message(sid, hid, async_probe(gateway))
		status, body = await asyncio.wait_for(poll, 5)
		assert status == 200 and isinstance(body, list) and body, body
		assert body[0]["transaction"] == r["transaction"], body
		await api.destroy(sid)
