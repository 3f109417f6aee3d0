"""cardea.plugin.broadcast over the Janus API with aiortc: channel requests,
one presenter reaching 20 viewers, and a presenter handover that viewers
ride through on the PeerConnection they have (their frames switch colour
from the old presenter's to the new one's, with no new negotiation)."""

import asyncio
import shutil

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from apiclient import open_api, open_admin
from bcutil import BCAST, broadcast_gateway, presenter_pc, viewer_pc, frames_of, dominant, tone_of

pytestmark = pytest.mark.cardea_only

RED, GREEN = (230, 20, 20), (20, 230, 20)


@pytest.fixture(scope="module")
def bc_gw(module_gateway_factory):
	gw, tmp = broadcast_gateway(module_gateway_factory)
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)


async def sync(api, sid, hid, body):
	r = await api.message(sid, hid, body)
	assert r["janus"] == "success", r
	assert r["plugindata"]["plugin"] == BCAST, r
	return r["plugindata"]["data"]


async def async_req(api, sid, hid, body, jsep=None, timeout=10):
	r = await api.message(sid, hid, body, jsep=jsep)
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=timeout)
	return ev


async def present(api, sid, hid, pc, channel="demo", **extra):
	ev = await async_req(api, sid, hid, {"request": "present", "channel": channel, **extra},
		jsep={"type": "offer", "sdp": pc.localDescription.sdp})
	data = ev["plugindata"]["data"]
	assert data.get("result") == "presenting", ev
	await pc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))
	return data


async def watch(api, sid, hid, pc, channel="demo"):
	ev = await async_req(api, sid, hid, {"request": "watch", "channel": channel},
		jsep={"type": "offer", "sdp": pc.localDescription.sdp})
	data = ev["plugindata"]["data"]
	assert data.get("result") == "watching", ev
	assert ev["jsep"]["type"] == "answer"
	assert "a=sendonly" in ev["jsep"]["sdp"], ev["jsep"]["sdp"]
	await pc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))
	return data


@pytest.mark.timeout_s(30)
async def test_channel_requests(bc_gw):
	async with open_api(bc_gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, BCAST)
		lst = (await sync(api, sid, hid, {"request": "list"}))["list"]
		names = {c["channel"]: c for c in lst}
		assert names["demo"]["viewers"] == 0 and names["demo"]["pin_required"] is False, lst
		assert names["locked"]["pin_required"] is True, lst
		r = await sync(api, sid, hid, {"request": "create", "channel": "rt1", "secret": "x", "is_private": True})
		assert r == {"broadcast": "created", "channel": "rt1"}, r
		r = await sync(api, sid, hid, {"request": "create", "channel": "rt1"})
		assert r["error_code"] == 486, r
		r = await sync(api, sid, hid, {"request": "create", "channel": "bad name!"})
		assert r["error_code"] == 484, r
		r = await sync(api, sid, hid, {"request": "create", "videocodec": "mpeg2"})
		assert r["error_code"] == 484, r
		lst = (await sync(api, sid, hid, {"request": "list"}))["list"]
		assert "rt1" not in {c["channel"] for c in lst}, "private channel listed"
		info = await sync(api, sid, hid, {"request": "info", "channel": "rt1"})
		assert info["channel"] == "rt1" and info["viewers"] == 0 and info["has_presenter"] is False, info
		r = await sync(api, sid, hid, {"request": "destroy", "channel": "rt1", "secret": "wrong"})
		assert r["error_code"] == 487, r
		r = await sync(api, sid, hid, {"request": "destroy", "channel": "rt1", "secret": "x"})
		assert r == {"broadcast": "destroyed", "channel": "rt1"}, r
		r = await sync(api, sid, hid, {"request": "info", "channel": "rt1"})
		assert r["error_code"] == 485, r
		r = await sync(api, sid, hid, {"request": "info", "channel": 5})
		assert r["error_code"] == 484, r
		# asynchronous errors
		ev = await async_req(api, sid, hid, {"request": "watch", "channel": "nope"})
		assert ev["plugindata"]["data"]["error_code"] == 485, ev
		ev = await async_req(api, sid, hid, {"request": "start"})
		assert ev["plugindata"]["data"]["error_code"] == 483, ev   # no answer
		pc, _ = await viewer_pc()
		try:
			ev = await async_req(api, sid, hid, {"request": "watch", "channel": "nope"},
				jsep={"type": "offer", "sdp": pc.localDescription.sdp})
			assert ev["plugindata"]["data"]["error_code"] == 485, ev
			ev = await async_req(api, sid, hid, {"request": "watch", "channel": "locked", "pin": "0000"},
				jsep={"type": "offer", "sdp": pc.localDescription.sdp})
			assert ev["plugindata"]["data"]["error_code"] == 487, ev
			# a recvonly offer cannot present
			ev = await async_req(api, sid, hid, {"request": "present", "channel": "demo"},
				jsep={"type": "offer", "sdp": pc.localDescription.sdp})
			assert ev["plugindata"]["data"]["error_code"] == 488, ev
		finally:
			await pc.close()
		ev = await async_req(api, sid, hid, {"request": "leave"})
		assert ev["plugindata"]["data"]["error_code"] == 491, ev
		ev = await async_req(api, sid, hid, {"request": "dance"})
		assert ev["plugindata"]["data"]["error_code"] == 482, ev
		await api.destroy(sid)


