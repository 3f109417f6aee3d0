"""Recording to Janus .mjr files (docs/recording.md): videoroom and videocall.

Names and the lock_record errors were checked against Debian's Janus 1.1.2
(a videoroom `create` with record + rec_dir, a publisher `configure` with
record/filename, `enable_recording` without/with a wrong secret). The files
are checked with Janus's own post-processor (janus-pp-rec, package
janus-tools): its header parse must say the right kind and codec, its
conversion must produce a .webm/.opus in which ffprobe counts frames.
"""

import asyncio
import json
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import gateway as gwmod
from apiclient import open_api, open_admin
from test_videoroom import VR, sync, request, publish, plugin_dir, plugin_args, CONFIG
from test_videocall import User, Peer, start_call, ToneTrack, VideoStreamTrack, uname
from aiortc import RTCSessionDescription

PP_REC = shutil.which("janus-pp-rec")
FFPROBE = shutil.which("ffprobe")

pytestmark = pytest.mark.cardea_only


@pytest.fixture(scope="module")
def rec_gw(module_gateway_factory):
	tmp = plugin_dir()
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_videocall.so", tmp)
	vc_dir = Path(tempfile.mkdtemp(prefix="cardea-vcrec-"))
	gw = module_gateway_factory(args=plugin_args(tmp), files={"cardea.plugin.videoroom.jcfg": CONFIG,
		"cardea.plugin.videocall.jcfg": f'general: {{\n\trec_dir = "{vc_dir}"\n}}\n'},
		sections={"nat": {"ice_enforce_list": "127.0.0.1"}})
	gw.vc_rec_dir = vc_dir
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)
	shutil.rmtree(vc_dir, ignore_errors=True)


@pytest.fixture
def rec_dir():
	d = Path(tempfile.mkdtemp(prefix="cardea-rec-"))
	yield d
	shutil.rmtree(d, ignore_errors=True)


def need_tools():
	assert PP_REC, "janus-pp-rec missing: apt-get install janus-tools (scripts/setup.sh --test)"
	assert FFPROBE, "ffprobe missing: apt-get install ffmpeg (scripts/setup.sh --test)"


def mjr_header(path):
	"""The info line of a .mjr file, parsed by hand (the format facts)."""
	data = path.read_bytes()
	assert data[:8] == b"MJR00002", data[:16]
	n = int.from_bytes(data[8:10], "big")
	info = json.loads(data[10:10 + n])
	assert data[10 + n:14 + n] == b"MEET", "no packet after the info line"
	return info, data


def pp_header(path):
	out = subprocess.run([PP_REC, "--header", str(path)], capture_output=True, text=True, timeout=30)
	return out.stdout + out.stderr


def convert_and_count(path, ext, stream):
	"""janus-pp-rec path -> path.ext; ffprobe's decoded frame count."""
	target = path.with_suffix("." + ext)
	out = subprocess.run([PP_REC, str(path), str(target)], capture_output=True, text=True, timeout=60)
	assert out.returncode == 0 and target.exists() and target.stat().st_size > 0, out.stdout + out.stderr
	probe = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-select_streams", stream, "-show_entries",
		"stream=codec_name,nb_read_frames", "-of", "json", str(target)], capture_output=True, text=True, timeout=60)
	assert probe.returncode == 0, probe.stderr
	streams = json.loads(probe.stdout)["streams"]
	assert streams, probe.stdout
	return streams[0]["codec_name"], int(streams[0].get("nb_read_frames", 0))


