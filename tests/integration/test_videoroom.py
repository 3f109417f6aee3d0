"""janus.plugin.videoroom: synchronous requests and their error codes, the
room life cycle, kick/moderate, permanent rooms across a restart, and a
join/leave storm that must leave nothing behind.

Media (aiortc publishers and subscribers, rtp_forward) is in
test_videoroom_media.py.
"""

import asyncio
import contextlib
import random
import shutil
import tempfile
from pathlib import Path

import pytest

import gateway as gwmod
from apiclient import open_api, open_admin

VR = "janus.plugin.videoroom"

# The API-only tests also run against Janus (CARDEA_TEST_TARGET=janus) to
# check their wire assumptions; the others are marked cardea_only.

CONFIG = """general: {
}
room-1234: {
	description = "Demo Room"
	secret = "adminpwd"
	publishers = 6
	bitrate = 128000
	fir_freq = 10
}
"""


def plugin_dir():
	"""A plugins folder holding the videoroom (the shared fixture copies only
	the test plugin; a later -P wins). None against Janus (it loads its own)."""
	if gwmod.TARGET == "janus":
		return None
	tmp = Path(tempfile.mkdtemp(prefix="cardea-vr-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_videoroom.so", tmp)
	return tmp


def plugin_args(tmp):
	return ["-P", str(tmp)] if tmp else []


@pytest.fixture(scope="module")
def vr_gw(module_gateway_factory):
	tmp = plugin_dir()
	gw = module_gateway_factory(args=plugin_args(tmp), files={"cardea.plugin.videoroom.jcfg": CONFIG},
		sections={"nat": {"ice_enforce_list": "127.0.0.1"}})
	yield gw
	if tmp:
		shutil.rmtree(tmp, ignore_errors=True)


async def sync(api, sid, hid, body):
	"""A synchronous request: returns plugindata.data."""
	r = await api.message(sid, hid, body)
	assert r["janus"] == "success", r
	assert r["plugindata"]["plugin"] == VR, r
	return r["plugindata"]["data"]


async def sync_error(api, sid, hid, body, code):
	data = await sync(api, sid, hid, body)
	assert data.get("videoroom") == "event" and data.get("error_code") == code, f"want {code}, got {data}"
	assert isinstance(data.get("error"), str) and data["error"]
	return data["error"]


async def request(api, sid, hid, body, jsep=None, timeout=10):
	"""An asynchronous request: ack, then the event with the same transaction."""
	r = await api.message(sid, hid, body, jsep=jsep)
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=timeout)
	assert ev["plugindata"]["plugin"] == VR, ev
	return ev["plugindata"]["data"], ev.get("jsep")


async def request_error(api, sid, hid, body, code, jsep=None):
	data, _ = await request(api, sid, hid, body, jsep)
	assert data.get("error_code") == code, f"want {code}, got {data}"
	return data["error"]


async def vr_event(api, sid, pred, timeout=5):
	ev = await api.event(sid, lambda m: m.get("janus") == "event" and "plugindata" in m
		and pred(m["plugindata"]["data"]), timeout=timeout)
	return ev["plugindata"]["data"]


