"""WHIP (RFC 9725) ingest and WHEP playback on the HTTP transport, with no
Janus API client at all: aiortc publishes with one plain HTTP POST to
/whip/<channel>, aiortc viewers play with POSTs to /whep/<channel>, and
frames flow. Plus the HTTP side: statuses for wrong content types, garbage
SDPs, unknown channels and resources, Bearer tokens, trickle PATCHes and
their If-Match rules, ICE restarts over PATCH (RFC 9725 4.3.3: 200 with the
gateway's new credentials and a new ETag, media carrying on), OPTIONS and
DELETE."""

import asyncio
import re
import shutil
import time

import aiohttp
import pytest
from multidict import CIMultiDict
from aiortc import RTCSessionDescription
from aioice import Candidate
from aioice.ice import CandidatePair

from apiclient import open_admin
from bcutil import broadcast_gateway, presenter_pc, viewer_pc, frames_of, dominant
from test_auth_http import auth_cfg, backend  # noqa: F401 (fixture)

pytestmark = pytest.mark.cardea_only

RED = (230, 20, 20)
SDP = "application/sdp"
FRAG = "application/trickle-ice-sdpfrag"


@pytest.fixture(scope="module")
def whip_gw(module_gateway_factory):
	gw, tmp = broadcast_gateway(module_gateway_factory)
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)


def base(gw):
	return f"http://127.0.0.1:{gw.http_port}"


async def post_sdp(http, url, sdp, token=None, ctype=SDP):
	headers = {"Content-Type": ctype}
	if token:
		headers["Authorization"] = f"Bearer {token}"
	async with http.post(url, data=sdp.encode(), headers=headers) as r:
		return r.status, CIMultiDict(r.headers), await r.text()


async def publish(http, gw, pc, channel="demo", token=None):
	status, headers, body = await post_sdp(http, f"{base(gw)}/whip/{channel}", pc.localDescription.sdp, token)
	assert status == 201, (status, body)
	assert headers["Content-Type"].startswith(SDP), headers
	assert headers["Location"].startswith("/whip/resource/"), headers
	assert headers.get("ETag"), headers
	assert "a=candidate:" in body and "a=recvonly" in body, body
	await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
	return base(gw) + headers["Location"], headers["ETag"]


async def play(http, gw, pc, channel="demo"):
	status, headers, body = await post_sdp(http, f"{base(gw)}/whep/{channel}", pc.localDescription.sdp)
	assert status == 201, (status, body)
	assert headers["Location"].startswith("/whep/resource/"), headers
	assert "a=sendonly" in body, body
	await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
	return base(gw) + headers["Location"]


async def wait_track(tracks, kind="video"):
	for _ in range(200):
		if kind in tracks:
			return tracks[kind]
		await asyncio.sleep(0.05)
	raise AssertionError(f"no {kind} track")


@pytest.mark.timeout_s(60)
async def test_whip_publish_whep_play(whip_gw):
	pcs = []
	async with aiohttp.ClientSession() as http:
		try:
			ppc = await presenter_pc(RED)
			pcs.append(ppc)
			res, etag = await publish(http, whip_gw, ppc)
			viewers = []
			for _ in range(2):
				pc, tracks = await viewer_pc()
				pcs.append(pc)
				vres = await play(http, whip_gw, pc)
				viewers.append((vres, tracks))
			for _, tracks in viewers:
				frames = await frames_of(await wait_track(tracks), 3, timeout=20)
				assert dominant(frames[-1]) == "red"
			# trickle: a candidate and the end of candidates -> 204
			frag = ("a=ice-ufrag:%s\r\na=ice-pwd:%s\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
				"a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n")
			ufrag = [l for l in ppc.localDescription.sdp.split("\r\n") if l.startswith("a=ice-ufrag:")][0][12:]
			pwd = [l for l in ppc.localDescription.sdp.split("\r\n") if l.startswith("a=ice-pwd:")][0][10:]
			async with http.patch(res, data=(frag % (ufrag, pwd)).encode(),
					headers={"Content-Type": FRAG, "If-Match": etag}) as r:
				assert r.status == 204, await r.text()
			async with http.patch(res, data=b"a=end-of-candidates\r\n",
					headers={"Content-Type": FRAG, "If-Match": "*"}) as r:
				assert r.status == 204, await r.text()
			# RFC 9725 4.3.1: another ETag 412, none at all 428
			async with http.patch(res, data=(frag % (ufrag, pwd)).encode(),
					headers={"Content-Type": FRAG, "If-Match": '"not-the-etag"'}) as r:
				assert r.status == 412
			async with http.patch(res, data=(frag % (ufrag, pwd)).encode(), headers={"Content-Type": FRAG}) as r:
				assert r.status == 428
			async with http.patch(res, data=b"a=candidate:garbage\r\n",
					headers={"Content-Type": FRAG, "If-Match": etag}) as r:
				assert r.status == 400
			async with http.patch(res, data=b"a=end-of-candidates\r\n", headers={"Content-Type": SDP}) as r:
				assert r.status == 415
			# the channel info counts the WHEP viewers
			# DELETE ends the resources; afterwards they are unknown
			for vres, _ in viewers:
				async with http.delete(vres) as r:
					assert r.status == 200
			async with http.delete(res) as r:
				assert r.status == 200
			async with http.delete(res) as r:
				assert r.status == 404
			async with http.patch(res, data=b"a=end-of-candidates\r\n", headers={"Content-Type": FRAG}) as r:
				assert r.status == 404
		finally:
			await asyncio.gather(*(pc.close() for pc in pcs))


