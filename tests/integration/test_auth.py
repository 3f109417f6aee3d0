"""api_secret and token auth (janus-api.md §3.5)."""

import base64
import hashlib
import hmac
import time

import pytest

from apiclient import async_probe, expect_error, open_admin, open_api

UNAUTHORIZED = "Unauthorized request (wrong or missing secret/token)"
SECRET = "s3cret-itest"


# ---- api_secret -------------------------------------------------------------------

@pytest.fixture(scope="module")
def secret_gw(module_gateway_factory):
	return module_gateway_factory(api_secret=SECRET)


async def test_api_secret_needed_for_create(secret_gw, transport):
	async with open_api(secret_gw, transport) as api:
		for extra in ({}, {"apisecret": "wrong"}, {"apisecret": ""}, {"apisecret": 5}):
			r = await api.request({"janus": "create", "transaction": "nosec", **extra})
			assert r.get("transaction") == "nosec", r
			expect_error(r, 403, UNAUTHORIZED)
		r = await api.request({"janus": "create", "apisecret": SECRET})
		assert r["janus"] == "success", r
		await api.request({"janus": "destroy", "session_id": r["data"]["id"], "apisecret": SECRET})


async def test_api_secret_not_needed_for_info_and_ping(secret_gw, transport):
	async with open_api(secret_gw, transport) as api:
		r = await api.request({"janus": "info"})
		assert r["janus"] == "server_info" and r["api_secret"] is True and r["auth_token"] is False, r
		await api.ping()


async def test_api_secret_needed_for_every_session_request(secret_gw, transport):
	async with open_api(secret_gw, transport) as api:
		r = await api.request({"janus": "create", "apisecret": SECRET})
		sid = r["data"]["id"]
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": secret_gw.plugin, "apisecret": SECRET})
		hid = r["data"]["id"]
		for msg in ({"janus": "keepalive", "session_id": sid},
				{"janus": "attach", "session_id": sid, "plugin": secret_gw.plugin},
				{"janus": "claim", "session_id": sid},
				{"janus": "message", "session_id": sid, "handle_id": hid, "body": async_probe(secret_gw)},
				{"janus": "trickle", "session_id": sid, "handle_id": hid, "candidate": {"completed": True}},
				{"janus": "hangup", "session_id": sid, "handle_id": hid},
				{"janus": "detach", "session_id": sid, "handle_id": hid},
				{"janus": "destroy", "session_id": sid}):
			r = await api.request(dict(msg, transaction="ns"))
			assert r.get("transaction") == "ns", r
			expect_error(r, 403, UNAUTHORIZED)
			r = await api.request(dict(msg, apisecret="nope"))
			expect_error(r, 403, UNAUTHORIZED)
		# nothing happened: the handle is still there
		r = await api.request({"janus": "keepalive", "session_id": sid, "apisecret": SECRET})
		assert r["janus"] == "ack", r
		r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid,
			"body": async_probe(secret_gw), "apisecret": SECRET})
		assert r["janus"] == "ack", r
		r = await api.request({"janus": "destroy", "session_id": sid, "apisecret": SECRET})
		assert r["janus"] == "success", r


async def test_api_secret_checked_before_lookup(secret_gw, transport):
	async with open_api(secret_gw, transport) as api:
		r = await api.request({"janus": "keepalive", "session_id": 1234567})
		expect_error(r, 403, UNAUTHORIZED)
		r = await api.request({"janus": "keepalive", "session_id": 1234567, "apisecret": SECRET})
		expect_error(r, 458, "No such session 1234567")


async def test_api_secret_long_poll(secret_gw):
	async with open_api(secret_gw, "http") as api:
		sid = (await api.request({"janus": "create", "apisecret": SECRET}))["data"]["id"]
		hid = (await api.request({"janus": "attach", "session_id": sid, "plugin": secret_gw.plugin,
			"apisecret": SECRET}))["data"]["id"]
		status, body = await api.poll(sid, maxev=5, timeout=5)
		assert status == 403, (status, body)
		status, body = await api.poll(sid, maxev=5, timeout=5, apisecret="wrong")
		assert status == 403, (status, body)
		r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid,
			"body": async_probe(secret_gw), "apisecret": SECRET})
		status, body = await api.poll(sid, maxev=5, timeout=5, apisecret=SECRET)
		assert status == 200 and body[0]["transaction"] == r["transaction"], (status, body)
		await api.request({"janus": "destroy", "session_id": sid, "apisecret": SECRET})


async def test_admin_api_ignores_api_secret(secret_gw):
	async with open_admin(secret_gw, "http") as admin:
		await admin.ok({"janus": "list_sessions"})
		r = await admin.request({"janus": "list_sessions", "apisecret": SECRET}, secret=None)
		expect_error(r, 403, UNAUTHORIZED)