async def test_sync_requests_and_errors(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, VR)
		room = random.randint(10 ** 6, 10 ** 9)
		# The configured room is there, listed with its flags and no secret.
		assert await sync(api, sid, hid, {"request": "exists", "room": 1234}) == {
			"videoroom": "success", "room": 1234, "exists": True}
		lst = await sync(api, sid, hid, {"request": "list"})
		assert lst["videoroom"] == "success"
		demo = [r for r in lst["list"] if r["room"] == 1234]
		assert len(demo) == 1 and demo[0]["description"] == "Demo Room"
		assert demo[0]["max_publishers"] == 6 and demo[0]["bitrate"] == 128000 and demo[0]["fir_freq"] == 10
		assert demo[0]["pin_required"] is False and "secret" not in demo[0]
		assert demo[0]["num_participants"] == 0
		# create
		data = await sync(api, sid, hid, {"request": "create", "room": room, "description": "t", "secret": "s",
			"pin": "p", "publishers": 2, "videocodec": "vp8,h264", "is_private": True})
		assert data == {"videoroom": "created", "room": room, "permanent": False}
		await sync_error(api, sid, hid, {"request": "create", "room": room}, 427)
		await sync_error(api, sid, hid, {"request": "create", "room": "x"}, 430)
		await sync_error(api, sid, hid, {"request": "create", "videocodec": "nope"}, 430)
		await sync_error(api, sid, hid, {"request": "create", "publishers": "many"}, 430)
		rnd = await sync(api, sid, hid, {"request": "create"})
		assert rnd["videoroom"] == "created" and isinstance(rnd["room"], int) and rnd["room"] > 0
		# private rooms are not listed
		lst = await sync(api, sid, hid, {"request": "list"})
		assert room not in [r["room"] for r in lst["list"]]
		assert rnd["room"] in [r["room"] for r in lst["list"]]
		# unknown / malformed requests
		await sync_error(api, sid, hid, {"request": "nope"}, 423)
		await sync_error(api, sid, hid, {"nothing": 1}, 429)
		await sync_error(api, sid, hid, {"request": 5}, 430)
		await sync_error(api, sid, hid, {"request": "exists"}, 429)
		await sync_error(api, sid, hid, {"request": "exists", "room": "1"}, 430)
		assert (await sync(api, sid, hid, {"request": "exists", "room": 4242}))["exists"] is False
		# edit needs the secret
		await sync_error(api, sid, hid, {"request": "edit", "room": room, "new_description": "u"}, 429)
		await sync_error(api, sid, hid, {"request": "edit", "room": room, "secret": "bad"}, 433)
		await sync_error(api, sid, hid, {"request": "edit", "room": 4242, "secret": "s"}, 426)
		data = await sync(api, sid, hid, {"request": "edit", "room": room, "secret": "s", "new_description": "u",
			"new_is_private": False, "new_publishers": 3})
		assert data == {"videoroom": "edited", "room": room, "permanent": False}
		lst = await sync(api, sid, hid, {"request": "list"})
		mine = [r for r in lst["list"] if r["room"] == room]
		assert len(mine) == 1 and mine[0]["description"] == "u" and mine[0]["max_publishers"] == 3
		assert mine[0]["pin_required"] is True and mine[0]["videocodec"] == "vp8,h264"
		# allowed
		await sync_error(api, sid, hid, {"request": "allowed", "room": room, "secret": "s"}, 429)
		await sync_error(api, sid, hid, {"request": "allowed", "room": room, "secret": "s", "action": "x"}, 430)
		data = await sync(api, sid, hid, {"request": "allowed", "room": room, "secret": "s", "action": "add",
			"allowed": ["a", "b"]})
		assert data["videoroom"] == "success" and sorted(data["allowed"]) == ["a", "b"]
		data = await sync(api, sid, hid, {"request": "allowed", "room": room, "secret": "s", "action": "remove",
			"allowed": ["a"]})
		assert data["allowed"] == ["b"]
		# listparticipants, listforwarders on an empty room
		assert await sync(api, sid, hid, {"request": "listparticipants", "room": room}) == {
			"videoroom": "participants", "room": room, "participants": []}
		await sync_error(api, sid, hid, {"request": "listparticipants", "room": 4242}, 426)
		assert await sync(api, sid, hid, {"request": "listforwarders", "room": room, "secret": "s"}) == {
			"videoroom": "forwarders", "room": room, "publishers": []}
		await sync_error(api, sid, hid, {"request": "rtp_forward", "room": room, "secret": "s"}, 429)
		await sync_error(api, sid, hid, {"request": "rtp_forward", "room": room, "secret": "s",
			"publisher_id": 99, "streams": [{"mid": "0", "port": 5000, "host": "127.0.0.1"}]}, 429)   # host
		await sync_error(api, sid, hid, {"request": "rtp_forward", "room": room, "secret": "s", "host": "127.0.0.1",
			"publisher_id": 99, "streams": [{"mid": "0", "port": 5000}]}, 428)
		await sync_error(api, sid, hid, {"request": "kick", "room": room, "secret": "s", "id": 99}, 428)
		await sync_error(api, sid, hid, {"request": "kick", "room": room, "secret": "s"}, 429)
		await sync_error(api, sid, hid, {"request": "moderate", "room": room, "secret": "s", "id": 99,
			"mid": "0", "mute": True}, 428)
		# async requests before joining
		await request_error(api, sid, hid, {"request": "publish"}, 424)
		await request_error(api, sid, hid, {"request": "join", "room": room}, 429)
		await request_error(api, sid, hid, {"request": "join", "ptype": "x", "room": 1234}, 430)
		await request_error(api, sid, hid, {"request": "join", "ptype": "publisher", "room": 4242}, 426)
		await request_error(api, sid, hid, {"request": "join", "ptype": "publisher", "room": room}, 429)   # pin
		await request_error(api, sid, hid, {"request": "join", "ptype": "publisher", "room": room, "pin": "x"}, 433)
		# "add"/"remove" edit the list, "enable" turns the check on: now a token is needed
		data = await sync(api, sid, hid, {"request": "allowed", "room": room, "secret": "s", "action": "enable"})
		assert data == {"videoroom": "success", "room": room, "allowed": ["b"]}
		await request_error(api, sid, hid, {"request": "join", "ptype": "publisher", "room": room, "pin": "p"}, 433)
		await request_error(api, sid, hid, {"request": "join", "ptype": "publisher", "room": room, "pin": "p",
			"token": "a"}, 433)
		await request_error(api, sid, hid, {"request": "join", "ptype": "subscriber", "room": room,
			"streams": [{"feed": 99}]}, 429)   # pin
		await request_error(api, sid, hid, {"request": "join", "ptype": "subscriber", "room": room, "pin": "p",
			"streams": [{"feed": 99}]}, 428)
		# destroy
		await sync_error(api, sid, hid, {"request": "destroy", "room": room}, 429)
		await sync_error(api, sid, hid, {"request": "destroy", "room": room, "secret": "x"}, 433)
		assert await sync(api, sid, hid, {"request": "destroy", "room": room, "secret": "s"}) == {
			"videoroom": "destroyed", "room": room, "permanent": False}
		await sync_error(api, sid, hid, {"request": "destroy", "room": room, "secret": "s"}, 426)
		await sync(api, sid, hid, {"request": "destroy", "room": rnd["room"]})
		await api.destroy(sid)


