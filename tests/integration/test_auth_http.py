"""The auth hook in the core and the auth_http module (docs/auth.md):
create and attach wait for the backend's answer; denies, a backend that is
down, slower than timeout_ms or answering garbage refuse with 403 and create
nothing (unless fail_open); allow answers are cached for cache_ttl; every
request to the backend is signed."""

import asyncio
import json
import time

import pytest

from apiclient import expect_error, open_admin, open_api
from stub_backend import StubBackend, sign

pytestmark = pytest.mark.cardea_only

SECRET = "backend-hmac-secret"


def auth_cfg(url, **extra):
	general = {"enabled": True, "url": url, "secret": SECRET, "timeout_ms": 500, "cache_ttl": 0,
		"fail_open": False}
	general.update(extra)
	lines = []
	for k, v in general.items():
		if isinstance(v, bool):
			v = "true" if v else "false"
		elif isinstance(v, str):
			v = json.dumps(v)
		lines.append(f"\t{k} = {v}")
	return "general: {\n" + "\n".join(lines) + "\n}\n"


@pytest.fixture(scope="module")
def backend():
	b = StubBackend().start()
	yield b
	b.stop()


@pytest.fixture
def stub(backend):
	backend.clear()
	backend.auth_handler = lambda body: (200, {"allow": True, "user_id": "u-" + str(body.get("token"))}, 0)
	return backend


@pytest.fixture(scope="module")
def auth_gw(module_gateway_factory, backend):
	return module_gateway_factory(files={"cardea.auth.http.jcfg": auth_cfg(backend.url + "/auth")})


async def session_ids(gw):
	async with open_admin(gw, "http") as admin:
		return set((await admin.ok({"janus": "list_sessions"}))["sessions"])


def deny_reason(body_reason):
	return f"Unauthorized request ({body_reason})"


async def test_create_and_attach_allowed_and_signed(auth_gw, stub, transport):
	async with open_api(auth_gw, transport) as api:
		sid = await api.create(token="tok-alice")
		hid = await api.attach(sid, auth_gw.plugin, token="tok-alice", opaque_id="op-1")
		await api.destroy(sid)
	creates = [r for r in stub.of("/auth") if r["json"]["action"] == "session.create"]
	attaches = [r for r in stub.of("/auth") if r["json"]["action"] == "handle.attach"]
	assert len(creates) == 1 and len(attaches) == 1, stub.requests
	assert creates[0]["json"]["token"] == "tok-alice"
	a = attaches[0]["json"]
	assert a["session_id"] == sid and a["plugin"] == auth_gw.plugin and a["opaque_id"] == "op-1", a
	assert a["token"] == "tok-alice"
	for r in creates + attaches:
		assert r["headers"].get("X-Cardea-Signature") == sign(SECRET, r["raw"]), r["headers"]
		assert r["headers"].get("X-Cardea-Signature") != sign("wrong", r["raw"])
	assert hid > 0


async def test_create_denied_creates_nothing(auth_gw, stub, transport):
	stub.auth_handler = lambda body: (200, {"allow": False, "reason": "banned user"}, 0)
	before = await session_ids(auth_gw)
	async with open_api(auth_gw, transport) as api:
		r = await api.request({"janus": "create", "token": "tok-mallory", "transaction": "deny-1"})
	assert r.get("transaction") == "deny-1", r
	expect_error(r, 403, deny_reason("banned user"))
	assert await session_ids(auth_gw) == before
	assert len(stub.of("/auth")) == 1


async def test_attach_denied_creates_no_handle(auth_gw, stub, transport):
	stub.auth_handler = lambda body: ((200, {"allow": False, "reason": "no plugin for you"}, 0)
		if body["action"] == "handle.attach" else (200, {"allow": True}, 0))
	async with open_api(auth_gw, transport) as api:
		sid = await api.create(token="tok-bob")
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": auth_gw.plugin, "token": "tok-bob"})
		expect_error(r, 403, deny_reason("no plugin for you"))
		assert r.get("session_id") == sid, r
		async with open_admin(auth_gw, "http") as admin:
			handles = (await admin.ok({"janus": "list_handles", "session_id": sid}))["handles"]
		assert handles == []
		await api.destroy(sid)