@pytest.mark.timeout_s(60)
async def test_whip_bad_input(whip_gw):
	pc = await presenter_pc(RED)
	good = pc.localDescription.sdp
	await pc.close()
	b = base(whip_gw)
	async with aiohttp.ClientSession() as http:
		status, _, _ = await post_sdp(http, f"{b}/whip/demo", good, ctype="application/json")
		assert status == 415
		status, _, _ = await post_sdp(http, f"{b}/whip/demo", good, ctype="text/plain")
		assert status == 415
		status, _, _ = await post_sdp(http, f"{b}/whip/demo", "v=0\r\nthis is not sdp\r\n")
		assert status == 400
		status, _, _ = await post_sdp(http, f"{b}/whip/demo", "")
		assert status == 400
		status, _, _ = await post_sdp(http, f"{b}/whip/no-such-channel", good)
		assert status == 404
		status, _, _ = await post_sdp(http, f"{b}/whip/bad%20name", good)
		assert status == 404
		# a WHEP offer that only sends cannot watch
		status, _, body = await post_sdp(http, f"{b}/whep/demo", good)
		assert status == 400, body
		# tokens: the locked channel wants its pin/token
		status, headers, _ = await post_sdp(http, f"{b}/whip/locked", good)
		assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer"), headers
		status, _, _ = await post_sdp(http, f"{b}/whip/locked", good, token="wrong")
		assert status == 403
		for method in ("patch", "delete"):
			async with getattr(http, method)(f"{b}/whip/resource/0123456789abcdef0123456789abcdef",
					data=b"a=end-of-candidates\r\n", headers={"Content-Type": FRAG}) as r:
				assert r.status == 404, method
		async with http.get(f"{b}/whip/demo") as r:
			assert r.status == 405 and "POST" in r.headers.get("Allow", "")
		async with http.options(f"{b}/whip/demo", headers={"Origin": "https://x.example",
				"Access-Control-Request-Method": "POST"}) as r:
			assert r.status == 204
			assert r.headers.get("Accept-Post") == SDP
			assert r.headers.get("Access-Control-Allow-Origin") == "*"
			assert "POST" in r.headers.get("Access-Control-Allow-Methods", "")
		# the Janus API next to it is untouched
		async with http.get(f"{b}/janus/info") as r:
			assert r.status == 200 and (await r.json())["janus"] == "server_info"


@pytest.mark.timeout_s(60)
async def test_whip_token_channel(whip_gw):
	pc = await presenter_pc(RED)
	try:
		async with aiohttp.ClientSession() as http:
			res, _ = await publish(http, whip_gw, pc, channel="locked", token="tok-locked")
			async with http.delete(res) as r:
				assert r.status == 200
	finally:
		await pc.close()


@pytest.mark.timeout_s(60)
async def test_whip_session_does_not_time_out(gateway_factory):
	"""A WHIP resource has no client polling the Janus API: the transport keeps
	its session alive, well past session_timeout."""
	gw, tmp = broadcast_gateway(gateway_factory, session_timeout=8)
	pcs = []
	try:
		async with aiohttp.ClientSession() as http:
			ppc = await presenter_pc(RED)
			pcs.append(ppc)
			res, _ = await publish(http, gw, ppc)
			await asyncio.sleep(14)
			# still there: a trickle is accepted and a WHEP viewer gets frames
			async with http.patch(res, data=b"a=end-of-candidates\r\n",
					headers={"Content-Type": FRAG, "If-Match": "*"}) as r:
				assert r.status == 204
			pc, tracks = await viewer_pc()
			pcs.append(pc)
			await play(http, gw, pc)
			frames = await frames_of(await wait_track(tracks), 2, timeout=20)
			assert dominant(frames[-1]) == "red"
			assert "timed out" not in gw.log_text(), gw.log_tail()
	finally:
		await asyncio.gather(*(pc.close() for pc in pcs))
		shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.timeout_s(60)