async def join(api, sid, hid, room, display=None, **extra):
	body = {"request": "join", "ptype": "publisher", "room": room, **extra}
	if display:
		body["display"] = display
	data, _ = await request(api, sid, hid, body)
	assert data["videoroom"] == "joined", data
	assert data["room"] == room and isinstance(data["id"], int) and isinstance(data["private_id"], int)
	assert isinstance(data["publishers"], list)
	return data


async def test_participants_kick_and_destroy(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		h1, h2, h3 = [await api.attach(sid, VR) for _ in range(3)]
		await sync(api, sid, h1, {"request": "create", "room": room, "secret": "s", "notify_joining": True})
		a = await join(api, sid, h1, room, "Ana")
		assert a["publishers"] == [] and a["attendees"] == [] and a["description"] == f"Room {room}"
		b = await join(api, sid, h2, room, "Bob", id=777)
		assert b["id"] == 777 and b["attendees"] == [{"id": a["id"], "display": "Ana"}]
		joining = await vr_event(api, sid, lambda d: "joining" in d)
		assert joining == {"videoroom": "event", "room": room, "joining": {"id": 777, "display": "Bob"}}
		await request_error(api, sid, h3, {"request": "join", "ptype": "publisher", "room": room, "id": 777}, 436)
		await request_error(api, sid, h2, {"request": "join", "ptype": "publisher", "room": room}, 425)
		await request_error(api, sid, h2, {"request": "unpublish"}, 435)
		data, _ = await request(api, sid, h2, {"request": "publish"})   # no offer yet: Janus says ok and waits
		assert data == {"videoroom": "event", "room": room, "configured": "ok"}
		parts = await sync(api, sid, h3, {"request": "listparticipants", "room": room})
		assert sorted((p["id"], p["display"], p["publisher"]) for p in parts["participants"]) == sorted(
			[(a["id"], "Ana", False), (777, "Bob", False)])
		# kick Bob: he hears "leaving ... kicked", Ana hears "kicked"
		await sync_error(api, sid, h3, {"request": "kick", "room": room, "secret": "x", "id": 777}, 433)
		assert await sync(api, sid, h3, {"request": "kick", "room": room, "secret": "s", "id": 777}) == {
			"videoroom": "success"}
		ev = await api.event(sid, lambda m: m.get("sender") == h2 and m.get("plugindata", {}).get("data", {})
			.get("reason") == "kicked")
		assert ev["plugindata"]["data"] == {"videoroom": "event", "room": room, "leaving": "ok", "reason": "kicked"}
		ev = await api.event(sid, lambda m: m.get("sender") == h1 and "kicked" in m.get("plugindata", {}).get("data", {}))
		assert ev["plugindata"]["data"] == {"videoroom": "event", "room": room, "kicked": 777}
		parts = await sync(api, sid, h3, {"request": "listparticipants", "room": room})
		assert [p["id"] for p in parts["participants"]] == [a["id"]]
		# leave
		data, _ = await request(api, sid, h1, {"request": "leave"})
		assert data == {"videoroom": "event", "room": room, "leaving": "ok"}
		parts = await sync(api, sid, h3, {"request": "listparticipants", "room": room})
		assert parts["participants"] == []
		# destroy tells who is in the room
		await join(api, sid, h3, room, "Cy")
		await sync(api, sid, h1, {"request": "destroy", "room": room, "secret": "s"})
		ev = await api.event(sid, lambda m: m.get("sender") == h3 and m.get("plugindata", {}).get("data", {})
			.get("videoroom") == "destroyed")
		assert ev["plugindata"]["data"] == {"videoroom": "destroyed", "room": room}
		await request_error(api, sid, h3, {"request": "configure", "bitrate": 1000}, 426)
		await api.destroy(sid)


@pytest.mark.cardea_only
async def test_permanent_room_survives_restart(gateway_factory):
	tmp = plugin_dir()
	try:
		gw = gateway_factory(args=plugin_args(tmp), files={"cardea.plugin.videoroom.jcfg": CONFIG})
		cfg = gw.dir / "cardea.plugin.videoroom.jcfg"
		async with open_api(gw, "http") as api:
			sid = await api.create()
			hid = await api.attach(sid, VR)
			data = await sync(api, sid, hid, {"request": "create", "room": 555, "permanent": True,
				"description": "Kept \"quoted\"", "secret": "k", "publishers": 4, "videocodec": "vp9,vp8",
				"allowed": ["tok"]})
			assert data == {"videoroom": "created", "room": 555, "permanent": True}
			await sync(api, sid, hid, {"request": "create", "room": 556, "permanent": False})
			await sync(api, sid, hid, {"request": "edit", "room": 555, "secret": "k", "new_bitrate": 256000,
				"permanent": True})
			text = cfg.read_text()
			assert "room-555: {" in text and "room-1234: {" in text and "room-556" not in text
			assert 'description = "Kept \\"quoted\\""' in text and "bitrate = 256000" in text
			assert not list(gw.dir.glob("cardea.plugin.videoroom.jcfg.*")), "temp file left behind"
		code, _ = gw.stop()
		assert code == 0
		gw2 = gateway_factory(args=plugin_args(tmp), files={"cardea.plugin.videoroom.jcfg": text})
		async with open_api(gw2, "ws") as api:
			sid = await api.create()
			hid = await api.attach(sid, VR)
			lst = await sync(api, sid, hid, {"request": "list"})
			rooms = {r["room"]: r for r in lst["list"]}
			assert set(rooms) == {555, 1234}
			assert rooms[555]["description"] == 'Kept "quoted"' and rooms[555]["max_publishers"] == 4
			assert rooms[555]["bitrate"] == 256000 and rooms[555]["videocodec"] == "vp9,vp8"
			assert rooms[1234]["description"] == "Demo Room"
			# the allowed list came back: a join without the token is refused
			await request_error(api, sid, hid, {"request": "join", "ptype": "publisher", "room": 555}, 433)
			await join(api, sid, hid, 555, token="tok")
			# a permanent destroy removes it from the file
			await sync(api, sid, hid, {"request": "destroy", "room": 555, "secret": "k", "permanent": True})
			assert "room-555" not in (gw2.dir / "cardea.plugin.videoroom.jcfg").read_text()
			assert "room-1234" in (gw2.dir / "cardea.plugin.videoroom.jcfg").read_text()
	finally:
		if tmp:
			shutil.rmtree(tmp, ignore_errors=True)


STORM_CONNECTIONS = 10


@pytest.mark.cardea_only
@pytest.mark.timeout_s(120)
async def test_join_leave_storm(vr_gw):
	"""100 participants join and leave 10 rooms at random; afterwards no
	handle is left and only the configured room remains.

	The participants share STORM_CONNECTIONS WebSockets, not one: the test
	client wakes every waiter of a connection on each frame, and each scans
	that connection's inbox, so one socket for all 100 cost the client
	O(waiters x inbox) Python per frame: ~3 s of client CPU against 0.3 s for
	the gateway (measured at load 8 on 2 cores: requests then waited 1-6 s
	for the client to read their replies, past the client's 5 s reply
	timeout). A finished participant's leftover events (others' `leaving`
	notices) are dropped from the inbox for the same reason."""
	rooms = [random.randint(10 ** 6, 10 ** 9) for _ in range(10)]
	async with contextlib.AsyncExitStack() as stack:
		api = await stack.enter_async_context(open_api(vr_gw, "ws"))
		admin = await stack.enter_async_context(open_admin(vr_gw, "http"))
		apis = [await stack.enter_async_context(open_api(vr_gw, "ws")) for _ in range(STORM_CONNECTIONS)]
		sid0 = await api.create()
		h0 = await api.attach(sid0, VR)
		before = sorted(r["room"] for r in (await sync(api, sid0, h0, {"request": "list"}))["list"])
		assert 1234 in before
		for r in rooms:
			await sync(api, sid0, h0, {"request": "create", "room": r})

		async def participant(i):
			api = apis[i % len(apis)]
			sid = await api.create()
			hid = await api.attach(sid, VR)
			room = random.choice(rooms)
			kind = random.choice(["publisher", "publisher", "subscriber"])
			if kind == "publisher":
				data = await join(api, sid, hid, room, f"p{i}")
				await asyncio.sleep(random.random() * 0.3)
				if random.random() < 0.5:
					left, _ = await request(api, sid, hid, {"request": "leave"})
					assert left["leaving"] == "ok"
			else:
				await request_error(api, sid, hid, {"request": "join", "ptype": "subscriber", "room": room,
					"streams": [{"feed": 1}]}, 428)
			if random.random() < 0.5:
				r = await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
				assert r["janus"] == "success", r
			await api.destroy(sid)
			api.inbox[:] = [m for m in api.inbox if m.get("session_id") != sid]

		await asyncio.gather(*(participant(i) for i in range(100)))
		for r in rooms:
			parts = await sync(api, sid0, h0, {"request": "listparticipants", "room": r})
			assert parts["participants"] == [], parts
			await sync(api, sid0, h0, {"request": "destroy", "room": r})
		lst = await sync(api, sid0, h0, {"request": "list"})
		assert sorted(r["room"] for r in lst["list"]) == before
		await api.destroy(sid0)
		sessions = await admin.list_sessions()
		for s in sessions:
			r = await admin.ok({"janus": "list_handles", "session_id": s})
			assert r["handles"] == [], f"session {s} still has handles {r['handles']}"
		assert sessions == [], sessions


# ---- media (aiortc) ----

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack
from test_echotest import ToneTrack

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


async def publish(api, sid, hid, room, display, video=True, audio=True, descriptions=None):
	"""Joins and publishes with aiortc; returns (pc, joined data, configured data)."""
	joined = await join(api, sid, hid, room, display)
	pc = RTCPeerConnection()
	if audio:
		pc.addTrack(ToneTrack())
	if video:
		pc.addTrack(VideoStreamTrack())
	await pc.setLocalDescription(await pc.createOffer())
	body = {"request": "publish"}
	if descriptions:
		body["descriptions"] = descriptions
	data, jsep = await request(api, sid, hid, body, jsep={"type": "offer", "sdp": pc.localDescription.sdp})
	assert data.get("configured") == "ok", data
	assert jsep and jsep["type"] == "answer", data
	await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
	await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=10)
	return pc, joined, data