async def test_backend_401_is_a_deny(auth_gw, stub):
	stub.auth_handler = lambda body: (401, "not json at all", 0)
	async with open_api(auth_gw, "http") as api:
		r = await api.request({"janus": "create", "token": "x"})
	expect_error(r, 403, deny_reason("denied by the backend"))


async def test_backend_slower_than_timeout_denies(auth_gw, stub):
	stub.auth_handler = lambda body: (200, {"allow": True}, 1.5)
	before = await session_ids(auth_gw)
	async with open_api(auth_gw, "ws") as api:
		t0 = time.monotonic()
		r = await api.request({"janus": "create", "token": "slow"}, timeout=5)
		took = time.monotonic() - t0
	expect_error(r, 403, deny_reason("auth backend timeout"))
	assert 0.4 < took < 1.4, took
	assert await session_ids(auth_gw) == before


@pytest.mark.parametrize("garbage", ["not json", "[1,2]", '{"allow": "yes"}', '{"allow": true, "permissions": 5}', ""])
async def test_backend_garbage_denies(auth_gw, stub, garbage):
	stub.auth_handler = lambda body: (200, garbage, 0)
	before = await session_ids(auth_gw)
	async with open_api(auth_gw, "http") as api:
		r = await api.request({"janus": "create", "token": "g"})
	expect_error(r, 403, deny_reason("auth backend answer unreadable"))
	assert await session_ids(auth_gw) == before


async def test_api_thread_not_blocked_while_waiting(auth_gw, stub):
	"""A slow backend answer must not delay other clients' requests."""
	stub.auth_handler = lambda body: (200, {"allow": True}, 0.4)
	async with open_api(auth_gw, "ws") as slow, open_api(auth_gw, "ws") as fast:
		await slow.send({"janus": "create", "token": "s", "transaction": "slow-create"})
		t0 = time.monotonic()
		await fast.ping()
		assert time.monotonic() - t0 < 0.3
		r = await slow.take(lambda m: m.get("transaction") == "slow-create", 5)
		assert r["janus"] == "success", r
		await slow.destroy(r["data"]["id"])


async def test_metrics_count_decisions(auth_gw, stub):
	async def decisions():
		async with open_api(auth_gw, "http") as api:
			status, text = await api.get(f"http://127.0.0.1:{auth_gw.admin_http_port}/metrics",
				params={"admin_secret": auth_gw.admin_secret})
		assert status == 200, text
		vals = {}
		for line in text.splitlines():
			if line.startswith("cardea_auth_decisions_total{"):
				vals[line.split('"')[1]] = int(line.split()[-1])
			if line.startswith("cardea_auth_backend_"):
				vals[line.split("{")[0]] = float(line.split()[-1])
		return vals
	v0 = await decisions()
	stub.auth_handler = lambda body: (200, {"allow": False, "reason": "x"}, 0)
	async with open_api(auth_gw, "http") as api:
		expect_error(await api.request({"janus": "create", "token": "m"}), 403)
		stub.auth_handler = lambda body: (200, "garbage", 0)
		expect_error(await api.request({"janus": "create", "token": "m"}), 403)
		stub.auth_handler = lambda body: (200, {"allow": True}, 0)
		sid = await api.create(token="m")
		await api.destroy(sid)
	v1 = await decisions()
	assert v1["deny"] - v0["deny"] == 2 and v1["allow"] - v0["allow"] == 1, (v0, v1)
	assert v1["cardea_auth_backend_garbage"] - v0["cardea_auth_backend_garbage"] == 1


# ---- down backend, cache and fail_open (their own daemons) --------------------------

async def test_backend_down_denies(gateway_factory):
	from gateway import free_port
	dead = f"http://127.0.0.1:{free_port()}/auth"
	gw = gateway_factory(files={"cardea.auth.http.jcfg": auth_cfg(dead)})
	async with open_api(gw, "http") as api:
		r = await api.request({"janus": "create", "token": "t"})
	expect_error(r, 403, deny_reason("auth backend unreachable"))
	assert await session_ids(gw) == set()
	assert "backend unreachable" in gw.log_text()