@pytest.mark.timeout_s(150)
async def test_one_presenter_twenty_viewers(bc_gw):
	n = 20
	pcs = []
	async with open_api(bc_gw, "ws") as api, open_admin(bc_gw, "http") as admin:
		sid = await api.create()
		phid = await api.attach(sid, BCAST)
		ppc = await presenter_pc(RED)
		pcs.append(ppc)
		try:
			await present(api, sid, phid, ppc)
			await api.event(sid, {"janus": "webrtcup", "sender": phid}, timeout=10)
			viewers = []
			for i in range(n):
				hid = await api.attach(sid, BCAST)
				pc, tracks = await viewer_pc()
				pcs.append(pc)
				await watch(api, sid, hid, pc)
				viewers.append((hid, pc, tracks))
			for hid, _, _ in viewers:
				await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=20)
			# every viewer decodes the presenter's (red) frames
			async def check(tracks):
				for _ in range(100):
					if "video" in tracks:
						break
					await asyncio.sleep(0.05)
				frames = await frames_of(tracks["video"], 3, timeout=20)
				return [dominant(f) for f in frames]
			colours = await asyncio.gather(*(check(t) for _, _, t in viewers))
			assert all(c[-1] == "red" for c in colours), colours
			r = await api.message(sid, phid, {"request": "info", "channel": "demo"})
			info = r["plugindata"]["data"]
			assert info["viewers"] == n and info["has_presenter"] is True, info
			# the presenter was told the count
			ev = await api.event(sid, {"janus": "event", "sender": phid,
				"plugindata": {"data": {"viewers": n}}}, timeout=5)
			assert ev["plugindata"]["data"]["channel"] == "demo"
			hi = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": viewers[0][0]})
			ps = hi["info"]["plugin_specific"]
			assert ps["role"] == "viewer" and ps["relayed"] > 0, ps
			# leaving viewers lower the count
			for hid, _, _ in viewers[:5]:
				ev = await async_req(api, sid, hid, {"request": "leave"})
				assert ev["plugindata"]["data"]["result"] == "left", ev
			r = await api.message(sid, phid, {"request": "info", "channel": "demo"})
			assert r["plugindata"]["data"]["viewers"] == n - 5, r
			await api.destroy(sid)
		finally:
			await asyncio.gather(*(pc.close() for pc in pcs))