class Subscriber:
	"""One aiortc subscriber PeerConnection answering the gateway's offers."""

	def __init__(self, api, sid, hid):
		self.api, self.sid, self.hid = api, sid, hid
		self.pc = RTCPeerConnection()
		self.tracks = []
		self.pc.on("track", lambda t: self.tracks.append(t))

	async def answer(self, jsep):
		assert jsep and jsep["type"] == "offer", jsep
		await self.pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="offer"))
		await self.pc.setLocalDescription(await self.pc.createAnswer())
		data, _ = await request(self.api, self.sid, self.hid, {"request": "start"},
			jsep={"type": "answer", "sdp": self.pc.localDescription.sdp})
		assert data == {"videoroom": "event", "room": data["room"], "started": "ok"}, data

	async def join(self, room, streams):
		data, jsep = await request(self.api, self.sid, self.hid, {"request": "join", "ptype": "subscriber",
			"room": room, "streams": streams})
		assert data["videoroom"] == "attached", data
		await self.answer(jsep)
		return data

	async def frames(self, kind, n=3, timeout=10):
		tracks = [t for t in self.tracks if t.kind == kind]
		assert tracks, f"no {kind} track (have {[t.kind for t in self.tracks]})"
		for _ in range(n):
			frame = await asyncio.wait_for(tracks[-1].recv(), timeout)
			assert frame is not None

	async def close(self):
		await self.pc.close()


