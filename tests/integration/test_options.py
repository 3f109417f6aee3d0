"""cardea.jcfg general options that change what clients see: limits on
sessions and handles, opaque_id in events."""

import pytest

from apiclient import async_probe, expect_error, open_admin, open_api


@pytest.fixture(scope="module")
def limited_gw(module_gateway_factory):
	return module_gateway_factory(max_sessions=3, max_handles_per_session=2)


@pytest.mark.cardea_only
async def test_max_sessions(limited_gw, transport):
	async with open_api(limited_gw, transport) as api, open_admin(limited_gw, "http") as admin:
		assert await admin.list_sessions() == []
		sids = [await api.create() for _ in range(3)]
		r = await api.request({"janus": "create", "transaction": "full"})
		assert r.get("transaction") == "full", r
		expect_error(r, 490, "Maximum number of sessions (3) reached")
		await api.destroy(sids.pop())
		sids.append(await api.create())
		for sid in sids:
			await api.destroy(sid)


@pytest.mark.cardea_only
async def test_max_handles_per_session(limited_gw, transport):
	async with open_api(limited_gw, transport) as api:
		sid = await api.create()
		other = await api.create()
		h1 = await api.attach(sid, limited_gw.plugin)
		await api.attach(sid, limited_gw.plugin)
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": limited_gw.plugin, "transaction": "hf"})
		assert r.get("transaction") == "hf" and r.get("session_id") == sid, r
		expect_error(r, 490, "Maximum number of handles per session (2) reached")
		# the limit is per session
		await api.attach(other, limited_gw.plugin)
		r = await api.request({"janus": "detach", "session_id": sid, "handle_id": h1})
		assert r["janus"] == "success", r
		await api.event(sid, {"janus": "detached"})
		await api.attach(sid, limited_gw.plugin)
		await api.destroy(sid)
		await api.destroy(other)


async def test_opaque_id_in_events(gateway_factory, transport):
	gw = gateway_factory(opaqueid_in_api=True)
	async with open_api(gw, transport) as api:
		assert (await api.request({"janus": "info"}))["opaqueid_in_api"] is True
		sid = await api.create()
		hid = await api.attach(sid, gw.plugin, opaque_id="op-events")
		bare = await api.attach(sid, gw.plugin)
		r = await api.message(sid, hid, async_probe(gw))
		ev = await api.event(sid, {"transaction": r["transaction"]})
		assert ev.get("opaque_id") == "op-events", ev
		r = await api.message(sid, bare, async_probe(gw))
		ev = await api.event(sid, {"transaction": r["transaction"]})
		assert "opaque_id" not in ev, ev
		await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
		ev = await api.event(sid, {"janus": "detached"})
		assert ev == {"janus": "detached", "session_id": sid, "sender": hid, "opaque_id": "op-events"}, ev
		await api.destroy(sid)


async def test_no_opaque_id_in_events_by_default(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin, opaque_id="op-hidden")
		r = await api.message(sid, hid, async_probe(gateway))
		ev = await api.event(sid, {"transaction": r["transaction"]})
		assert "opaque_id" not in ev, ev
		await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
		ev = await api.event(sid, {"janus": "detached"})
		assert ev == {"janus": "detached", "session_id": sid, "sender": hid}, ev
		await api.destroy(sid)