# ---- stored tokens ----------------------------------------------------------------

@pytest.fixture(scope="module")
def token_gw(module_gateway_factory):
	return module_gateway_factory(token_auth=True)


async def test_token_needed(token_gw, transport):
	async with open_api(token_gw, transport) as api:
		r = await api.request({"janus": "info"})
		assert r["auth_token"] is True and r["api_secret"] is False, r
		await api.ping()
		for extra in ({}, {"token": "never-added"}, {"token": 12}):
			r = await api.request({"janus": "create", "transaction": "nt", **extra})
			assert r.get("transaction") == "nt", r
			expect_error(r, 403, UNAUTHORIZED)


async def test_stored_token_lifecycle(token_gw, transport):
	tok = f"tok-{transport}-{time.monotonic_ns()}"
	plugin = token_gw.plugin
	async with open_api(token_gw, transport) as api, open_admin(token_gw, "http") as admin:
		r = await admin.ok({"janus": "add_token", "token": tok, "transaction": "at"})
		assert r["transaction"] == "at" and r["data"]["plugins"] == [plugin], r
		r = await admin.ok({"janus": "list_tokens"})
		assert {"token": tok, "allowed_plugins": [plugin]} in r["data"]["tokens"], r

		sid = await api.create(token=tok)
		await api.attach(sid, plugin, token=tok)
		r = await api.request({"janus": "keepalive", "session_id": sid})
		expect_error(r, 403, UNAUTHORIZED)
		r = await api.request({"janus": "keepalive", "session_id": sid, "token": tok})
		assert r["janus"] == "ack", r

		# take the plugin away: attach is refused with 405, other requests still work
		r = await admin.ok({"janus": "disallow_token", "token": tok, "plugins": [plugin]})
		assert r["data"]["plugins"] == [], r
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": plugin, "token": tok, "transaction": "a405"})
		assert r.get("transaction") == "a405", r
		expect_error(r, 405, f"Provided token can't access plugin '{plugin}'")
		r = await admin.ok({"janus": "allow_token", "token": tok, "plugins": [plugin]})
		assert r["data"]["plugins"] == [plugin], r
		await api.attach(sid, plugin, token=tok)

		r = await admin.ok({"janus": "remove_token", "token": tok, "transaction": "rt"})
		assert r["transaction"] == "rt"
		r = await api.request({"janus": "keepalive", "session_id": sid, "token": tok})
		expect_error(r, 403, UNAUTHORIZED)
		r = await api.request({"janus": "create", "token": tok})
		expect_error(r, 403, UNAUTHORIZED)
		r = await admin.ok({"janus": "list_tokens"})
		assert tok not in [t["token"] for t in r["data"]["tokens"]], r
		async with open_admin(token_gw, "ws") as wadmin:
			await wadmin.ok({"janus": "destroy_session", "session_id": sid})


async def test_token_admin_errors(token_gw):
	async with open_admin(token_gw, "ws") as admin:
		tok = f"tok-err-{time.monotonic_ns()}"
		r = await admin.request({"janus": "add_token"})
		expect_error(r, 456, "Missing mandatory element (token)")
		r = await admin.request({"janus": "add_token", "token": 5})
		expect_error(r, 467)
		for verb in ("allow_token", "disallow_token"):
			r = await admin.request({"janus": verb, "token": "no-such-token", "plugins": [token_gw.plugin]})
			expect_error(r, 470)
			# Janus answers a missing list as a wrong type
			r = await admin.request({"janus": verb, "token": "no-such-token"})
			assert r["janus"] == "error" and r["error"]["code"] in (456, 467), r
			r = await admin.request({"janus": verb, "token": "no-such-token", "plugins": []})
			expect_error(r, 467)
		await admin.ok({"janus": "add_token", "token": tok})
		# allow/disallow refuse the whole list when any entry is not a loaded
		# plugin (add_token, below, skips such entries instead)
		for verb in ("allow_token", "disallow_token"):
			for plugins in (["cardea.plugin.nope"], ["cardea.plugin.nope", token_gw.plugin], [5]):
				r = await admin.request({"janus": verb, "token": tok, "plugins": plugins})
				expect_error(r, 467, "Invalid element type (some of the provided plugins are invalid)")
		r = await admin.ok({"janus": "list_tokens"})
		assert {"token": tok, "allowed_plugins": [token_gw.plugin]} in r["data"]["tokens"], r
		# (Janus's add_token skips unknown plugins with a warning; refusing is fine too)
		r = await admin.request({"janus": "add_token", "token": tok + "-2", "plugins": ["cardea.plugin.nope"]})
		if r["janus"] == "success":
			assert "cardea.plugin.nope" not in r["data"]["plugins"], r
			await admin.ok({"janus": "remove_token", "token": tok + "-2"})
		else:
			assert r["error"]["code"] in (460, 467), r
		# Janus: 490 "Error removing token"; 470 (token not found) says it better
		r = await admin.request({"janus": "remove_token", "token": "no-such-token"})
		assert r["janus"] == "error" and r["error"]["code"] in (470, 490), r
		await admin.ok({"janus": "remove_token", "token": tok})