@pytest.mark.cardea_only
@pytest.mark.timeout_s(120)
async def test_one_publisher_five_subscribers(vr_gw):
	async with open_api(vr_gw, "ws") as api, open_admin(vr_gw, "http") as admin:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		hp, hw = await api.attach(sid, VR), await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room, "publishers": 2})
		watcher = await join(api, sid, hw, room, "watcher")
		pc, joined, conf = await publish(api, sid, hp, room, "Ana", descriptions=[{"mid": "1", "description": "cam"}])
		streams = conf["streams"]
		assert [(s["type"], s["mindex"], s["mid"], s.get("codec")) for s in streams] == [
			("audio", 0, "0", "opus"), ("video", 1, "1", "vp8")], streams
		assert streams[1]["description"] == "cam"
		assert conf["audio_codec"] == "opus" and conf["video_codec"] == "vp8"
		ev = await vr_event(api, sid, lambda d: "publishers" in d and d.get("videoroom") == "event")
		assert ev["publishers"][0]["id"] == joined["id"] and ev["publishers"][0]["display"] == "Ana"
		assert [s["type"] for s in ev["publishers"][0]["streams"]] == ["audio", "video"]
		# a second publisher slot is free, a third is not
		# the participant list says Ana publishes
		parts = await sync(api, sid, hw, {"request": "listparticipants", "room": room})
		assert {p["id"]: p["publisher"] for p in parts["participants"]} == {joined["id"]: True, watcher["id"]: False}
		subs = []
		for i in range(5):
			h = await api.attach(sid, VR)
			s = Subscriber(api, sid, h)
			att = await s.join(room, [{"feed": joined["id"]}])
			assert [(x["type"], x["mindex"], x["mid"], x["feed_id"], x["feed_mid"]) for x in att["streams"]] == [
				("audio", 0, "0", joined["id"], "0"), ("video", 1, "1", joined["id"], "1")], att
			subs.append(s)
		for s in subs:
			await s.frames("video")
			await s.frames("audio")
		info = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hp})
		ps = info["info"]["plugin_specific"]
		assert ps["type"] == "publisher" and ps["publishing"] is True and ps["subscribers"] == 10
		# pause one subscriber: its frames stop; start again: they resume
		data, _ = await request(api, sid, subs[0].hid, {"request": "pause"})
		assert data["paused"] == "ok"
		data, _ = await request(api, sid, subs[0].hid, {"request": "start"})
		assert data["started"] == "ok"
		await subs[0].frames("video")
		# unpublish: subscribers' streams go inactive (autoupdate offer), others hear it
		data, _ = await request(api, sid, hp, {"request": "unpublish"})
		assert data == {"videoroom": "event", "room": room, "unpublished": "ok"}
		ev = await vr_event(api, sid, lambda d: d.get("unpublished") == joined["id"])
		assert ev == {"videoroom": "event", "room": room, "unpublished": joined["id"]}
		# no active stream is left: as Janus 1.1.2, the subscribers get
		# nothing (test_videoroom_options.py checks the re-offer otherwise)
		await asyncio.sleep(1)
		sub_hids = {s.hid for s in subs}
		late = [m for m in api.pending(sid) if m.get("sender") in sub_hids and m.get("janus") == "event"]
		assert late == [], late
		for s in subs:
			await s.close()
		await pc.close()
		await api.destroy(sid)