@pytest.mark.timeout_s(120)
async def test_videoroom_room_records(rec_gw, rec_dir):
	"""A record room writes every publisher stream under rec_dir with Janus's
	names; janus-pp-rec turns them into a playable .webm and .opus."""
	need_tools()
	async with open_api(rec_gw, "ws") as api, open_admin(rec_gw, "http") as admin:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		hp = await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room, "record": True, "rec_dir": str(rec_dir)})
		listed = [r for r in (await sync(api, sid, hp, {"request": "list"}))["list"] if r["room"] == room][0]
		assert listed["record"] is True and listed["rec_dir"] == str(rec_dir), listed
		pc, joined, _ = await publish(api, sid, hp, room, "Ana")
		uid = joined["id"]
		await asyncio.sleep(3)
		parts = await sync(api, sid, hp, {"request": "listparticipants", "room": room})
		assert parts["participants"][0].get("recording") is True, parts
		info = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hp})
		ps = info["info"]["plugin_specific"]
		assert ps["recording"] is True and len(ps["recordings"]) == 2, ps
		data, _ = await request(api, sid, hp, {"request": "unpublish"})
		assert data["unpublished"] == "ok"
		await pc.close()
		await api.destroy(sid)
	files = sorted(rec_dir.iterdir())
	names = [f.name for f in files]
	assert len(files) == 2, names
	pat = re.compile(rf"videoroom-{room}-user-{uid}-(\d+)-(audio|video)-(\d)\.mjr$")
	kinds = {}
	for f in files:
		m = pat.match(f.name)
		assert m, f"unexpected name {f.name}"
		kinds[m.group(2)] = (f, int(m.group(3)))
	assert kinds["audio"][1] == 0 and kinds["video"][1] == 1, names
	ainfo, _ = mjr_header(kinds["audio"][0])
	vinfo, _ = mjr_header(kinds["video"][0])
	assert (ainfo["t"], ainfo["c"]) == ("a", "opus") and (vinfo["t"], vinfo["c"]) == ("v", "vp8")
	assert vinfo["u"] >= vinfo["s"] > 0
	hdr = pp_header(kinds["video"][0])
	assert "video recording" in hdr and "vp8" in hdr, hdr
	codec, frames = convert_and_count(kinds["video"][0], "webm", "v:0")
	assert codec == "vp8" and frames >= 30, (codec, frames)   # ~3 s at aiortc's 30 fps
	codec, frames = convert_and_count(kinds["audio"][0], "opus", "a:0")
	assert codec == "opus" and frames >= 50, (codec, frames)  # 20 ms packets


@pytest.mark.timeout_s(120)
async def test_videoroom_configure_and_lock(rec_gw, rec_dir):
	"""configure record/filename; lock_record needs the room secret
	(enable_recording: 429 without, 433 wrong; configure: ignored, as Janus)."""
	need_tools()
	async with open_api(rec_gw, "ws") as api:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		hp = await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room, "secret": "s3", "lock_record": True,
			"rec_dir": str(rec_dir)})
		pc, joined, _ = await publish(api, sid, hp, room, "Bo")
		# locked: configure without the secret changes nothing
		data, _ = await request(api, sid, hp, {"request": "configure", "record": True, "filename": "nope"})
		assert data["configured"] == "ok", data
		await asyncio.sleep(0.5)
		assert list(rec_dir.iterdir()) == []
		# a bad filename is refused
		data, _ = await request(api, sid, hp, {"request": "configure", "record": True, "filename": "../x",
			"secret": "s3"})
		assert data.get("error_code") == 430, data
		data, _ = await request(api, sid, hp, {"request": "configure", "record": True, "filename": "mine/take1",
			"secret": "s3"})
		assert data["configured"] == "ok", data
		await asyncio.sleep(2)
		data, _ = await request(api, sid, hp, {"request": "configure", "record": False, "secret": "s3"})
		assert data["configured"] == "ok", data
		got = sorted(p.name for p in (rec_dir / "mine").iterdir())
		assert got == ["take1-audio-0.mjr", "take1-video-1.mjr"], got
		size = (rec_dir / "mine" / "take1-video-1.mjr").stat().st_size
		assert size > 1000
		await asyncio.sleep(1)
		assert (rec_dir / "mine" / "take1-video-1.mjr").stat().st_size == size, "still written after record:false"
		# enable_recording: the room secret is needed
		err = await sync(api, sid, hp, {"request": "enable_recording", "room": room, "record": True})
		assert err["error_code"] == 429, err
		err = await sync(api, sid, hp, {"request": "enable_recording", "room": room, "record": True, "secret": "x"})
		assert err["error_code"] == 433, err
		ok = await sync(api, sid, hp, {"request": "enable_recording", "room": room, "record": True, "secret": "s3"})
		assert ok == {"videoroom": "success", "record": True}, ok
		await asyncio.sleep(2)
		ok = await sync(api, sid, hp, {"request": "enable_recording", "room": room, "record": False, "secret": "s3"})
		assert ok["record"] is False
		parts = await sync(api, sid, hp, {"request": "listparticipants", "room": room})
		assert "recording" not in parts["participants"][0], parts
		# the filename set before is kept (as Janus)
		got = sorted(p.name for p in (rec_dir / "mine").iterdir())
		assert got == ["take1-audio-0.mjr", "take1-video-1.mjr"], got
		# edit new_record (a Cardea extra; edit checks the secret) starts it again
		ok = await sync(api, sid, hp, {"request": "edit", "room": room, "secret": "s3", "new_record": True})
		assert ok["videoroom"] == "edited", ok
		await asyncio.sleep(0.5)
		parts = await sync(api, sid, hp, {"request": "listparticipants", "room": room})
		assert parts["participants"][0].get("recording") is True, parts
		await asyncio.sleep(2)
		await pc.close()
		await api.destroy(sid)
	vinfo, _ = mjr_header(rec_dir / "mine" / "take1-video-1.mjr")
	assert vinfo["c"] == "vp8"
	codec, frames = convert_and_count(rec_dir / "mine" / "take1-video-1.mjr", "webm", "v:0")
	assert frames > 10, frames


