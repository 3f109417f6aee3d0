"""WHIP (RFC 9725) ingest and WHEP playback on the HTTP transport, with no
Janus API client at all: aiortc publishes with one plain HTTP POST to
/whip/<channel>, aiortc viewers play with POSTs to /whep/<channel>, and
frames flow. Plus the HTTP side: statuses for wrong content types, garbage
SDPs, unknown channels and resources, Bearer tokens, trickle PATCHes, ICE
restarts (refused), OPTIONS and DELETE."""

import asyncio
import shutil

import aiohttp
import pytest
from multidict import CIMultiDict
from aiortc import RTCSessionDescription

from bcutil import broadcast_gateway, presenter_pc, viewer_pc, frames_of, dominant

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
			# an ICE restart is refused (trickle only) with 422
			async with http.patch(res, data=(frag % ("newufrag", "newpwdnewpwdnewpwdnewpwd")).encode(),
					headers={"Content-Type": FRAG, "If-Match": "*"}) as r:
				assert r.status == 422, await r.text()
			async with http.patch(res, data=(frag % (ufrag, pwd)).encode(),
					headers={"Content-Type": FRAG, "If-Match": '"not-the-etag"'}) as r:
				assert r.status == 412
			async with http.patch(res, data=b"a=candidate:garbage\r\n", headers={"Content-Type": FRAG}) as r:
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
			async with http.patch(res, data=b"a=end-of-candidates\r\n", headers={"Content-Type": FRAG}) as r:
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