@pytest.mark.timeout_s(90)
async def test_presenter_handover(bc_gw):
	pcs = []
	async with open_api(bc_gw, "ws") as api:
		sid = await api.create()
		ahid = await api.attach(sid, BCAST)
		apc = await presenter_pc(RED, audio=440)
		pcs.append(apc)
		try:
			await present(api, sid, ahid, apc)
			viewers = []
			for i in range(3):
				hid = await api.attach(sid, BCAST)
				pc, tracks = await viewer_pc(audio=True)
				pcs.append(pc)
				await watch(api, sid, hid, pc)
				viewers.append((hid, pc, tracks))
			for hid, _, _ in viewers:
				await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=20)
			for _, _, tracks in viewers:
				frames = await frames_of(tracks["video"], 3)
				assert dominant(frames[-1]) == "red"
				frames = await frames_of(tracks["audio"], 10)
				assert abs(tone_of(frames[-1]) - 440) < 100, tone_of(frames[-1])
			# B takes over: A is told and closed, viewers keep their PCs
			bhid = await api.attach(sid, BCAST)
			bpc = await presenter_pc(GREEN, audio=1320)
			pcs.append(bpc)
			data = await present(api, sid, bhid, bpc)
			assert data["viewers"] == 3, data
			ev = await api.event(sid, {"janus": "event", "sender": ahid,
				"plugindata": {"data": {"result": "replaced"}}}, timeout=5)
			await api.event(sid, {"janus": "hangup", "sender": ahid}, timeout=5)
			for hid, _, _ in viewers:
				await api.event(sid, {"janus": "event", "sender": hid,
					"plugindata": {"data": {"presenter": "changed"}}}, timeout=5)
			# frames keep arriving on the same tracks and turn green
			async def turns_green(tracks):
				for _ in range(150):
					f = await asyncio.wait_for(tracks["video"].recv(), 10)
					if dominant(f) == "green":
						return True
				return False
			assert all(await asyncio.gather(*(turns_green(t) for _, _, t in viewers)))
			# audio goes on too, on the same track: the new presenter's tone
			async def new_tone(tracks):
				for _ in range(500):
					f = await asyncio.wait_for(tracks["audio"].recv(), 10)
					if abs(tone_of(f) - 1320) < 100:
						return True
				return False
			assert all(await asyncio.gather(*(new_tone(t) for _, _, t in viewers)))
			assert all(pc.connectionState == "connected" for _, pc, _ in viewers)
			# no viewer got a second jsep
			for hid, _, _ in viewers:
				assert not [m for m in api.inbox if m.get("sender") == hid and "jsep" in m], api.inbox
			# a channel without takeover refuses a second presenter
			chid = await api.attach(sid, BCAST)
			c1 = await presenter_pc(RED)
			pcs.append(c1)
			await present(api, sid, chid, c1, channel="locked", pin="1234")
			dhid = await api.attach(sid, BCAST)
			c2 = await presenter_pc(GREEN)
			pcs.append(c2)
			ev = await async_req(api, sid, dhid, {"request": "present", "channel": "locked", "token": "tok-locked"},
				jsep={"type": "offer", "sdp": c2.localDescription.sdp})
			assert ev["plugindata"]["data"]["error_code"] == 489, ev
			await api.destroy(sid)
		finally:
			await asyncio.gather(*(pc.close() for pc in pcs))


@pytest.mark.timeout_s(60)
async def test_watch_gateway_offer(bc_gw):
	"""`watch` without a jsep: the gateway offers (sendonly), the viewer
	answers with `start`, and gets the presenter's frames."""
	pcs = []
	async with open_api(bc_gw, "ws") as api:
		sid = await api.create()
		phid = await api.attach(sid, BCAST)
		ppc = await presenter_pc(RED, audio=440)
		pcs.append(ppc)
		try:
			await present(api, sid, phid, ppc)
			vhid = await api.attach(sid, BCAST)
			ev = await async_req(api, sid, vhid, {"request": "watch", "channel": "demo"})
			assert ev["plugindata"]["data"]["result"] == "watching", ev
			offer = ev["jsep"]
			assert offer["type"] == "offer", ev
			assert offer["sdp"].count("a=sendonly") == 2 and "VP8/90000" in offer["sdp"], offer["sdp"]
			vpc = RTCPeerConnection()
			pcs.append(vpc)
			tracks = {}
			vpc.on("track", lambda t: tracks.__setitem__(t.kind, t))
			await vpc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
			await vpc.setLocalDescription(await vpc.createAnswer())
			ev = await async_req(api, sid, vhid, {"request": "start"},
				jsep={"type": "answer", "sdp": vpc.localDescription.sdp})
			assert ev["plugindata"]["data"] == {"broadcast": "event", "result": "started"}, ev
			await api.event(sid, {"janus": "webrtcup", "sender": vhid}, timeout=15)
			frames = await frames_of(tracks["video"], 3)
			assert dominant(frames[-1]) == "red"
			frames = await frames_of(tracks["audio"], 10)
			assert abs(tone_of(frames[-1]) - 440) < 100
			await api.destroy(sid)
		finally:
			await asyncio.gather(*(pc.close() for pc in pcs))