@pytest.mark.timeout_s(90)
async def test_videocall_set_record(rec_gw):
	"""videocall `set` record:true + filename records what that user sends
	(under the plugin's rec_dir); record:false stops; hangup stops."""
	need_tools()
	sub = "call-" + uname("x")
	rec_dir = rec_gw.vc_rec_dir / sub
	async with open_api(rec_gw, "ws") as a_api, open_api(rec_gw, "ws") as b_api:
		a, b = await User(a_api).attach(), await User(b_api).attach()
		await a.register(uname("alice"))
		await b.register(uname("bob"))
		pa, pb = Peer(), Peer()
		try:
			pa.pc.addTrack(ToneTrack())
			pa.pc.addTrack(VideoStreamTrack())
			await pa.pc.setLocalDescription(await pa.pc.createOffer())
			offer = await start_call(a, b, pa.pc.localDescription.sdp)
			await pb.answer(offer, ToneTrack(), VideoStreamTrack())
			await b.ok({"request": "accept"}, jsep={"type": "answer", "sdp": pb.pc.localDescription.sdp})
			acc = await a.notification("accepted", username=b.name)
			await pa.pc.setRemoteDescription(RTCSessionDescription(sdp=acc["_jsep"]["sdp"], type="answer"))
			await a_api.event(a.sid, {"janus": "webrtcup", "sender": a.hid}, timeout=15)
			# names outside rec_dir are refused
			for bad in ("../evil", "/tmp/evil"):
				await a.error({"request": "set", "record": True, "filename": bad}, 474)
			assert (await a.ok({"request": "set", "record": True, "filename": f"{sub}/alice-call"})) == {"event": "set"}
			assert (await b.ok({"request": "set", "record": True, "filename": f"{sub}/bob-call"})) == {"event": "set"}
			await asyncio.sleep(3)
			assert (await a.ok({"request": "set", "record": False})) == {"event": "set"}
			size = (rec_dir / "alice-call-video.mjr").stat().st_size
			await asyncio.sleep(1)
			assert (rec_dir / "alice-call-video.mjr").stat().st_size == size, "record:false did not stop it"
			await a.ok({"request": "hangup"})
			await asyncio.sleep(0.5)
			bsize = (rec_dir / "bob-call-video.mjr").stat().st_size
			await asyncio.sleep(1)
			assert (rec_dir / "bob-call-video.mjr").stat().st_size == bsize, "hangup did not stop it"
		finally:
			await pa.pc.close()
			await pb.pc.close()
	got = sorted(p.name for p in rec_dir.iterdir())
	assert got == ["alice-call-audio.mjr", "alice-call-video.mjr", "bob-call-audio.mjr", "bob-call-video.mjr"], got
	for who in ("alice", "bob"):
		vinfo, _ = mjr_header(rec_dir / f"{who}-call-video.mjr")
		ainfo, _ = mjr_header(rec_dir / f"{who}-call-audio.mjr")
		assert (vinfo["t"], vinfo["c"], ainfo["t"], ainfo["c"]) == ("v", "vp8", "a", "opus")
	codec, frames = convert_and_count(rec_dir / "alice-call-video.mjr", "webm", "v:0")
	assert codec == "vp8" and frames >= 20, frames
	codec, frames = convert_and_count(rec_dir / "bob-call-audio.mjr", "opus", "a:0")
	assert codec == "opus" and frames >= 50, frames
