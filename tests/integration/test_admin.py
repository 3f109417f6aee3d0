"""Admin/Monitor API (janus-api.md §6) over admin HTTP and admin WebSocket."""

import random
import time

import pytest

from apiclient import expect_error, is_core_id, open_admin, open_api

UNAUTHORIZED = "Unauthorized request (wrong or missing secret/token)"


@pytest.fixture(params=["http", "ws"])
def admin_kind(request):
	return request.param


async def test_info_and_ping_need_no_secret(gateway, admin_kind):
	async with open_admin(gateway, admin_kind) as admin:
		for secret in (None, "wrong", gateway.admin_secret):
			r = await admin.request({"janus": "info", "transaction": "ai"}, secret=secret)
			assert r["janus"] == "server_info" and r["transaction"] == "ai", r
			assert gateway.plugin in r["plugins"], r
			r = await admin.request({"janus": "ping", "transaction": "ap"}, secret=secret)
			assert r == {"janus": "pong", "transaction": "ap"}, r


@pytest.mark.parametrize("secret", [None, "wrong", ""])
async def test_secret_required(gateway, admin_kind, secret):
	async with open_api(gateway, "http") as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
	async with open_admin(gateway, admin_kind) as admin:
		for msg in ({"janus": "get_status"}, {"janus": "list_sessions"}, {"janus": "bogus"},
				{"janus": "accept_new_sessions", "accept": False}, {"janus": "set_log_level", "level": 7},
				{"janus": "list_handles", "session_id": sid},
				{"janus": "handle_info", "session_id": sid, "handle_id": hid},
				{"janus": "destroy_session", "session_id": sid}):
			r = await admin.request(dict(msg, transaction="sec"), secret=secret)
			assert r.get("transaction") == "sec", r
			expect_error(r, 403, UNAUTHORIZED)
		# nothing of that took effect
		assert sid in await admin.list_sessions()
		status = (await admin.ok({"janus": "get_status"}))["status"]
		assert status["log_level"] == 4, status
	async with open_api(gateway, "http") as api:
		assert (await api.request({"janus": "create"}))["janus"] == "success"
		await api.destroy(sid)


async def test_get_status(gateway, admin_kind):
	async with open_admin(gateway, admin_kind) as admin:
		r = await admin.ok({"janus": "get_status", "transaction": "gs"})
		assert r["transaction"] == "gs"
		st = r["status"]
		assert st["token_auth"] is False
		assert st["session_timeout"] == 60 and st["reclaim_session_timeout"] == 0, st
		assert type(st["candidates_timeout"]) is int
		assert st["log_level"] == 4, st
		for key in ("min_nack_queue", "no_media_timer", "slowlink_threshold"):
			assert type(st.get(key)) is int, (key, st)


async def test_list_sessions_and_handles(gateway, admin_kind):
	async with open_api(gateway, "ws") as api, open_admin(gateway, admin_kind) as admin:
		sids = [await api.create() for _ in range(3)]
		hids = [await api.attach(sids[0], gateway.plugin, opaque_id=f"op-{i}") for i in range(2)]
		listed = await admin.list_sessions()
		assert all(is_core_id(s) for s in listed), listed
		assert set(sids) <= set(listed), (sids, listed)
		r = await admin.ok({"janus": "list_handles", "session_id": sids[0], "transaction": "lh"})
		assert r["session_id"] == sids[0] and r["transaction"] == "lh", r
		assert sorted(r["handles"]) == sorted(hids), r
		r = await admin.ok({"janus": "list_handles", "session_id": sids[1]})
		assert r["handles"] == [], r
		await api.destroy(sids[1])
		assert sids[1] not in await admin.list_sessions()
		await api.request({"janus": "detach", "session_id": sids[0], "handle_id": hids[0]})
		r = await admin.ok({"janus": "list_handles", "session_id": sids[0]})
		assert r["handles"] == [hids[1]], r
		for sid in (sids[0], sids[2]):
			await api.destroy(sid)