async def test_whep_post_unanswered_gets_504(gateway_factory, backend):
	"""A POST whose answer does not come within whip.answer_timeout gets
	504 and leaves no session behind. The answer is held up here by an auth
	backend slower than the timeout (it allows, 3 s late); the verdict that
	comes after the 504 must not revive the resource."""
	backend.clear()
	backend.auth_handler = lambda body: (200, {"allow": True}, 3 if body.get("action") == "whep.play" else 0)
	gw, tmp = broadcast_gateway(gateway_factory, http={"whip": {"answer_timeout": 1}},
		files={"cardea.auth.http.jcfg": auth_cfg(backend.url + "/auth", timeout_ms=8000)})
	pc, _ = await viewer_pc()
	try:
		async with aiohttp.ClientSession() as http:
			t0 = time.monotonic()
			status, _, body = await post_sdp(http, f"{base(gw)}/whep/demo", pc.localDescription.sdp)
			took = time.monotonic() - t0
		assert status == 504, (status, body)
		assert "No answer from the gateway within 1 s" in body, body
		assert 1 <= took < 2.9, took   # one tick late at most, and before the verdict
		assert "answered 504" in gw.log_text(), gw.log_tail()
		await asyncio.sleep(3)   # the verdict lands, the plugin answers nobody
		async with open_admin(gw, "http") as admin:
			assert await admin.list_sessions() == []
		asked = [r["json"].get("action") for r in backend.of("/auth") if r["json"]]
		assert "whep.play" in asked, asked
	finally:
		await pc.close()
		shutil.rmtree(tmp, ignore_errors=True)


# ---- ICE restart over PATCH (RFC 9725 4.3.3) ---------------------------------

def attr(sdp, name):
	m = re.search(rf"^a={name}:(\S+)", sdp, re.M)
	return m.group(1) if m else None


def ice_connection(pc):
	"""aioice Connection of the bundle transport (first transceiver)."""
	return pc.getTransceivers()[0].sender.transport.transport._connection


def restart_frag(ufrag, pwd, mid="0"):
	return (f"a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\n"
		f"a=mid:{mid}\r\na=end-of-candidates\r\n")


async def restart_handles(admin):
	"""ICE info of every handle of the gateway, as {(sid, hid): ice}."""
	out = {}
	for sid in await admin.list_sessions():
		r = await admin.ok({"janus": "list_handles", "session_id": sid})
		for hid in r["handles"]:
			info = (await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid}))["info"]
			out[(sid, hid)] = info["webrtc"]
	return out


async def restart_over_patch(http, url, etag, pc, answer):
	"""Plays a WHIP/WHEP client's part of an ICE restart on an aiortc pc
	(aioice cannot restart by itself): new local credentials sent in a PATCH,
	the gateway's new ones and candidates from the 200, then a nominating
	check from the local candidate in use to the gateway's new one. Returns
	the new ETag."""
	conn = ice_connection(pc)
	old_u, old_p = conn.local_username, conn.local_password
	new_u, new_p = "rst" + old_u, "restart" + old_p[7:]
	conn.local_username, conn.local_password = new_u, new_p
	conn.remote_username = None             # accept the gateway's checks until we know its ufrag
	async with http.patch(url, data=restart_frag(new_u, new_p).encode(),
			headers={"Content-Type": FRAG, "If-Match": "*"}) as r:
		body = await r.text()
		assert r.status == 200, (r.status, body)
		assert r.headers["Content-Type"].startswith(FRAG), r.headers
		new_etag = r.headers.get("ETag")
	assert new_etag and new_etag != etag, (etag, new_etag)
	su, sp = attr(body, "ice-ufrag"), attr(body, "ice-pwd")
	assert su and sp and su != attr(answer, "ice-ufrag") and sp != attr(answer, "ice-pwd"), (answer, body)
	# the gateway's candidates, on new ports (pc-restart.c), under the bundle m-line
	assert re.search(r"^m=video 9 ", body, re.M) and "a=mid:0\r\n" in body, body
	assert "a=candidate:" in body and "a=end-of-candidates" in body, body
	old_pair = conn._nominated[1]
	cands = [Candidate.from_sdp(line[len("a=candidate:"):]) for line in body.splitlines()
		if line.startswith("a=candidate:") and " udp " in line.lower()]
	assert cands and all(c.port != old_pair.remote_candidate.port for c in cands), (old_pair, body)
	conn.remote_username, conn.remote_password = su, sp
	pair = CandidatePair(old_pair.protocol, cands[0])
	await conn.check_start(pair)
	assert conn._nominated[1] is pair, f"the check to the gateway's new candidate failed: {pair.state}"
	return new_etag


def counters(infos):
	"""{(sid, hid): (packets_in, packets_out)} summed over m-lines."""
	return {k: (sum(m["packets_in"] for m in w["media"]), sum(m["packets_out"] for m in w["media"]))
		for k, w in infos.items()}