async def test_fail_open_allows_when_backend_broken(gateway_factory, stub):
	gw = gateway_factory(files={"cardea.auth.http.jcfg": auth_cfg(stub.url + "/auth", fail_open=True)})
	stub.auth_handler = lambda body: (200, "garbage", 0)
	async with open_api(gw, "http") as api:
		sid = await api.create(token="t")
		# fail_open covers broken backends only: a real deny still denies.
		stub.auth_handler = lambda body: (200, {"allow": False, "reason": "nope"}, 0)
		expect_error(await api.request({"janus": "create", "token": "t2"}), 403, deny_reason("nope"))
		await api.destroy(sid)
	assert "allowing (fail_open)" in gw.log_text()


@pytest.mark.timeout_s(30)
async def test_allow_cached_for_ttl_deny_never(gateway_factory, stub):
	gw = gateway_factory(files={"cardea.auth.http.jcfg": auth_cfg(stub.url + "/auth", cache_ttl=2)})
	creates = lambda: [r for r in stub.of("/auth") if r["json"]["action"] == "session.create"]
	async with open_api(gw, "http") as api:
		s1 = await api.create(token="cache-me")
		s2 = await api.create(token="cache-me")
		assert len(creates()) == 1, "second create within cache_ttl must not ask the backend"
		s3 = await api.create(token="other-token")
		assert len(creates()) == 2, "another token is another cache entry"
		await asyncio.sleep(2.3)
		s4 = await api.create(token="cache-me")
		assert len(creates()) == 3, "the entry expired after cache_ttl"
		# Admin flush empties the cache.
		async with open_admin(gw, "http") as admin:
			r = await admin.ok({"janus": "auth_request", "request": {"request": "flush"}})
			assert r["response"]["flushed"] >= 1, r
			listed = (await admin.ok({"janus": "list_auth"}))["auth"]
			active = [m for m in listed if m["active"]]
			assert active == [{"package": "cardea.auth.http", "name": "http", "version_string": "0.1.0", "active": True}], listed
			assert {"package": "cardea.auth.jwt", "name": "jwt", "version_string": "0.1.0", "active": False} in listed, listed
		s5 = await api.create(token="cache-me")
		assert len(creates()) == 4
		stub.auth_handler = lambda body: (200, {"allow": False, "reason": "no"}, 0)
		for _ in range(2):
			expect_error(await api.request({"janus": "create", "token": "denied-tok"}), 403)
		assert len(creates()) == 6, "denies are never cached"
		for s in (s1, s2, s3, s4, s5):
			await api.destroy(s)


async def test_no_auth_module_configured_means_no_callbacks(gateway, stub):
	"""The module is installed but has no config file: today's behaviour."""
	async with open_api(gateway, "http") as api:
		sid = await api.create(token="whatever")
		await api.destroy(sid)
	assert stub.of("/auth") == []
	async with open_admin(gateway, "http") as admin:
		listed = (await admin.ok({"janus": "list_auth"}))["auth"]
	assert all(not m["active"] for m in listed), listed


# ---- memory: the auth and webhook paths under valgrind -----------------------------

@pytest.mark.timeout_s(180)
async def test_auth_and_webhook_memcheck_clean(gateway_factory, stub):
	import shutil
	from test_memcheck import _asan_build
	from test_webhook import hook_cfg
	if _asan_build():
		pytest.skip("ASan build: valgrind cannot run it (the asan layer covers it)")
	valgrind = shutil.which("valgrind")
	assert valgrind, "valgrind is not installed"
	wrapper = ["env", "CARDEA_NO_DLCLOSE=1", valgrind, "--error-exitcode=99", "--leak-check=full",
		"--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--num-callers=30"]
	gw = gateway_factory(wrapper=wrapper, start=False, files={
		"cardea.auth.http.jcfg": auth_cfg(stub.url + "/auth", cache_ttl=5, timeout_ms=3000),
		"cardea.events.webhook.jcfg": hook_cfg([stub.url + "/events"])})
	gw.start(wait=False)
	gw.wait_ready(timeout=90)
	async with open_api(gw, "ws") as api:
		sid = await api.create(token="mem")
		sid2 = await api.create(token="mem")          # cache hit
		await api.attach(sid, gw.plugin, token="mem")
		stub.auth_handler = lambda body: (200, {"allow": False, "reason": "no"}, 0)
		expect_error(await api.request({"janus": "create", "token": "deny"}), 403)
		stub.auth_handler = lambda body: (200, "garbage", 0)
		expect_error(await api.request({"janus": "create", "token": "garbage"}), 403)
		await api.destroy(sid2)
		# A create still waiting for the backend when the daemon stops.
		stub.auth_handler = lambda body: (200, {"allow": True}, 2.5)
		await api.send({"janus": "create", "token": "late", "transaction": "late"})
		await asyncio.sleep(0.5)
		rc, took = gw.stop(timeout=60)
	gw.assert_valgrind_clean(rc, took)


