"""Bad input on the media side, each followed by a fresh echotest that must
still negotiate and echo (the daemon stays healthy):

  * an offer whose fingerprint does not match aiortc's DTLS certificate:
    nothing is decrypted, `hangup` with a DTLS reason;
  * garbage datagrams (random bytes, truncated and oversized RTP/RTCP, broken
    STUN, a DTLS ClientHello full of junk) from a plain UDP socket to the
    port of a live PeerConnection: the real PC keeps flowing;
  * an offer with 500 m-lines: 465 naming the SDP limit;
  * SDPs missing what WebRTC needs (besides test_echotest's cases): 465.
"""

import asyncio
import os
import re
import shutil
import socket
import struct

import pytest

from aiortc import RTCSessionDescription

from apiclient import open_api, open_admin, expect_error
from test_echotest import ECHO, offer_pc, negotiate, handle_info, echo_session
from test_ice_features import echo_gateway, frames, packets_in

pytestmark = pytest.mark.cardea_only


@pytest.fixture(scope="module")
def abuse_gw(module_gateway_factory):
	gw = echo_gateway(module_gateway_factory)
	yield gw
	shutil.rmtree(gw.plugins_tmp, ignore_errors=True)


def flip_fingerprint(sdp):
	"""Same algorithm, one byte changed: a well-formed but wrong fingerprint."""
	def flip(m):
		hexes = m.group(2).split(":")
		hexes[5] = "%02X" % (int(hexes[5], 16) ^ 0x5A)
		return m.group(1) + ":".join(hexes)
	out, n = re.subn(r"(a=fingerprint:sha-256 )([0-9A-Fa-f:]+)", flip, sdp)
	assert n > 0, sdp
	return out


@pytest.mark.timeout_s(40)
async def test_fingerprint_mismatch(abuse_gw):
	async with open_api(abuse_gw, "ws") as api, open_admin(abuse_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		try:
			r = await api.message(sid, hid, {"audio": True, "video": True},
				jsep={"type": "offer", "sdp": flip_fingerprint(pc.localDescription.sdp)})
			assert r["janus"] == "ack", r
			ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=10)
			await pc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))
			ev = await api.event(sid, {"janus": "hangup", "sender": hid}, timeout=15)
			assert "DTLS" in ev["reason"], ev
			assert not [m for m in api.pending(sid) if m.get("janus") == "webrtcup"], api.pending(sid)
			info = (await handle_info(admin, sid, hid))["webrtc"]
			assert info["active"] is False and info["webrtcup"] is False, info
			assert all(m["packets_in"] == 0 for m in info["media"]), info
		finally:
			await pc.close()
		# the same handle negotiates properly afterwards
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
		finally:
			await pc.close()
		await api.destroy(sid)
	await echo_session(abuse_gw, "ws")


def garbage_datagrams():
	rnd = os.urandom
	rtp_hdr = bytes([0x80, 0x6F]) + struct.pack("!HII", 1, 2, 0x12345678)
	out = [rnd(n) for n in (1, 2, 11, 12, 13, 100, 1200, 1500)]
	out += [
		rtp_hdr[:5], rtp_hdr, rtp_hdr + rnd(40),                 # truncated / header-only / bogus SRTP
		bytes([0x90, 0x6F]) + rtp_hdr[2:] + b"\xbe\xde\xff\xff",  # extension longer than the packet
		bytes([0x8F, 0x6F]) + rtp_hdr[2:],                       # 15 CSRCs announced, none there
		rtp_hdr + rnd(9000), rtp_hdr + rnd(60000),               # oversized RTP
		bytes([0x80, 0xC8, 0x00, 0x06]) + rnd(3),                 # truncated SR
		bytes([0x80, 0xC9, 0xFF, 0xFF]) + rnd(8),                 # RR with a huge length
		bytes([0x81, 0xCE, 0x00, 0x02]) + rnd(8) + rnd(20),       # PLI + SRTCP-ish trailer
		bytes([0x80, 0xCD]) + rnd(30000),                         # oversized RTCP
		b"\x00\x01\x00\x08\x21\x12\xa4\x42" + rnd(12),            # STUN: length beyond the datagram
		b"\x00\x01\x00\x0c\x21\x12\xa4\x42" + rnd(12) + b"\x00\x06\x00\xff" + rnd(8),  # bad attribute
		b"\x01\x01\x00\x00\x21\x12\xa4\x42" + rnd(12),            # unsolicited success response
		b"\x00\x01\x00\x00\x00\x00\x00\x00" + rnd(12),            # RFC 3489 style, no cookie
		# DTLS 1.2 handshake record: ClientHello header then junk
		bytes([0x16, 0xFE, 0xFD, 0, 0]) + rnd(6) + struct.pack("!H", 200) + bytes([1, 0, 0, 0xC4]) + rnd(150),
		bytes([0x16, 0xFE, 0xFF]) + rnd(2),                       # truncated record header
		bytes([0x17, 0xFE, 0xFD]) + rnd(10) + rnd(300),           # application data for no session
		bytes([0x15, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40]),  # a fatal alert from a stranger
	]
	return out


def media_port_ports(info):
	return {int(c.split()[0].rsplit(":", 1)[1]) for c in info["ice"]["local-candidates"]
		if c.startswith("127.0.0.1:") and " udp " in c}