async def test_scope_errors(gateway, admin_kind):
	ghost = random.randrange(2 ** 40, 2 ** 52)
	async with open_api(gateway, "http") as api, open_admin(gateway, admin_kind) as admin:
		sid = await api.create()
		await api.attach(sid, gateway.plugin)
		cases = [
			({"janus": "list_handles"}, 457, "Unhandled request 'list_handles' at this path"),
			({"janus": "destroy_session"}, 457, "Unhandled request 'destroy_session' at this path"),
			({"janus": "handle_info", "session_id": sid}, 457, "Unhandled request 'handle_info' at this path"),
			({"janus": "bogus"}, 457, "Unhandled request 'bogus' at this path"),
			({"janus": "list_handles", "session_id": ghost}, 458, f"No such session {ghost}"),
			({"janus": "handle_info", "session_id": sid, "handle_id": ghost}, 459,
				f"No such handle {ghost} in session {sid}"),
		]
		for msg, code, reason in cases:
			r = await admin.request(dict(msg, transaction="sc"))
			assert r.get("transaction") == "sc", r
			expect_error(r, code, reason)
		await api.destroy(sid)


async def test_handle_info(gateway, admin_kind):
	async with open_api(gateway, "ws") as api, open_admin(gateway, admin_kind) as admin:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin, opaque_id="itest-op")
		r = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid, "transaction": "hi"})
		assert r["session_id"] == sid and r["handle_id"] == hid and r["transaction"] == "hi", r
		info = r["info"]
		assert info["session_id"] == sid and info["handle_id"] == hid, info
		assert info["opaque_id"] == "itest-op", info
		assert info["plugin"] == gateway.plugin, info
		assert info["session_timeout"] == 60, info
		assert type(info["created"]) is int and type(info["session_last_activity"]) is int, info
		assert isinstance(info.get("flags"), dict), info
		assert "plugin_specific" in info, info
		if gateway.plugin == "cardea.plugin.test":
			# the test plugin counts the messages of each handle
			assert info["plugin_specific"] == {"messages": 0}, info
			await api.message(sid, hid, {"request": "ping"})
			await api.message(sid, hid, {"request": "bogus"})
			r = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid})
			assert r["info"]["plugin_specific"] == {"messages": 2}, r
		await api.destroy(sid)


@pytest.mark.testplugin
async def test_message_plugin(gateway, admin_kind):
	async with open_admin(gateway, admin_kind) as admin:
		req = {"anything": [1, "two"], "n": 3}
		r = await admin.ok({"janus": "message_plugin", "plugin": gateway.plugin, "request": req, "transaction": "mp"})
		assert r["transaction"] == "mp" and r["response"] == {"test": "admin", "request": req}, r
		r = await admin.request({"janus": "message_plugin", "plugin": "cardea.plugin.nope", "request": {}})
		expect_error(r, 460)
		r = await admin.request({"janus": "message_plugin", "plugin": gateway.plugin})
		expect_error(r, 456, "Missing mandatory element (request)")
		r = await admin.request({"janus": "message_plugin", "request": {}})
		expect_error(r, 456, "Missing mandatory element (plugin)")
		r = await admin.request({"janus": "message_plugin", "plugin": gateway.plugin, "request": {}}, secret=None)
		expect_error(r, 403, UNAUTHORIZED)


async def test_set_log_level(gateway, admin_kind):
	async with open_admin(gateway, admin_kind) as admin:
		try:
			r = await admin.ok({"janus": "set_log_level", "level": 6, "transaction": "ll"})
			assert r == {"janus": "success", "transaction": "ll", "level": 6}, r
			assert (await admin.ok({"janus": "get_status"}))["status"]["log_level"] == 6
			r = await admin.request({"janus": "set_log_level", "level": 8})
			expect_error(r, 467, "Invalid element type (level should be between 0 and 7)")
			r = await admin.request({"janus": "set_log_level", "level": "high"})
			expect_error(r, 467)
			r = await admin.request({"janus": "set_log_level"})
			expect_error(r, 456, "Missing mandatory element (level)")
			assert (await admin.ok({"janus": "get_status"}))["status"]["log_level"] == 6
		finally:
			await admin.ok({"janus": "set_log_level", "level": 4})


