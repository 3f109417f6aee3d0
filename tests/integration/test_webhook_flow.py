"""Plugin events reach webhooks (docs/events.md): a full videoroom flow
(create → publisher joins and publishes → a subscriber joins → both leave →
destroy) and a broadcast flow (presenter on → viewer joined → viewer left →
presenter off) arrive typed, in order, with valid signatures, next to the
core's webrtc.up events of the same handles."""

import asyncio
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

import gateway as gwmod
from apiclient import open_api
from bcutil import broadcast_gateway, presenter_pc, viewer_pc
from stub_backend import sign
from test_webhook import SECRET, delivered, hook_cfg, receiver, wait_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.cardea_only

VR = "janus.plugin.videoroom"
BC = "cardea.plugin.broadcast"


async def request(api, sid, hid, body, jsep=None):
	r = await api.message(sid, hid, body, jsep=jsep)
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=10)
	return ev["plugindata"]["data"], ev.get("jsep")


def check_signed(receiver):
	posts = receiver.of("/events", accepted=True)
	assert posts
	for r in posts:
		assert r["headers"]["X-Cardea-Signature"] == sign(SECRET, r["raw"]), r["headers"]
	events = delivered(receiver)
	ids = [e["id"] for e in events]
	assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
	return events


@pytest.mark.timeout_s(90)
async def test_videoroom_flow_events(gateway_factory, receiver):
	tmp = Path(tempfile.mkdtemp(prefix="cardea-hookflow-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_videoroom.so", tmp)
	gw = gateway_factory(args=["-P", str(tmp)], sections={"nat": {"ice_enforce_list": "127.0.0.1"}},
		files={"cardea.events.webhook.jcfg": hook_cfg([receiver.url + "/events"]),
			"cardea.plugin.videoroom.jcfg": "general: {\n}\n"})
	room = random.randint(10 ** 6, 10 ** 9)
	async with open_api(gw, "ws") as api:
		sid = await api.create()
		hp, hs = await api.attach(sid, VR), await api.attach(sid, VR)
		r = await api.message(sid, hp, {"request": "create", "room": room})
		assert r["plugindata"]["data"]["videoroom"] == "created", r
		joined, _ = await request(api, sid, hp, {"request": "join", "ptype": "publisher", "room": room,
			"display": "Ana"})
		pub_id = joined["id"]
		pc = RTCPeerConnection()
		pc.addTrack(VideoStreamTrack())
		await pc.setLocalDescription(await pc.createOffer())
		data, jsep = await request(api, sid, hp, {"request": "publish"},
			jsep={"type": "offer", "sdp": pc.localDescription.sdp})
		assert data.get("configured") == "ok", data
		await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
		await api.event(sid, {"janus": "webrtcup", "sender": hp}, timeout=10)
		data, offer = await request(api, sid, hs, {"request": "join", "ptype": "subscriber", "room": room,
			"streams": [{"feed": pub_id}]})
		assert data["videoroom"] == "attached", data
		spc = RTCPeerConnection()
		await spc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
		await spc.setLocalDescription(await spc.createAnswer())
		data, _ = await request(api, sid, hs, {"request": "start"},
			jsep={"type": "answer", "sdp": spc.localDescription.sdp})
		assert data.get("started") == "ok", data
		await api.event(sid, {"janus": "webrtcup", "sender": hs}, timeout=10)
		data, _ = await request(api, sid, hs, {"request": "leave"})
		data, _ = await request(api, sid, hp, {"request": "leave"})
		assert data.get("leaving") == "ok", data
		r = await api.message(sid, hp, {"request": "destroy", "room": room})
		assert r["plugindata"]["data"]["videoroom"] == "destroyed", r
		await pc.close()
		await spc.close()
		await api.destroy(sid)

	def vr_events():
		return [e for e in delivered(receiver) if e["type"].startswith("videoroom.")]
	assert await wait_for(lambda: len(vr_events()) >= 8), vr_events()
	events = check_signed(receiver)
	vr = [(e["type"], e["handle_id"], e["data"]["data"].get("role")) for e in events
		if e["type"].startswith("videoroom.")]
	assert vr == [
		("videoroom.created", hp, None),
		("videoroom.joined", hp, "publisher"),
		("videoroom.published", hp, None),
		("videoroom.joined", hs, "subscriber"),
		("videoroom.left", hs, "subscriber"),
		("videoroom.unpublished", hp, None),
		("videoroom.left", hp, "publisher"),
		("videoroom.destroyed", hp, None),
	], vr
	for e in events:
		if e["type"].startswith("videoroom."):
			assert e["session_id"] == sid and e["data"]["plugin"] == VR, e
			assert e["data"]["data"]["room"] == room, e
	joined_ev = [e for e in events if e["type"] == "videoroom.joined"][0]["data"]["data"]
	assert joined_ev["id"] == pub_id and joined_ev["display"] == "Ana", joined_ev
	types = [(e["type"], e.get("handle_id")) for e in events]
	# The core's webrtc.up of each handle sits between its join and its leave.
	for h, join_type in ((hp, "videoroom.published"), (hs, "videoroom.joined")):
		up = types.index(("webrtc.up", h))
		assert types.index((join_type, h)) < up < types.index(("videoroom.left", h)), types
	shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.timeout_s(90)
async def test_broadcast_flow_events(gateway_factory, receiver):
	gw, tmp = broadcast_gateway(gateway_factory,
		files={"cardea.events.webhook.jcfg": hook_cfg([receiver.url + "/events"])})
	async with open_api(gw, "ws") as api:
		sid = await api.create()
		hp, hv = await api.attach(sid, BC), await api.attach(sid, BC)
		ppc = await presenter_pc((200, 20, 20))
		data, jsep = await request(api, sid, hp, {"request": "present", "channel": "demo"},
			jsep={"type": "offer", "sdp": ppc.localDescription.sdp})
		assert data.get("result") == "presenting", data
		await ppc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
		vpc, _ = await viewer_pc()
		data, jsep = await request(api, sid, hv, {"request": "watch", "channel": "demo"},
			jsep={"type": "offer", "sdp": vpc.localDescription.sdp})
		assert data.get("result") == "watching", data
		await vpc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
		await request(api, sid, hv, {"request": "leave"})
		await request(api, sid, hp, {"request": "leave"})
		await ppc.close()
		await vpc.close()
		await api.destroy(sid)

	def bc_events():
		return [e for e in delivered(receiver) if e["type"].startswith("broadcast.")]
	assert await wait_for(lambda: len(bc_events()) >= 4), bc_events()
	check_signed(receiver)
	got = [(e["type"], e["handle_id"], e["data"]["data"]["channel"]) for e in bc_events()]
	assert got == [
		("broadcast.presenter_on", hp, "demo"),
		("broadcast.viewer_joined", hv, "demo"),
		("broadcast.viewer_left", hv, "demo"),
		("broadcast.presenter_off", hp, "demo"),
	], got
	shutil.rmtree(tmp, ignore_errors=True)
