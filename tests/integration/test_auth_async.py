"""Plugin auth checks never hold a thread while the backend thinks, the
backend learns the client's address, and the max_bitrate it grants is
enforced (docs/auth.md):

  * a videoroom join parked on a slow backend does not delay another
    client's join, and the same client's next request waits behind it (the
    order a client sends in is kept);
  * guarded synchronous requests (create) are answered later instead of
    holding the core's request workers: with 2 workers and 4 slow creates in
    flight, an unguarded request is answered at once;
  * remote_addr is in session.create, handle.attach and plugin actions, over
    HTTP and WebSocket;
  * permissions.max_bitrate becomes a REMB cap the publisher receives.
"""

import asyncio
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import gateway as gwmod
from apiclient import open_admin, open_api
from test_auth_http import auth_cfg, backend, stub  # noqa: F401 (fixtures)

pytestmark = pytest.mark.cardea_only

VR = "janus.plugin.videoroom"
SLOW_S = 1.5


@pytest.fixture(scope="module")
def gw(module_gateway_factory, backend):
	tmp = Path(tempfile.mkdtemp(prefix="cardea-authasync-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_videoroom.so", tmp)
	g = module_gateway_factory(args=["-P", str(tmp)], request_workers=2,
		sections={"nat": {"ice_enforce_list": "127.0.0.1"}},
		files={"cardea.auth.http.jcfg": auth_cfg(backend.url + "/auth", timeout_ms=4000),
			"cardea.plugin.videoroom.jcfg": "general: {\n}\n"})
	yield g
	shutil.rmtree(tmp, ignore_errors=True)


def slow_for(token, action=None):
	"""Allows everything; answers `token`'s requests (for `action`, or all) after SLOW_S."""
	def handler(body):
		slow = body.get("token") == token and (action is None or body.get("action") == action)
		return (200, {"allow": True}, SLOW_S if slow else 0)
	return handler


async def send_message(api, sid, hid, body):
	"""Sends without waiting for the reply; returns the transaction."""
	tx = f"tx-{random.getrandbits(40)}"
	await api.send({"janus": "message", "session_id": sid, "handle_id": hid, "body": body, "transaction": tx})
	return tx


async def event_for(api, sid, tx, timeout=10):
	ev = await api.event(sid, {"janus": "event", "transaction": tx}, timeout=timeout)
	return ev["plugindata"]["data"]


async def new_room(api, sid, hid):
	room = random.randint(10 ** 6, 10 ** 9)
	r = await api.message(sid, hid, {"request": "create", "room": room})
	assert r["janus"] == "success" and r["plugindata"]["data"]["videoroom"] == "created", r
	return room


async def test_parked_join_delays_only_its_own_client(gw, stub):
	async with open_api(gw, "ws") as slow_api, open_api(gw, "ws") as fast_api:
		s_sid = await slow_api.create(token="slow")
		s_hid = await slow_api.attach(s_sid, VR, token="slow")
		f_sid = await fast_api.create(token="fast")
		f_hid = await fast_api.attach(f_sid, VR, token="fast")
		room = await new_room(fast_api, f_sid, f_hid)
		stub.auth_handler = slow_for("slow", "videoroom.join.publisher")
		t0 = time.monotonic()
		join_tx = await send_message(slow_api, s_sid, s_hid,
			{"request": "join", "ptype": "publisher", "room": room, "display": "slow"})
		# Sent right behind the join: must run after it (not "join first").
		conf_tx = await send_message(slow_api, s_sid, s_hid, {"request": "configure", "display": "renamed"})
		await asyncio.sleep(0.2)        # the slow join is parked by now
		fast = await fast_api.message(f_sid, f_hid, {"request": "join", "ptype": "publisher", "room": room})
		assert fast["janus"] == "ack", fast
		data = await event_for(fast_api, f_sid, fast["transaction"])
		fast_took = time.monotonic() - t0
		assert data["videoroom"] == "joined", data
		assert fast_took < SLOW_S - 0.3, f"the fast join waited behind the slow one ({fast_took:.2f} s)"
		joined = await event_for(slow_api, s_sid, join_tx)
		slow_took = time.monotonic() - t0
		assert joined["videoroom"] == "joined", joined
		assert slow_took >= SLOW_S - 0.1, slow_took
		conf = await event_for(slow_api, s_sid, conf_tx)
		assert conf.get("configured") == "ok", conf
		assert [r["json"]["action"] for r in stub.of("/auth") if r["json"].get("token") == "slow"][-1] == \
			"videoroom.join.publisher"
		await slow_api.destroy(s_sid)
		await fast_api.destroy(f_sid)


async def test_guarded_sync_requests_hold_no_worker(gw, stub):
	async with open_api(gw, "ws") as api:
		sid = await api.create(token="tok")
		hids = [await api.attach(sid, VR, token="tok") for _ in range(5)]
		stub.auth_handler = slow_for("tok", "videoroom.create")
		rooms = random.sample(range(10 ** 6, 10 ** 9), 4)
		t0 = time.monotonic()
		creates = [asyncio.ensure_future(api.message(sid, h, {"request": "create", "room": r}))
			for h, r in zip(hids, rooms)]
		await asyncio.sleep(0.2)
		r = await api.message(sid, hids[4], {"request": "list"})
		took = time.monotonic() - t0
		assert r["janus"] == "success", r
		assert took < SLOW_S - 0.3, f"list waited for the creates' auth ({took:.2f} s): workers were held"
		done = await asyncio.wait_for(asyncio.gather(*creates), 10)
		assert time.monotonic() - t0 >= SLOW_S - 0.1
		for reply, room in zip(done, rooms):
			# Still the synchronous Janus reply: success + plugindata, not ack/event.
			assert reply["janus"] == "success", reply
			assert reply["plugindata"]["data"] == {"videoroom": "created", "room": room, "permanent": False}, reply
		listed = (await api.message(sid, hids[4], {"request": "list"}))["plugindata"]["data"]["list"]
		assert set(rooms) <= {x["room"] for x in listed}
		stub.auth_handler = lambda body: (200, {"allow": True}, 0)
		for h, room in zip(hids, rooms):
			r = await api.message(sid, h, {"request": "destroy", "room": room})
			assert r["plugindata"]["data"]["videoroom"] == "destroyed", r
		await api.destroy(sid)


async def test_parked_sync_request_of_a_gone_handle_is_answered(gw, stub):
	async with open_api(gw, "ws") as api:
		sid = await api.create(token="gone")
		hid = await api.attach(sid, VR, token="gone")
		stub.auth_handler = slow_for("gone", "videoroom.create")
		room = random.randint(10 ** 6, 10 ** 9)
		pending = asyncio.ensure_future(api.message(sid, hid, {"request": "create", "room": room}))
		await asyncio.sleep(0.3)
		r = await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
		assert r["janus"] == "success", r
		reply = await asyncio.wait_for(pending, 10)
		# Janus answers 462 for a message whose plugin went away.
		assert reply["janus"] == "error" and reply["error"]["code"] == 462, reply
		h2 = await api.attach(sid, VR, token="other")
		stub.auth_handler = lambda body: (200, {"allow": True}, 0)
		ex = await api.message(sid, h2, {"request": "exists", "room": room})
		assert ex["plugindata"]["data"]["exists"] is False, ex
		await api.destroy(sid)


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_remote_addr_reaches_the_backend(gw, stub, transport):
	async with open_api(gw, transport) as api:
		sid = await api.create(token="where")
		hid = await api.attach(sid, VR, token="where")
		await new_room(api, sid, hid)
		await api.destroy(sid)
	asked = {r["json"]["action"]: r["json"] for r in stub.of("/auth") if r["json"].get("token") == "where"}
	assert set(asked) >= {"session.create", "handle.attach", "videoroom.create"}, asked
	for action, body in asked.items():
		assert body.get("remote_addr") == "127.0.0.1", (action, body)


@pytest.mark.timeout_s(60)
async def test_max_bitrate_becomes_a_remb_cap(gw, stub):
	from aiortc import RTCPeerConnection, RTCSessionDescription
	from aiortc.mediastreams import VideoStreamTrack
	from aiortc.rtp import RtcpPsfbPacket, unpack_remb_fci
	from test_videoroom import request
	cap = 321000

	def handler(body):
		if body.get("action") == "videoroom.join.publisher":
			return (200, {"allow": True, "permissions": {"max_bitrate": cap}}, 0)
		return (200, {"allow": True}, 0)

	async with open_api(gw, "ws") as api, open_admin(gw, "http") as admin:
		sid = await api.create(token="capped")
		hid = await api.attach(sid, VR, token="capped")
		room = await new_room(api, sid, hid)   # no room bitrate: only the auth cap applies
		stub.auth_handler = handler
		data, _ = await request(api, sid, hid, {"request": "join", "ptype": "publisher", "room": room})
		assert data["videoroom"] == "joined", data
		pc = RTCPeerConnection()
		sender = pc.addTrack(VideoStreamTrack())
		rembs = []
		original = sender._handle_rtcp_packet

		async def spy(packet):
			if isinstance(packet, RtcpPsfbPacket) and packet.fmt == 15:
				bitrate, ssrcs = unpack_remb_fci(packet.fci)
				rembs.append((bitrate, ssrcs))
			await original(packet)
		sender._handle_rtcp_packet = spy
		await pc.setLocalDescription(await pc.createOffer())
		conf, jsep = await request(api, sid, hid, {"request": "publish"},
			jsep={"type": "offer", "sdp": pc.localDescription.sdp})
		assert conf.get("configured") == "ok", conf
		await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
		await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=10)
		for _ in range(50):
			if rembs:
				break
			await asyncio.sleep(0.1)
		assert rembs, "the publisher got no REMB"
		assert all(b == cap for b, _ in rembs), rembs
		assert sender._ssrc in rembs[0][1], rembs
		info = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid})
		assert f'"remb_auth_cap": {cap}' in json.dumps(info), info
		await pc.close()
		await api.destroy(sid)