# ---- plugin actions: videoroom and videocall ask the module (docs/auth.md) ----------

VR = "janus.plugin.videoroom"
VC = "janus.plugin.videocall"


@pytest.fixture(scope="module")
def plugins_gw(module_gateway_factory, backend):
	"""Auth module + the videoroom and videocall plugins (a later -P wins)."""
	import shutil
	import tempfile
	from pathlib import Path
	import gateway as gwmod
	tmp = Path(tempfile.mkdtemp(prefix="cardea-authwire-plugins-"))
	for name in ("videoroom", "videocall"):
		shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / f"cardea_plugin_{name}.so", tmp)
	gw = module_gateway_factory(args=["-P", str(tmp)], files={
		"cardea.auth.http.jcfg": auth_cfg(backend.url + "/auth"),
		"cardea.plugin.videoroom.jcfg": "general: {\n}\n"})
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)


def deny_only(action, reason="not for you", **allow_extra):
	"""Denies `action`, allows the rest (with `allow_extra` in the allow answers)."""
	def handler(body):
		if body.get("action") == action:
			return (200, {"allow": False, "reason": reason}, 0)
		return (200, {"allow": True, **allow_extra}, 0)
	return handler


def answer_for(action, decision):
	"""`decision` for `action`, a plain allow for the rest."""
	return lambda body: (200, decision if body.get("action") == action else {"allow": True}, 0)


def asked(stub, action):
	return [r["json"] for r in stub.of("/auth") if r["json"]["action"] == action]


async def vr_sync(api, sid, hid, body):
	r = await api.message(sid, hid, body)
	assert r["janus"] == "success" and r["plugindata"]["plugin"] == VR, r
	return r["plugindata"]["data"]


async def vr_async(api, sid, hid, body):
	r = await api.message(sid, hid, body)
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=15)
	return ev["plugindata"]["data"]


def assert_433(data, reason):
	assert data.get("videoroom") == "event" and data.get("error_code") == 433, data
	assert data["error"] == f"Unauthorized request ({reason})", data


async def room_exists(api, sid, hid, room):
	data = await vr_sync(api, sid, hid, {"request": "exists", "room": room})
	return data["exists"]


async def participants(api, sid, hid, room):
	return (await vr_sync(api, sid, hid, {"request": "listparticipants", "room": room}))["participants"]


async def room_and_handles(api, stub, token):
	"""A session, two videoroom handles (admin, user) and a new room (allowed)."""
	import random
	room = random.randint(10 ** 6, 10 ** 9)
	sid = await api.create(token=token)
	admin_h, h = [await api.attach(sid, VR, token=token) for _ in range(2)]
	stub.auth_handler = deny_only("nothing")
	await vr_sync(api, sid, admin_h, {"request": "create", "room": room})
	return sid, admin_h, h, room


async def test_videoroom_create_and_destroy_allow_deny(plugins_gw, stub):
	import random
	room, other = random.sample(range(10 ** 6, 10 ** 9), 2)
	async with open_api(plugins_gw, "ws") as api:
		sid = await api.create(token="tok-vr")
		hid = await api.attach(sid, VR, token="tok-vr")
		stub.auth_handler = deny_only("videoroom.create", "no rooms for you")
		assert_433(await vr_sync(api, sid, hid, {"request": "create", "room": room}), "no rooms for you")
		assert not await room_exists(api, sid, hid, room)
		listed = (await vr_sync(api, sid, hid, {"request": "list"}))["list"]
		assert room not in [r["room"] for r in listed]
		# A rooms list restricts the ids: another room, or a random id, is refused.
		stub.auth_handler = answer_for("videoroom.create", {"allow": True, "permissions": {"rooms": [other]}})
		assert_433(await vr_sync(api, sid, hid, {"request": "create", "room": room}), "room not allowed")
		assert_433(await vr_sync(api, sid, hid, {"request": "create"}), "room not allowed")
		assert not await room_exists(api, sid, hid, room)
		stub.clear()
		stub.auth_handler = deny_only("nothing")
		data = await vr_sync(api, sid, hid, {"request": "create", "room": room, "secret": "s"})
		assert data == {"videoroom": "created", "room": room, "permanent": False}, data
		assert await room_exists(api, sid, hid, room)
		req = asked(stub, "videoroom.create")
		assert len(req) == 1 and req[0]["room"] == room and req[0]["token"] == "tok-vr", req
		assert req[0]["plugin"] == VR and req[0]["handle_id"] == hid, req
		# destroy: a deny keeps the room
		stub.auth_handler = deny_only("videoroom.destroy")
		assert_433(await vr_sync(api, sid, hid, {"request": "destroy", "room": room, "secret": "s"}), "not for you")
		assert await room_exists(api, sid, hid, room)
		stub.auth_handler = deny_only("nothing")
		data = await vr_sync(api, sid, hid, {"request": "destroy", "room": room, "secret": "s"})
		assert data["videoroom"] == "destroyed", data
		assert not await room_exists(api, sid, hid, room)
		await api.destroy(sid)