@pytest.mark.cardea_only
@pytest.mark.timeout_s(120)
async def test_update_adds_and_removes_streams(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		ha, hb, hs = [await api.attach(sid, VR) for _ in range(3)]
		await sync(api, sid, ha, {"request": "create", "room": room})
		pa, ja, _ = await publish(api, sid, ha, room, "A", audio=False)
		pb, jb, _ = await publish(api, sid, hb, room, "B")
		sub = Subscriber(api, sid, hs)
		att = await sub.join(room, [{"feed": ja["id"]}])
		assert [x["type"] for x in att["streams"]] == ["video"]
		await sub.frames("video")
		# add B's audio and video
		data, jsep = await request(api, sid, hs, {"request": "update", "subscribe": [{"feed": jb["id"]}]})
		assert data["videoroom"] == "updated"
		assert [(x["mid"], x["feed_id"], x["type"]) for x in data["streams"]] == [
			("0", ja["id"], "video"), ("1", jb["id"], "audio"), ("2", jb["id"], "video")]
		await sub.answer(jsep)
		await sub.frames("audio")
		# remove A's video: its m-line stays, inactive
		data, jsep = await request(api, sid, hs, {"request": "update", "unsubscribe": [{"feed": ja["id"]}]})
		assert [x["active"] for x in data["streams"]] == [False, True, True]
		assert jsep["sdp"].split("m=")[1].count("a=inactive") == 1, jsep["sdp"]
		await sub.answer(jsep)
		await sub.frames("video")
		# configure: stop sending B's video, then switch... errors are Janus's
		data, _ = await request(api, sid, hs, {"request": "configure", "streams": [{"mid": "2", "send": False}]})
		assert data["configured"] == "ok"
		await request_error(api, sid, hs, {"request": "update"}, 429)
		await request_error(api, sid, hs, {"request": "update", "subscribe": [{"feed": 1}]}, 428)
		await request_error(api, sid, hs, {"request": "join", "ptype": "subscriber", "room": room,
			"streams": [{"feed": ja["id"]}]}, 425)
		data, _ = await request(api, sid, hs, {"request": "leave"})
		assert data == {"videoroom": "event", "room": room, "left": "ok"}
		await sub.close()
		await pa.close()
		await pb.close()
		await api.destroy(sid)


@pytest.mark.cardea_only
async def test_moderate_and_rtp_forward(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		hp = await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room, "secret": "s"})
		pc, joined, _ = await publish(api, sid, hp, room, "F")
		pid = joined["id"]
		loop = asyncio.get_running_loop()
		got = asyncio.Queue()

		class Rx(asyncio.DatagramProtocol):
			def datagram_received(self, data, addr):
				got.put_nowait(data)

		transport, _ = await loop.create_datagram_endpoint(Rx, local_addr=("127.0.0.1", 0))
		port = transport.get_extra_info("sockname")[1]
		try:
			await sync_error(api, sid, hp, {"request": "rtp_forward", "room": room, "publisher_id": pid,
				"streams": [{"mid": "1", "port": port, "host": "127.0.0.1"}]}, 429)
			data = await sync(api, sid, hp, {"request": "rtp_forward", "room": room, "secret": "s",
				"publisher_id": pid, "host": "127.0.0.1", "streams": [{"mid": "1", "port": port, "ssrc": 4242, "pt": 100}]})
			assert data["videoroom"] == "rtp_forward" and data["room"] == room and data["publisher_id"] == pid
			fwd = data["forwarders"]
			assert len(fwd) == 1 and fwd[0]["type"] == "video" and fwd[0]["port"] == port and fwd[0]["ssrc"] == 4242
			pkt = await asyncio.wait_for(got.get(), 10)
			assert pkt[0] >> 6 == 2, "not RTP"
			assert pkt[1] & 0x7f == 100 and int.from_bytes(pkt[8:12], "big") == 4242
			lst = await sync(api, sid, hp, {"request": "listforwarders", "room": room, "secret": "s"})
			assert lst["publishers"][0]["publisher_id"] == pid
			assert lst["publishers"][0]["forwarders"][0]["stream_id"] == fwd[0]["stream_id"]
			await sync_error(api, sid, hp, {"request": "stop_rtp_forward", "room": room, "secret": "s",
				"publisher_id": pid, "stream_id": 987654}, 428)
			data = await sync(api, sid, hp, {"request": "stop_rtp_forward", "room": room, "secret": "s",
				"publisher_id": pid, "stream_id": fwd[0]["stream_id"]})
			assert data == {"videoroom": "stop_rtp_forward", "room": room, "publisher_id": pid,
				"stream_id": fwd[0]["stream_id"]}
			lst = await sync(api, sid, hp, {"request": "listforwarders", "room": room, "secret": "s"})
			assert lst["publishers"] == []
		finally:
			transport.close()
		# moderate: mute the video, everybody (the publisher too) hears it
		await sync_error(api, sid, hp, {"request": "moderate", "room": room, "secret": "s", "id": pid, "mid": "9",
			"mute": True}, 428)
		assert await sync(api, sid, hp, {"request": "moderate", "room": room, "secret": "s", "id": pid, "mid": "1",
			"mute": True}) == {"videoroom": "success"}
		ev = await vr_event(api, sid, lambda d: "moderation" in d)
		assert ev == {"videoroom": "event", "room": room, "id": pid, "mid": "1", "moderation": "muted"}
		await pc.close()
		await api.destroy(sid)