async def media_moves(admin, track, before):
	"""The presenter's handle keeps receiving and the viewer's keeps sending
	(a handle sends only on a connected ICE pair), and the viewer decodes
	red frames."""
	frames = await frames_of(track, 10, timeout=10)
	assert dominant(frames[-1]) == "red"
	after = counters(await restart_handles(admin))
	grew_in = [k for k in after if after[k][0] > before[k][0]]
	grew_out = [k for k in after if after[k][1] > before[k][1]]
	assert grew_in and grew_out and grew_in != grew_out, (before, after)


async def wait_restarted(admin, n, timeout=10):
	"""Until `n` handles restarted ICE once and are connected again."""
	deadline = time.monotonic() + timeout
	while True:
		infos = await restart_handles(admin)
		done = [k for k, w in infos.items() if w and w["ice"]["restarts"] == 1 and w["ice"]["state"] == "connected"]
		if len(done) == n:
			for k in done:
				assert infos[k]["dtls"]["state"] == "connected" and infos[k]["webrtcup"], infos[k]
			return infos
		assert time.monotonic() < deadline, infos
		await asyncio.sleep(0.2)


@pytest.mark.timeout_s(90)
async def test_whip_whep_ice_restart(gateway_factory):
	"""A WHIP presenter, then a WHEP viewer, restart ICE with a PATCH: 200,
	the gateway's new ufrag/pwd in an sdpfrag, a new ETag; the old ETag is
	stale afterwards (412) and the new one takes trickles (204); the viewer
	keeps decoding the presenter's frames across both restarts, on the same
	DTLS association."""
	gw, tmp = broadcast_gateway(gateway_factory)
	pcs = []
	try:
		async with aiohttp.ClientSession() as http, open_admin(gw, "http") as admin:
			ppc = await presenter_pc(RED)
			pcs.append(ppc)
			status, headers, panswer = await post_sdp(http, f"{base(gw)}/whip/demo", ppc.localDescription.sdp)
			assert status == 201, panswer
			await ppc.setRemoteDescription(RTCSessionDescription(sdp=panswer, type="answer"))
			pres, petag = base(gw) + headers["Location"], headers["ETag"]
			vpc, tracks = await viewer_pc()
			pcs.append(vpc)
			status, headers, vanswer = await post_sdp(http, f"{base(gw)}/whep/demo", vpc.localDescription.sdp)
			assert status == 201, vanswer
			await vpc.setRemoteDescription(RTCSessionDescription(sdp=vanswer, type="answer"))
			vres, vetag = base(gw) + headers["Location"], headers["ETag"]
			track = await wait_track(tracks)
			assert dominant((await frames_of(track, 3, timeout=20))[-1]) == "red"
			infos = await restart_handles(admin)
			assert len(infos) == 2 and all(w["ice"]["restarts"] == 0 for w in infos.values()), infos

			# a restart needs the new pwd too; a stale If-Match is refused
			async with http.patch(pres, data=b"a=ice-ufrag:abcdefgh\r\na=end-of-candidates\r\n",
					headers={"Content-Type": FRAG, "If-Match": "*"}) as r:
				assert r.status == 400
			async with http.patch(pres, data=restart_frag("abcdefgh", "0123456789012345678901234").encode(),
					headers={"Content-Type": FRAG, "If-Match": '"stale"'}) as r:
				assert r.status == 412
			assert all(w["ice"]["restarts"] == 0 for w in (await restart_handles(admin)).values())

			# the presenter restarts (WHIP)
			old = petag
			petag = await restart_over_patch(http, pres, petag, ppc, panswer)
			await media_moves(admin, track, counters(await wait_restarted(admin, 1)))
			async with http.patch(pres, data=b"a=end-of-candidates\r\n",
					headers={"Content-Type": FRAG, "If-Match": old}) as r:
				assert r.status == 412, "the ETag of the old ICE session is stale"
			async with http.patch(pres, data=b"a=end-of-candidates\r\n",
					headers={"Content-Type": FRAG, "If-Match": petag}) as r:
				assert r.status == 204

			# the viewer restarts (WHEP)
			vetag = await restart_over_patch(http, vres, vetag, vpc, vanswer)
			await media_moves(admin, track, counters(await wait_restarted(admin, 2)))
			async with http.patch(vres, data=b"a=end-of-candidates\r\n",
					headers={"Content-Type": FRAG, "If-Match": vetag}) as r:
				assert r.status == 204
			assert "PeerConnection closed" not in gw.log_text(), gw.log_tail()
			for url in (vres, pres):
				async with http.delete(url) as r:
					assert r.status == 200
	finally:
		await asyncio.gather(*(pc.close() for pc in pcs))
		shutil.rmtree(tmp, ignore_errors=True)