async def test_videoroom_join_publisher_allow_deny(plugins_gw, stub):
	async with open_api(plugins_gw, "ws") as api:
		sid, admin_h, h, room = await room_and_handles(api, stub, "tok-pub")
		join = {"request": "join", "ptype": "publisher", "room": room, "display": "client-name"}
		stub.auth_handler = deny_only("videoroom.join.publisher", "banned")
		assert_433(await vr_async(api, sid, h, join), "banned")
		assert await participants(api, sid, admin_h, room) == []
		stub.auth_handler = answer_for("videoroom.join.publisher", {"allow": True, "permissions": {"publish": False}})
		assert_433(await vr_async(api, sid, h, join), "no publish permission")
		stub.auth_handler = answer_for("videoroom.join.publisher",
			{"allow": True, "permissions": {"rooms": [str(room + 1)]}})
		assert_433(await vr_async(api, sid, h, join), "room not allowed")
		assert await participants(api, sid, admin_h, room) == []
		stub.clear()
		# Allowed; the decision's display overrides the client's, also on configure.
		stub.auth_handler = answer_for("videoroom.join.publisher",
			{"allow": True, "display": "Forced Name", "permissions": {"rooms": [str(room)], "publish": True}})
		data = await vr_async(api, sid, h, join)
		assert data["videoroom"] == "joined", data
		req = asked(stub, "videoroom.join.publisher")
		assert len(req) == 1 and req[0]["room"] == room and req[0]["display"] == "client-name", req
		parts = await participants(api, sid, admin_h, room)
		assert [(p["id"], p.get("display")) for p in parts] == [(data["id"], "Forced Name")], parts
		await vr_async(api, sid, h, {"request": "configure", "display": "renamed"})
		parts = await participants(api, sid, admin_h, room)
		assert [p.get("display") for p in parts] == ["Forced Name"], parts
		await vr_sync(api, sid, admin_h, {"request": "destroy", "room": room})
		await api.destroy(sid)


async def test_videoroom_join_subscriber_allow_deny(plugins_gw, stub):
	async with open_api(plugins_gw, "ws") as api:
		sid, admin_h, h, room = await room_and_handles(api, stub, "tok-sub")
		join = {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": 4242}]}
		for handler, reason in ((deny_only("videoroom.join.subscriber", "viewers only"), "viewers only"),
				(answer_for("videoroom.join.subscriber", {"allow": True, "permissions": {"subscribe": False}}),
					"no subscribe permission")):
			stub.auth_handler = handler
			assert_433(await vr_async(api, sid, h, join), reason)
		# The handle is still free: nothing was created (a publisher join works).
		stub.clear()
		stub.auth_handler = deny_only("nothing")
		data = await vr_async(api, sid, h, join)
		assert data.get("error_code") == 428, data     # past auth: the plugin's own "no such feed"
		req = asked(stub, "videoroom.join.subscriber")
		assert len(req) == 1 and req[0]["room"] == room and req[0]["feeds"] == [{"feed": 4242}], req
		data = await vr_async(api, sid, h, {"request": "join", "ptype": "publisher", "room": room})
		assert data["videoroom"] == "joined", data
		await vr_sync(api, sid, admin_h, {"request": "destroy", "room": room})
		await api.destroy(sid)


async def vc_req(api, sid, hid, body):
	r = await api.message(sid, hid, body)
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=15)
	return ev["plugindata"]["data"]