@pytest.mark.cardea_only
async def test_talking_events(vr_gw):
	"""audiolevel_event: the tone aiortc sends (about -12 dBov) is talking
	against a threshold of 100; everybody in the room, the talker too, hears it."""
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		hp, hw = await api.attach(sid, VR), await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room, "audiolevel_event": True,
			"audio_active_packets": 10, "audio_level_average": 100})
		await join(api, sid, hw, room, "w")
		pc, joined, _ = await publish(api, sid, hp, room, "T", video=False)
		for h in (hp, hw):
			ev = await api.event(sid, lambda m: m.get("sender") == h and m.get("plugindata", {}).get("data", {})
				.get("videoroom") == "talking", timeout=10)
			d = ev["plugindata"]["data"]
			assert d["room"] == room and d["id"] == joined["id"] and d["mid"] == "0" and d["mindex"] == 0
			assert -100 < d["audio-level-dBov-avg"] <= 0, d
		parts = await sync(api, sid, hw, {"request": "listparticipants", "room": room})
		assert [p["talking"] for p in parts["participants"] if p["id"] == joined["id"]] == [True]
		await pc.close()
		await api.destroy(sid)


@pytest.mark.cardea_only
async def test_data_channel_relay(vr_gw):
	"""A publisher's data channel messages reach a subscriber that subscribed
	to its data stream, on a channel with the same label."""
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		hp, hs = await api.attach(sid, VR), await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room})
		joined = await join(api, sid, hp, room, "D")
		pc = RTCPeerConnection()
		pc.addTrack(ToneTrack())
		ch = pc.createDataChannel("chat")
		await pc.setLocalDescription(await pc.createOffer())
		data, jsep = await request(api, sid, hp, {"request": "publish"},
			jsep={"type": "offer", "sdp": pc.localDescription.sdp})
		assert [s["type"] for s in data["streams"]] == ["audio", "data"], data
		await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type="answer"))
		sub = Subscriber(api, sid, hs)
		got = asyncio.Queue()
		sub.pc.on("datachannel", lambda c: c.on("message", lambda m: got.put_nowait((c.label, m))))
		att = await sub.join(room, [{"feed": joined["id"], "mid": "1"}])
		assert [(s["type"], s["feed_mid"]) for s in att["streams"]] == [("data", "1")], att
		for _ in range(100):
			if ch.readyState == "open":
				break
			await asyncio.sleep(0.1)
		label, msg = None, None
		for _ in range(50):   # until the subscriber's SCTP association is up
			ch.send("hello room")
			try:
				label, msg = await asyncio.wait_for(got.get(), 0.3)
				break
			except asyncio.TimeoutError:
				pass
		assert (label, msg) == ("chat", "hello room")
		await sub.close()
		await pc.close()
		await api.destroy(sid)