@pytest.mark.timeout_s(40)
async def test_garbage_from_strangers(abuse_gw):
	"""Datagrams from an address ICE never validated are dropped before
	DTLS/SRTP see them (the counters above ICE do not move)."""
	async with open_api(abuse_gw, "ws") as api, open_admin(abuse_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
		sock.bind(("127.0.0.1", 0))
		try:
			await negotiate(api, sid, hid, pc, tracks)
			info = (await handle_info(admin, sid, hid))["webrtc"]
			ports = media_port_ports(info)
			assert ports, info
			n0, before = await packets_in(admin, sid, hid)
			sent = 0
			for _ in range(3):
				for d in garbage_datagrams():
					for port in ports:
						sock.sendto(d, ("127.0.0.1", port))
						sent += 1
				await asyncio.sleep(0.05)
			# 200 more random datagrams shaped like SRTP/SRTCP of the live PC
			for i in range(200):
				kind = bytes([0x80, 0x6F if i % 2 else 0xC8])
				for port in ports:
					sock.sendto(kind + os.urandom(60 + i), ("127.0.0.1", port))
			await asyncio.sleep(1)
			n1, after = await packets_in(admin, sid, hid)
			assert after["ice"]["state"] == "connected" and after["webrtcup"], after
			assert after["dtls"]["state"] == "connected", after
			assert n1 > n0, (before, after)
			await frames(tracks)
			assert not [m for m in api.pending(sid) if m.get("janus") == "hangup"], api.pending(sid)
			assert after["drops"] == before["drops"], (before, after)
			assert after["dtls"]["datagrams_in"] == before["dtls"]["datagrams_in"], (before, after)
		finally:
			sock.close()
			await pc.close()
		await api.destroy(sid)
	await echo_session(abuse_gw, "ws")


@pytest.mark.timeout_s(40)
async def test_garbage_from_the_peer(abuse_gw):
	"""The same garbage on the peer's own validated ICE path: it reaches the
	demultiplexer, is counted as dropped, and the real media keeps flowing."""
	async with open_api(abuse_gw, "ws") as api, open_admin(abuse_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
			conn = pc.getTransceivers()[0].sender.transport.transport._connection
			n0, before = await packets_in(admin, sid, hid)
			for _ in range(3):
				for d in garbage_datagrams():
					if len(d) < 9000:   # the selected pair is UDP over loopback; keep it sane
						await conn.sendto(d, 1)
				await asyncio.sleep(0.05)
			for i in range(200):
				await conn.sendto(bytes([0x80, 0x6F if i % 2 else 0xC8]) + os.urandom(60 + i), 1)
			await asyncio.sleep(1)
			n1, after = await packets_in(admin, sid, hid)
			assert after["ice"]["state"] == "connected" and after["webrtcup"], after
			assert after["dtls"]["state"] == "connected", after
			assert n1 > n0, (before, after)
			await frames(tracks)
			assert not [m for m in api.pending(sid) if m.get("janus") == "hangup"], api.pending(sid)
			drops = {k: after["drops"][k] - before["drops"][k] for k in after["drops"]}
			assert drops["srtp"] >= 200, (before, after)
		finally:
			await pc.close()
		await api.destroy(sid)
	await echo_session(abuse_gw, "ws")


def many_mlines_sdp(n):
	"""Session-level ICE and DTLS attributes keep each m-line short, so the
	m-line limit is what trips, not the size limit."""
	head = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nc=IN IP4 0.0.0.0\r\n"
		"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\n"
		"a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
		"a=group:BUNDLE " + " ".join(str(i) for i in range(n)) + "\r\n")
	m = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:{i}\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
	sdp = head + "".join(m.format(i=i) for i in range(n))
	assert len(sdp) < 64 * 1024
	return sdp


@pytest.mark.timeout_s(30)
async def test_sdp_limits_and_missing_parts(abuse_gw):
	pc, _ = await offer_pc()
	good = pc.localDescription.sdp
	await pc.close()

	def drop(sdp, prefix):
		return "".join(l + "\r\n" for l in sdp.split("\r\n") if l and not l.startswith(prefix))

	async with open_api(abuse_gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		r = await api.message(sid, hid, {"audio": True}, jsep={"type": "offer", "sdp": many_mlines_sdp(500)})
		reason = expect_error(r, 465)
		assert "m-lines" in reason, reason
		# 17 passes the parser but not the PeerConnection (16 transports' worth)
		r = await api.message(sid, hid, {"audio": True}, jsep={"type": "offer", "sdp": many_mlines_sdp(17)})
		reason = expect_error(r, 465)
		assert "m-lines" in reason, reason
		bad = {
			"no ice-pwd": drop(good, "a=ice-pwd:"),
			"md5 fingerprint": re.sub(r"a=fingerprint:sha-256 \S+", "a=fingerprint:md5 " + ":".join(["AB"] * 16), good),
			"no active m-line": re.sub(r"^m=(\w+) \d+ ", r"m=\1 0 ", good, flags=re.M),
			"truncated": good[:len(good) // 2].rsplit("\r\n", 1)[0] + "\r\nm=video",
			"huge line": good + "a=x-junk:" + "A" * 200000 + "\r\n",
		}
		for what, sdp in bad.items():
			r = await api.message(sid, hid, {"audio": True}, jsep={"type": "offer", "sdp": sdp})
			assert r.get("janus") == "error", (what, r)
			expect_error(r, 465)
		# A NUL never reaches the SDP parser: the JSON layer refuses it.
		r = await api.message(sid, hid, {"audio": True},
			jsep={"type": "offer", "sdp": good.replace("a=mid:", "a=mi\x00d:", 1)})
		expect_error(r, 454)
		# the handle still negotiates
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
		finally:
			await pc.close()
		await api.destroy(sid)
	await echo_session(abuse_gw, "ws")