async def vc_users(api, sid, hid):
	return (await vc_req(api, sid, hid, {"request": "list"}))["result"]["list"]


async def test_videocall_register_and_call_allow_deny(plugins_gw, stub):
	import uuid
	alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
	async with open_api(plugins_gw, "ws") as api:
		sid = await api.create(token="tok-vc")
		ha, hb = [await api.attach(sid, VC, token="tok-vc") for _ in range(2)]
		stub.auth_handler = deny_only("videocall.register", "no phone")
		data = await vc_req(api, sid, ha, {"request": "register", "username": alice})
		assert data.get("error_code") == 472 and data["error"] == "Unauthorized request (no phone)", data
		assert alice not in await vc_users(api, sid, ha)
		stub.clear()
		stub.auth_handler = deny_only("nothing")
		for h, name in ((ha, alice), (hb, bob)):
			data = await vc_req(api, sid, h, {"request": "register", "username": name})
			assert data["result"] == {"event": "registered", "username": name}, data
		req = asked(stub, "videocall.register")
		assert sorted(r["display"] for r in req) == sorted([alice, bob]), req
		assert {alice, bob} <= set(await vc_users(api, sid, ha))
		# call: a deny answers 472 and bob hears nothing
		stub.auth_handler = deny_only("videocall.call", "no calls")
		data = await vc_req(api, sid, ha, {"request": "call", "username": bob})
		assert data.get("error_code") == 472 and data["error"] == "Unauthorized request (no calls)", data
		await asyncio.sleep(0.3)
		assert not any(m.get("sender") == hb and "incomingcall" in json.dumps(m) for m in api.pending(sid)), \
			api.pending(sid)
		stub.clear()
		stub.auth_handler = deny_only("nothing")
		data = await vc_req(api, sid, ha, {"request": "call", "username": bob})
		assert data.get("error_code") == 482, data      # past auth: no SDP sent
		req = asked(stub, "videocall.call")
		assert len(req) == 1 and req[0]["peer"] == bob and req[0]["token"] == "tok-vc", req
		await api.destroy(sid)


# ---- WHIP/WHEP: the broadcast plugin asks with the whip.* / whep.* actions ----------

@pytest.mark.timeout_s(60)
async def test_whip_whep_allow_deny(gateway_factory, backend, stub):
	import shutil
	import aiohttp
	from bcutil import broadcast_gateway, presenter_pc, viewer_pc
	gw, tmp = broadcast_gateway(gateway_factory, files={"cardea.auth.http.jcfg": auth_cfg(backend.url + "/auth")})
	base = f"http://127.0.0.1:{gw.http_port}"
	headers = {"Content-Type": "application/sdp", "Authorization": "Bearer whip-user"}
	pc = await presenter_pc((230, 20, 20))
	viewer, _ = await viewer_pc()
	try:
		async with aiohttp.ClientSession() as http:
			# Denied WHIP: 403, the backend was asked for whip.publish, nobody presents.
			stub.auth_handler = deny_only("whip.publish", "no ingest for you")
			async with http.post(f"{base}/whip/demo", data=pc.localDescription.sdp.encode(), headers=headers) as r:
				assert r.status == 403, (r.status, await r.text())
			ask = asked(stub, "whip.publish")
			assert ask and ask[-1]["channel"] == "demo" and ask[-1]["token"] == "whip-user", ask
			assert not asked(stub, "broadcast.present"), stub.of("/auth")
			# Allowed WHIP: 201 and a resource.
			stub.auth_handler = deny_only("whep.play", "no playback")
			async with http.post(f"{base}/whip/demo", data=pc.localDescription.sdp.encode(), headers=headers) as r:
				assert r.status == 201, (r.status, await r.text())
				res = r.headers["Location"]
			# Denied WHEP: 403, asked as whep.play.
			async with http.post(f"{base}/whep/demo", data=viewer.localDescription.sdp.encode(), headers=headers) as r:
				assert r.status == 403, (r.status, await r.text())
			assert asked(stub, "whep.play"), stub.of("/auth")
			async with http.delete(base + res) as r:
				assert r.status == 200
	finally:
		await pc.close()
		await viewer.close()
		shutil.rmtree(tmp, ignore_errors=True)