async def test_accept_new_sessions(gateway, admin_kind):
	async with open_admin(gateway, admin_kind) as admin, \
			open_api(gateway, "http") as http, open_api(gateway, "ws") as ws:
		existing = await ws.create()
		try:
			r = await admin.ok({"janus": "accept_new_sessions", "accept": False, "transaction": "an"})
			assert r == {"janus": "success", "transaction": "an", "accept": False}, r
			for api in (http, ws):
				r = await api.request({"janus": "create", "transaction": "refused"})
				assert r.get("transaction") == "refused", r
				expect_error(r, 472, "Currently not accepting new sessions")
				info = await api.request({"janus": "info"})
				assert info["accepting-new-sessions"] is False, info
			# existing sessions keep working
			hid = await ws.attach(existing, gateway.plugin)
			assert hid
			r = await admin.request({"janus": "accept_new_sessions"})
			expect_error(r, 456, "Missing mandatory element (accept)")
			r = await admin.request({"janus": "accept_new_sessions", "accept": "yes"})
			expect_error(r, 467, "Invalid element type (accept should be a boolean)")
		finally:
			await admin.ok({"janus": "accept_new_sessions", "accept": True})
		for api in (http, ws):
			sid = await api.create()
			await api.destroy(sid)
		await ws.destroy(existing)


async def test_tokens_need_stored_token_mode(gateway, admin_kind):
	async with open_admin(gateway, admin_kind) as admin:
		for msg in ({"janus": "add_token", "token": "t1"}, {"janus": "list_tokens"},
				{"janus": "allow_token", "token": "t1", "plugins": [gateway.plugin]},
				{"janus": "disallow_token", "token": "t1", "plugins": [gateway.plugin]},
				{"janus": "remove_token", "token": "t1"}):
			r = await admin.request(msg)
			expect_error(r, 490, "Stored-Token based authentication disabled")


@pytest.mark.parametrize("client_kind", ["http", "ws"])
async def test_destroy_session(gateway, admin_kind, client_kind):
	async with open_api(gateway, client_kind) as api, open_admin(gateway, admin_kind) as admin:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await admin.ok({"janus": "destroy_session", "session_id": sid, "transaction": "ds"})
		assert r == {"janus": "success", "session_id": sid, "transaction": "ds"}, r
		assert sid not in await admin.list_sessions()
		r = await api.request({"janus": "keepalive", "session_id": sid})
		expect_error(r, 458, f"No such session {sid}")
		r = await api.message(sid, hid, {"request": "ping"})
		expect_error(r, 458)
		r = await admin.request({"janus": "destroy_session", "session_id": sid})
		expect_error(r, 458, f"No such session {sid}")
		await api.ping()


async def test_set_session_timeout_global(gateway_factory, admin_kind):
	gw = gateway_factory()
	async with open_admin(gw, admin_kind) as admin, open_api(gw, "ws") as api:
		r = await admin.ok({"janus": "set_session_timeout", "timeout": 120, "transaction": "st"})
		assert r == {"janus": "success", "transaction": "st", "timeout": 120}, r
		assert (await api.request({"janus": "info"}))["session-timeout"] == 120
		assert (await admin.ok({"janus": "get_status"}))["status"]["session_timeout"] == 120
		r = await admin.request({"janus": "set_session_timeout", "timeout": -1})
		expect_error(r, 467)
		r = await admin.request({"janus": "set_session_timeout"})
		expect_error(r, 456, "Missing mandatory element (timeout)")
		r = await admin.request({"janus": "set_session_timeout", "timeout": "10"})
		expect_error(r, 467)
		# a short global timeout applies to existing sessions
		sid = await api.create()
		await admin.ok({"janus": "set_session_timeout", "timeout": 1})
		t0 = time.monotonic()
		ev = await api.event(sid, {"janus": "timeout"}, timeout=6)
		assert ev == {"janus": "timeout", "session_id": sid}
		assert time.monotonic() - t0 < 6


async def test_set_session_timeout_per_session(gateway, admin_kind):
	async with open_admin(gateway, admin_kind) as admin, open_api(gateway, "ws") as api:
		short, other = await api.create(), await api.create()
		r = await admin.ok({"janus": "set_session_timeout", "session_id": short, "timeout": 1, "transaction": "sts"})
		assert r["timeout"] == 1 and r["session_id"] == short and r["transaction"] == "sts", r
		r = await admin.ok({"janus": "handle_info", "session_id": short,
			"handle_id": await api.attach(short, gateway.plugin)})
		assert r["info"]["session_timeout"] == 1, r
		ev = await api.event(short, {"janus": "timeout"}, timeout=6)
		assert ev == {"janus": "timeout", "session_id": short}
		# the global 60 s still applies to the other session
		r = await api.request({"janus": "keepalive", "session_id": other})
		assert r["janus"] == "ack", r
		await api.destroy(other)
