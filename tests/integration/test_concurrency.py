"""Load and isolation: a slow plugin call must not hold up other sessions,
and 1,000 sessions come and go cleanly."""

import asyncio
import time

import pytest

from apiclient import HttpApi, WsApi, is_core_id, open_admin, open_api

FAST = 0.5   # budget for a request that must not wait behind a slow one


async def _timed(coro):
	t0 = time.monotonic()
	r = await coro
	return r, time.monotonic() - t0


async def _latency_probes(gw, kind, rounds=6):
	"""Core and plugin requests of a fresh session, timed, while something
	else is slow. Returns the worst latency per request kind."""
	worst = {}
	async with open_api(gw, kind) as api:
		sid = await api.create()
		hid = await api.attach(sid, gw.plugin)
		for _ in range(rounds):
			for name, msg in (("ping", {"janus": "ping"}),
					("keepalive", {"janus": "keepalive", "session_id": sid}),
					("create", {"janus": "create"}),
					("plugin ping", {"janus": "message", "session_id": sid, "handle_id": hid, "body": {"request": "ping"}})):
				r, took = await _timed(api.request(msg, timeout=10))
				assert r["janus"] in ("pong", "ack", "success"), r
				if name == "create":
					await api.destroy(r["data"]["id"])
				worst[name] = max(worst.get(name, 0), took)
			await asyncio.sleep(0.2)
		await api.destroy(sid)
	return worst


@pytest.mark.testplugin
async def test_slow_plugin_does_not_stall_other_sessions(gateway):
	async with open_api(gateway, "ws") as slow:
		sid = await slow.create()
		hid = await slow.attach(sid, gateway.plugin)
		t0 = time.monotonic()
		slow_reply = asyncio.ensure_future(slow.message(sid, hid, {"request": "sleep", "ms": 3000}))
		await asyncio.sleep(0.2)
		worst_http, worst_ws = await asyncio.gather(_latency_probes(gateway, "http"), _latency_probes(gateway, "ws"))
		assert not slow_reply.done() or time.monotonic() - t0 >= 2.9, "the sleep returned early"
		r = await asyncio.wait_for(slow_reply, 10)
		took = time.monotonic() - t0
		assert r["janus"] == "success" and r["sender"] == hid, r
		assert r["plugindata"]["data"] == {"test": "slept", "ms": 3000}, r
		assert 2.9 <= took < 5, took
		for kind, worst in (("http", worst_http), ("ws", worst_ws)):
			slowest = {k: round(v, 3) for k, v in worst.items() if v >= FAST}
			assert not slowest, f"{kind} requests waited behind the slow plugin: {slowest}"
		await slow.destroy(sid)


@pytest.mark.testplugin
async def test_busy_plugin_workers_do_not_stall_core_requests(gateway_factory):
	"""All request workers busy in a plugin: core requests (ping, keepalive,
	create) of other sessions still answer at once."""
	gw = gateway_factory(request_workers=2)
	async with open_api(gw, "ws") as slow:
		sid = await slow.create()
		hids = [await slow.attach(sid, gw.plugin) for _ in range(3)]
		t0 = time.monotonic()
		sleeps = [asyncio.ensure_future(slow.request({"janus": "message", "session_id": sid, "handle_id": h,
			"body": {"request": "sleep", "ms": 2000}}, timeout=15)) for h in hids]
		await asyncio.sleep(0.2)
		async with open_api(gw, "http") as api:
			other = await api.create()
			for _ in range(5):
				for msg in ({"janus": "ping"}, {"janus": "keepalive", "session_id": other}):
					r, took = await _timed(api.request(msg))
					assert r["janus"] in ("pong", "ack"), r
					assert took < FAST, f"{msg['janus']} took {took:.2f}s while the workers were busy"
				await asyncio.sleep(0.2)
			await api.destroy(other)
		for r in await asyncio.gather(*sleeps):
			assert r["janus"] == "success" and r["plugindata"]["data"]["test"] == "slept", r
		# 3 sleeps of 2 s on 2 workers: the third must have waited for a free one
		assert time.monotonic() - t0 >= 3.9


async def _churn_http(gw, n, inflight, ids):
	sem = asyncio.Semaphore(inflight)
	api = HttpApi(gw.http_url, limit=inflight)

	async def one():
		async with sem:
			sid = await api.create()
			hid = await api.attach(sid, gw.plugin)
			ids.append((sid, hid))
			await api.destroy(sid)
	try:
		await asyncio.gather(*(one() for _ in range(n)))
	finally:
		await api.close()


async def _churn_ws(gw, n, conns, per_conn, ids):
	async def conn_worker(count):
		api = await WsApi.connect(gw.ws_url)
		sem = asyncio.Semaphore(per_conn)

		async def one():
			async with sem:
				sid = await api.create()
				hid = await api.attach(sid, gw.plugin)
				ids.append((sid, hid))
				await api.destroy(sid)
		try:
			await asyncio.gather(*(one() for _ in range(count)))
		finally:
			await api.close()
	await asyncio.gather(*(conn_worker(n // conns) for _ in range(conns)))


@pytest.mark.timeout_s(120)
async def test_thousand_sessions(gateway_factory):
	gw = gateway_factory(debug_level=3)
	ids = []
	t0 = time.monotonic()
	# 1,000 over HTTP and 1,000 over 10 WebSockets, 50 in flight on each
	await asyncio.gather(_churn_http(gw, 1000, 50, ids), _churn_ws(gw, 1000, 10, 5, ids))
	took = time.monotonic() - t0
	assert len(ids) == 2000
	sids = [s for s, _ in ids]
	assert len(set(sids)) == 2000, "session ids were reused while alive or duplicated"
	assert all(is_core_id(s) and is_core_id(h) for s, h in ids)
	async with open_admin(gw, "http") as admin:
		assert await admin.list_sessions() == []
	async with open_api(gw, "ws") as api:
		await api.ping()
	print(f"2000 create+attach+destroy in {took:.1f}s")
