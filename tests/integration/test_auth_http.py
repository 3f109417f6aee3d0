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
	import re
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
	log = gw.log_text()
	summary = re.search(r"ERROR SUMMARY: (\d+) errors", log)
	assert summary, f"no valgrind summary in the log:\n{gw.log_tail(60)}"
	assert summary.group(1) == "0", f"valgrind found errors:\n{gw.log_tail(120)}"
	lost = re.search(r"definitely lost: ([\d,]+) bytes", log)
	assert lost is None or lost.group(1) == "0", f"definite leaks:\n{gw.log_tail(120)}"
	assert rc == 0, f"exit code {rc} under valgrind after {took:.1f}s:\n{gw.log_tail(60)}"