async def test_token_long_poll(token_gw):
	tok = f"tok-lp-{time.monotonic_ns()}"
	async with open_api(token_gw, "http") as api, open_admin(token_gw, "http") as admin:
		await admin.ok({"janus": "add_token", "token": tok})
		sid = await api.create(token=tok)
		status, body = await api.poll(sid, maxev=5, timeout=5)
		assert status == 403, (status, body)
		hid = await api.attach(sid, token_gw.plugin, token=tok)
		r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid,
			"body": async_probe(token_gw), "token": tok})
		status, body = await api.poll(sid, maxev=5, timeout=5, token=tok)
		assert status == 200 and body[0]["transaction"] == r["transaction"], (status, body)
		await api.request({"janus": "destroy", "session_id": sid, "token": tok})
		await admin.ok({"janus": "remove_token", "token": tok})


async def test_secret_or_token_suffices(gateway_factory):
	gw = gateway_factory(api_secret=SECRET, token_auth=True)
	tok = "tok-both"
	async with open_api(gw, "ws") as api, open_admin(gw, "ws") as admin:
		await admin.ok({"janus": "add_token", "token": tok})
		r = await api.request({"janus": "create"})
		expect_error(r, 403, UNAUTHORIZED)
		r = await api.request({"janus": "create", "apisecret": "bad", "token": "bad"})
		expect_error(r, 403, UNAUTHORIZED)
		s1 = (await api.request({"janus": "create", "apisecret": SECRET}))["data"]["id"]
		s2 = (await api.request({"janus": "create", "token": tok}))["data"]["id"]
		s3 = (await api.request({"janus": "create", "apisecret": "bad", "token": tok}))["data"]["id"]
		for sid in (s1, s2, s3):
			r = await api.request({"janus": "destroy", "session_id": sid, "apisecret": SECRET})
			assert r["janus"] == "success", r


# ---- signed tokens (token_auth_secret) --------------------------------------------

HMAC_KEY = "hmac-key-itest"


def signed_token(plugins, expiry, key=HMAC_KEY, realm="janus"):
	data = ",".join([str(expiry), realm] + list(plugins))
	sig = base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()).decode()
	return f"{data}:{sig}"


async def test_signed_tokens(gateway_factory, transport):
	gw = gateway_factory(token_auth=True, token_auth_secret=HMAC_KEY)
	later = int(time.time()) + 3600
	good = signed_token([gw.plugin], later)
	async with open_api(gw, transport) as api, open_admin(gw, "http") as admin:
		sid = await api.create(token=good)
		await api.attach(sid, gw.plugin, token=good)
		r = await api.request({"janus": "keepalive", "session_id": sid, "token": good})
		assert r["janus"] == "ack", r
		bad = [
			signed_token([gw.plugin], int(time.time()) - 10),          # expired
			signed_token([gw.plugin], later, key="other-key"),         # wrong key
			signed_token([gw.plugin], later, realm="other"),           # wrong realm
			good[:-4] + "AAA=",                                          # tampered signature
			good.split(":")[0],                                          # no signature
			f"{later + 10},janus,{gw.plugin}:" + good.split(":")[1],   # payload changed
		]
		for tok in bad:
			r = await api.request({"janus": "create", "token": tok})
			expect_error(r, 403, UNAUTHORIZED)
		# valid, but for another plugin: create works, attach is refused with 405
		other = signed_token(["cardea.plugin.other"], later)
		sid2 = await api.create(token=other)
		r = await api.request({"janus": "attach", "session_id": sid2, "plugin": gw.plugin, "token": other})
		expect_error(r, 405, f"Provided token can't access plugin '{gw.plugin}'")
		# several plugins in one token
		multi = signed_token(["cardea.plugin.other", gw.plugin], later)
		await api.attach(sid2, gw.plugin, token=multi)
		# stored-token management is off in this mode
		r = await admin.request({"janus": "add_token", "token": "x"})
		expect_error(r, 490)
		for s in (sid, sid2):
			await api.request({"janus": "destroy", "session_id": s, "token": good})
