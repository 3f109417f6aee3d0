#!/usr/bin/python3
"""Writes the synthetic seed inputs of tests/fuzz/corpus/ (RTP sequences,
RTCP compounds, API request lists, WHIP/WHEP requests) and copies the SDP fixtures and the
sample .jcfg files. Re-run after changing an input format; the files it
writes are committed, next to the crash regressions kept by hand
(corpus/<target>/crash-*).

    /usr/bin/python3 tests/fuzz/gen-corpus.py [TARGET...]
"""
import glob
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
SHARED_SDP = os.path.join(os.path.dirname(REPO), "shared", "fixtures", "sdp")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- RTP ----

def ext_one_byte(elems):
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elems)
    body += b"\0" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


def ext_two_byte(elems):
    body = b"".join(bytes([i, len(v)]) + v for i, v in elems)
    body += b"\0" * (-len(body) % 4)
    return struct.pack("!HH", 0x1000, len(body) // 4) + body


def rtp(pt, seq, ts, ssrc, payload, marker=False, ext=None, csrcs=(), padding=0):
    b0 = 0x80 | (0x20 if padding else 0) | (0x10 if ext else 0) | len(csrcs)
    hdr = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    hdr += b"".join(struct.pack("!I", c) for c in csrcs)
    if ext:
        hdr += ext
    pad = (b"\0" * (padding - 1) + bytes([padding])) if padding else b""
    return hdr + payload + pad


def vp8_payload(key, picid, tl0, tid, y=False, start=True):
    d = bytes([0x80 | (0x10 if start else 0), 0xE0, 0x80 | (picid >> 8 & 0x7F), picid & 0xFF, tl0,
               (tid << 6) | (0x20 if y else 0)])
    frame = (b"\x10\x02\x00\x9d\x01\x2a\x80\x02\xe0\x01" if key else b"\x31\x00\x00") + b"\x00" * 8
    return d + frame


def vp9_payload(key, tid, sid=0):
    # I, L, B, E; 15-bit picture id; layer indices; then a frame header byte.
    b0 = 0x80 | 0x20 | 0x08 | 0x04 | (0 if key else 0x40)
    return bytes([b0, 0x80, 0x12, (tid << 5) | (sid << 1), 0x00]) + (b"\x82\x49\x83\x42\x00" if key else b"\x86\x00")


def h264_payloads(key):
    if key:
        sps = b"\x67\x42\xc0\x1f\xda\x01\x40\x16\xe8"
        pps = b"\x68\xce\x3c\x80"
        stap = b"\x18" + struct.pack("!H", len(sps)) + sps + struct.pack("!H", len(pps)) + pps
        fu_start = b"\x7c\x85" + b"\x88\x84" * 8
        fu_end = b"\x7c\x45" + b"\x00" * 8
        return [stap, fu_start, fu_end]
    return [b"\x41\x9a\x02" + b"\x00" * 8]


def av1_payload(key):
    # aggregation header: Z=0 Y=0 W=1 N=key; one OBU (sequence header when key).
    return bytes([0x10 | (0x08 if key else 0)]) + (b"\x0a\x0b\x00\x00\x00\x24\xc4\xff\xdf\x00\x68\x02" if key
                                                    else b"\x32\x05\x10\x00\x00\x00\x00")


def record(flags, dt, pkt):
    body = bytes([flags, dt]) + pkt
    return struct.pack("!H", len(body)) + body


def rtp_seeds():
    mid_rid = lambda rid, tw: ext_one_byte([(1, b"0"), (10, rid), (3, struct.pack("!H", tw))])
    # VP8 simulcast: three substreams, keyframes then deltas with temporal layers.
    out = b""
    seq = [100, 2000, 30000]
    tw = 1
    for frame in range(6):
        for sub in range(3):
            key = frame in (0, 4)
            pkt = rtp(96, seq[sub], 3000 * frame, 0x1000 + sub,
                      vp8_payload(key, 100 + frame, frame // 2, frame % 3, y=frame % 3 == 1),
                      marker=True, ext=mid_rid(b"hml"[sub:sub + 1], tw))
            out += record(sub | (0x20 if frame == 2 else 0) | (0x40 if frame == 5 else 0), 33, pkt)
            seq[sub] += 1
            tw += 1
    put("rtp", "vp8-simulcast", bytes([0x21, 0x0A]) + out)
    # VP9 with temporal layers, one stream, a lost packet and a reordered one.
    out = b""
    for i, s in enumerate([1, 2, 4, 3, 5, 6]):
        out += record(0, 20, rtp(98, s, 3000 * i, 0x2000, vp9_payload(i == 0, i % 2), marker=True,
                                 ext=ext_one_byte([(3, struct.pack("!H", s))])))
    put("rtp", "vp9-loss", bytes([0x02, 0x0F]) + out)
    # H.264: STAP-A keyframe and FU-A, then a P frame, with the two-byte form.
    out = b""
    s = 65533
    for key in (True, False, True):
        for p in h264_payloads(key):
            out += record(0, 10, rtp(102, s, 9000, 0x3000, p, ext=ext_two_byte([(1, b"1"), (20, b"x" * 20)])))
            s += 1
    put("rtp", "h264-wrap", bytes([0x03, 0x00]) + out)
    # AV1 with padding and CSRCs.
    out = record(0, 5, rtp(45, 7, 1, 0x4000, av1_payload(True), csrcs=(1, 2), padding=4))
    out += record(1, 5, rtp(45, 8, 2, 0x4000, av1_payload(False), marker=True))
    put("rtp", "av1-padding", bytes([0x04, 0x05]) + out)
    # Audio with audio-level, abs-send-time and video orientation elements, and
    # a padding-only probe.
    out = record(0, 20, rtp(111, 1, 960, 0x5000, b"\xfc\xff\xfe",
                            ext=ext_one_byte([(1, b"\x85"), (2, b"\x01\x02\x03"), (4, b"\x03")])))
    out += record(0, 20, rtp(111, 2, 1920, 0x5000, b"", padding=200))
    put("rtp", "audio-exts", bytes([0x00, 0x00]) + out)
    # RTX of a VP8 packet (OSN first in the payload).
    out = record(0, 1, rtp(97, 50, 3000, 0x6000, struct.pack("!H", 7) + vp8_payload(True, 1, 1, 0)))
    put("rtp", "rtx", bytes([0x01, 0x00]) + out)


# ---- RTCP ----

def rtcp(pt, count, body, padding=0):
    pad = (b"\0" * (padding - 1) + bytes([padding])) if padding else b""
    body += pad
    assert len(body) % 4 == 0
    return struct.pack("!BBH", 0x80 | (0x20 if padding else 0) | count, pt, len(body) // 4) + body


def report_block(ssrc, lost=3, frac=10):
    return struct.pack("!IB", ssrc, frac) + lost.to_bytes(3, "big", signed=True) + struct.pack("!IIII", 70000, 20, 0x12345678, 6554)


def rtcp_seeds():
    sr = rtcp(200, 2, struct.pack("!IIIIII", 1, 0xE0000000, 0x80000000, 1234, 10, 1000)
              + report_block(2) + report_block(3, -1))
    rr = rtcp(201, 1, struct.pack("!I", 1) + report_block(2))
    cname = b"\x01\x08abcdefgh"
    sdes = rtcp(202, 1, struct.pack("!I", 1) + cname + b"\0" * (-(len(cname)) % 4 or 4))
    bye = rtcp(203, 2, struct.pack("!II", 1, 2) + b"\x03bye")
    nack = rtcp(205, 1, struct.pack("!IIHHHH", 1, 2, 10, 0x8001, 40, 0xFFFF))
    pli = rtcp(206, 1, struct.pack("!II", 1, 2))
    fir = rtcp(206, 4, struct.pack("!IIIBBBB", 1, 0, 2, 7, 0, 0, 0))
    remb = rtcp(206, 15, struct.pack("!II", 1, 0) + b"REMB" + bytes([2, 0x07 << 2 | 0x01, 0x23, 0x45])
                + struct.pack("!II", 2, 3))
    app = rtcp(204, 0, struct.pack("!I", 1) + b"test" + b"data")
    put("rtcp", "sr-sdes", sr + sdes)
    put("rtcp", "rr-nack", rr + nack)
    put("rtcp", "rr-pli-fir", rr + pli + fir)
    put("rtcp", "remb", rr + remb)
    put("rtcp", "bye-app", rr + bye + app)
    put("rtcp", "padding", rtcp(201, 0, struct.pack("!I", 9), padding=4))
    # TWCC byte strings as the unit tests check them.
    put("rtcp", "twcc-vector", bytes.fromhex("afcd0005 00000001 00000002 00050006 00000a00 8100 0001".replace(" ", "")))
    put("rtcp", "twcc-rle", bytes.fromhex(
        "afcd0007 00000000 00000000 00002711 00000000 a000 1fff 0703 2001 0004 0002".replace(" ", "")))
    put("rtcp", "twcc-2bit", rr + rtcp(205, 15, struct.pack("!IIHHI", 1, 2, 0, 4, 0x00000100)
                                      + bytes.fromhex("d840") + bytes([4, 0x01, 0x90, 4]) + b"\0\0"))


# ---- API ----

def api_seeds():
    def reqs(*items):
        return b"\0".join(m.encode() + t.encode() for m, t in items)
    J, A, S = "0", "1", "2"
    create = '{"janus":"create","transaction":"c"}'
    attach_echo = '{"janus":"attach","session_id":@S@,"plugin":"janus.plugin.echotest","transaction":"a"}'
    attach_test = '{"janus":"attach","session_id":@S@,"plugin":"cardea.plugin.test","transaction":"a"}'
    sdp = open(os.path.join(SHARED_SDP, "chromium-offer-audio-video.sdp")).read()
    sim = open(os.path.join(SHARED_SDP, "chromium-offer-simulcast-video.sdp")).read()
    import json
    msg = lambda body, jsep=None: json.dumps(dict(janus="message", session_id=0, handle_id=0, transaction="m",
                                                  body=body, **({"jsep": jsep} if jsep else {}))) \
        .replace('"session_id": 0', '"session_id": @S@').replace('"handle_id": 0', '"handle_id": @H@')
    put("api", "info-ping", reqs((J, '{"janus":"info","transaction":"i"}'), (J, '{"janus":"ping","transaction":"p"}')))
    put("api", "bad-json", reqs((J, '{"janus":"create",'), (J, '[1,2]'), (J, '{"transaction":5}')))
    put("api", "session-life", reqs((J, create), (J, '{"janus":"keepalive","session_id":@S@,"transaction":"k"}'),
                                    (J, '{"janus":"claim","session_id":@S@,"transaction":"k"}'),
                                    (J, '{"janus":"destroy","session_id":@S@,"transaction":"d"}')))
    put("api", "echotest-offer", reqs((J, create), (J, attach_echo),
                                      (J, msg({"audio": True, "video": True, "bitrate": 128000},
                                              {"type": "offer", "sdp": sdp})),
                                      (J, '{"janus":"trickle","session_id":@S@,"handle_id":@H@,"transaction":"t",'
                                          '"candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host",'
                                          '"sdpMid":"0","sdpMLineIndex":0}}'),
                                      (J, '{"janus":"trickle","session_id":@S@,"handle_id":@H@,"transaction":"t",'
                                          '"candidate":{"completed":true}}'),
                                      (J, '{"janus":"hangup","session_id":@S@,"handle_id":@H@,"transaction":"h"}'),
                                      (J, '{"janus":"detach","session_id":@S@,"handle_id":@H@,"transaction":"x"}')))
    put("api", "echotest-simulcast", reqs((J, create), (J, attach_echo),
                                          (J, msg({"audio": False, "video": True, "substream": 1, "temporal": 0},
                                                  {"type": "offer", "sdp": sim, "simulcast": True})),
                                          (J, msg({"substream": 2, "fallback": 100000, "keyframe": True}))))
    put("api", "test-plugin", reqs((J, create), (J, attach_test), (J, msg({"request": "ping"})),
                                   (J, msg({"request": "echo", "x": [1, {"y": None}]},
                                           {"type": "offer", "sdp": "v=0\r\n"})),
                                   (J, msg({"request": "events", "count": 3})), (J, msg({"request": "fail"})),
                                   (J, msg({"request": "detach_me"}))))
    put("api", "streaming", reqs((S, create + " " + '{"janus":"info","transaction":"i2"}' + "\n" + '{"janus":"ping"}')))
    put("api", "admin", reqs((J, create), (J, attach_test), (A, '{"janus":"list_sessions","transaction":"l"}'),
                             (A, '{"janus":"list_handles","session_id":@S@,"transaction":"l"}'),
                             (A, '{"janus":"handle_info","session_id":@S@,"handle_id":@H@,"transaction":"l"}'),
                             (A, '{"janus":"message_plugin","plugin":"cardea.plugin.test","request":{"request":"ping"},"transaction":"m"}'),
                             (A, '{"janus":"add_token","token":"abc","plugins":["cardea.plugin.test"],"transaction":"t"}'),
                             (A, '{"janus":"list_tokens","transaction":"t"}'),
                             (A, '{"janus":"remove_token","token":"abc","transaction":"t"}'),
                             (A, '{"janus":"get_status","transaction":"s"}'),
                             (A, '{"janus":"query_transport","transport":"cardea.transport.fuzz","transaction":"q"}'),
                             (A, '{"janus":"detach_handle","session_id":@S@,"handle_id":@H@,"transaction":"d"}'),
                             (A, '{"janus":"destroy_session","session_id":@S@,"transaction":"d"}')))


# ---- WHIP/WHEP (fuzz_whip.c's header bytes) ----

POST, PATCH, DELETE, OPTIONS, GET, PUT, RAW = range(7)
R_DEMO, R_LIVE, R_PATH, R_LOCKED = range(4)
CT_SDP, CT_FRAG, CT_NONE, CT_INPUT = range(4)
IM_NONE, IM_ETAG, IM_STAR, IM_INPUT = range(4)


def whip_input(method, route=R_DEMO, whep=False, ctype=CT_SDP, if_match=IM_NONE, bearer=0, pieces=(),
               body=b""):
    """bearer: 0 none, 1 the right token, 2 a wrong one."""
    b0 = method | (8 if whep else 0) | (route << 4) | (0x40 if bearer else 0) | (0x80 if bearer == 2 else 0)
    b1 = ctype | (if_match << 2)
    data = bytes([b0, b1]) + b"".join(p.encode() + b"\0" for p in pieces)
    return data + (body if isinstance(body, bytes) else body.encode())


def recvonly(sdp):
    return sdp.replace("a=sendrecv", "a=recvonly").replace("a=sendonly", "a=recvonly")


def whip_seeds():
    offers = {}
    for name in ("chromium-offer-audio-video", "chromium-offer-simulcast-video", "aiortc-offer-audio-video",
                 "chromium-offer-audio-video-datachannel"):
        with open(os.path.join(SHARED_SDP, name + ".sdp"), newline="") as f:
            offers[name] = f.read()
    for name, sdp in offers.items():
        put("whip", "post-whip-" + name, whip_input(POST, body=sdp))
        put("whip", "post-whep-" + name, whip_input(POST, whep=True, body=recvonly(sdp)))
    av = offers["chromium-offer-audio-video"]
    put("whip", "post-locked-token", whip_input(POST, R_LOCKED, bearer=1, body=av))
    put("whip", "post-locked-wrong-token", whip_input(POST, R_LOCKED, bearer=2, body=av))
    put("whip", "post-locked-no-token", whip_input(POST, R_LOCKED, body=av))
    put("whip", "post-whep-locked-token", whip_input(POST, R_LOCKED, whep=True, bearer=1, body=recvonly(av)))
    put("whip", "post-sdp-charset", whip_input(POST, ctype=CT_INPUT, pieces=["application/sdp; charset=utf-8"],
                                               body=av))
    # Bad POSTs: wrong or missing content type, no body, not an SDP, bad names.
    put("whip", "bad-post-wrong-type", whip_input(POST, ctype=CT_INPUT, pieces=["application/json"], body=av))
    put("whip", "bad-post-no-type", whip_input(POST, ctype=CT_NONE, body=av))
    put("whip", "bad-post-empty", whip_input(POST))
    put("whip", "bad-post-garbage", whip_input(POST, body="v=0\r\nm=video\r\n"))
    put("whip", "bad-post-channel-name", whip_input(POST, R_PATH, pieces=["no such/channel"], body=av))
    put("whip", "bad-post-unknown-channel", whip_input(POST, R_PATH, pieces=["nochannel"], body=av))
    put("whip", "bad-post-resource", whip_input(POST, R_PATH, pieces=["resource"], body=av))
    put("whip", "bad-get-channel", whip_input(GET))
    put("whip", "bad-put-resource", whip_input(PUT, R_LIVE, ctype=CT_FRAG, if_match=IM_ETAG))
    # PATCH on the live resource: trickle (the seed offer's ufrag, or none),
    # end-of-candidates, an ICE restart (a fresh ufrag: @N@).
    mline = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
    cand = "a=candidate:842163049 1 udp 1677729535 192.0.2.1 46154 typ srflx raddr 10.0.0.1 rport 46154\r\n"
    cand6 = "a=candidate:1 1 udp 2122262783 2001:db8::1 50000 typ host\r\n"
    tcp = "a=candidate:2 1 tcp 1518280447 192.0.2.2 9 typ host tcptype active\r\n"
    ufrag = next(l for l in av.splitlines() if l.startswith("a=ice-ufrag:"))
    put("whip", "patch-trickle", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_ETAG,
                                            body=ufrag + "\r\n" + mline + cand))
    put("whip", "patch-trickle-star", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_STAR,
                                                 body=mline + cand + cand6 + tcp))
    put("whip", "patch-trickle-no-mid", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_ETAG, body=cand))
    put("whip", "patch-end-of-candidates", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_ETAG,
                                                      body=mline + cand + "a=end-of-candidates\r\n"))
    put("whip", "patch-ice-restart", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_ETAG,
                                                body="a=ice-ufrag:fuzz@N@\r\na=ice-pwd:fuzzpassword0123456789ab\r\n"
                                                + mline + cand))
    put("whip", "bad-patch-restart-no-pwd", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_STAR,
                                                       body="a=ice-ufrag:fuzz@N@\r\n" + mline))
    put("whip", "bad-patch-no-if-match", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, body=mline + cand))
    put("whip", "bad-patch-stale-etag", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_INPUT,
                                                   pieces=['"0123456789abcdef"'], body=mline + cand))
    put("whip", "bad-patch-wrong-type", whip_input(PATCH, R_LIVE, ctype=CT_SDP, if_match=IM_ETAG,
                                                   body=mline + cand))
    put("whip", "bad-patch-bad-candidate", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_ETAG,
                                                      body=mline + "a=candidate:1 x\r\n"))
    put("whip", "bad-patch-empty", whip_input(PATCH, R_LIVE, ctype=CT_FRAG, if_match=IM_ETAG))
    put("whip", "bad-patch-unknown", whip_input(PATCH, R_PATH, ctype=CT_FRAG, if_match=IM_STAR,
                                                pieces=["resource/0123456789abcdef0123456789abcdef"], body=cand))
    # DELETE, OPTIONS.
    put("whip", "delete-live", whip_input(DELETE, R_LIVE, ctype=CT_NONE))
    put("whip", "delete-unknown", whip_input(DELETE, R_PATH, ctype=CT_NONE, pieces=["resource/nope"]))
    put("whip", "options-channel", whip_input(OPTIONS, ctype=CT_NONE))
    put("whip", "options-live", whip_input(OPTIONS, R_LIVE, ctype=CT_NONE))
    put("whip", "options-whep", whip_input(OPTIONS, whep=True, ctype=CT_NONE))
    # Raw requests: what MHD and the access handler make of odd framing.
    put("whip", "raw-patch-live", bytes([RAW, 0]) + (
        "PATCH @R@ HTTP/1.1\r\nHost: x\r\nContent-Type: application/trickle-ice-sdpfrag\r\nIf-Match: @E@\r\n"
        "Content-Length: %d\r\n\r\n%s" % (len(cand), cand)).encode())
    put("whip", "raw-post-chunked", bytes([RAW, 0]) + (
        "POST /whip/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\nTransfer-Encoding: chunked\r\n\r\n"
        "%x\r\n%s\r\n0\r\n\r\n" % (len(av), av)).encode())
    put("whip", "raw-post-short-body", bytes([RAW, 0]) + (
        "POST /whip/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\nContent-Length: 9999\r\n\r\n"
        "v=0\r\n").encode())
    put("whip", "raw-delete-http10", bytes([RAW, 0]) + b"DELETE @R@ HTTP/1.0\r\n\r\n")


def copy_seeds():
    for f in sorted(glob.glob(os.path.join(SHARED_SDP, "*.sdp"))):
        shutil.copy(f, os.path.join(CORPUS, "sdp", os.path.basename(f)))
    put("sdp", "candidate", "candidate:842163049 1 udp 1677729535 192.0.2.1 46154 typ srflx raddr 10.0.0.1 "
        "rport 46154 generation 0 ufrag EsAw network-cost 999")
    for f in sorted(glob.glob(os.path.join(REPO, "conf", "*.jcfg.sample"))):
        shutil.copy(f, os.path.join(CORPUS, "jcfg", os.path.basename(f)[:-len(".sample")]))
    for f in sorted(glob.glob(os.path.join(REPO, "tests", "unit", "config", "*.jcfg"))):
        shutil.copy(f, os.path.join(CORPUS, "jcfg", "unit-" + os.path.basename(f)))


if __name__ == "__main__":
    # gen-corpus.py [TARGET...]: only those targets' seeds (default: all).
    import sys
    only = set(sys.argv[1:]) or {"sdp", "rtp", "rtcp", "api", "jcfg", "whip"}
    for t in only:
        os.makedirs(os.path.join(CORPUS, t), exist_ok=True)
    if "rtp" in only:
        rtp_seeds()
    if "rtcp" in only:
        rtcp_seeds()
    if "api" in only:
        api_seeds()
    if only & {"sdp", "jcfg"}:
        copy_seeds()
    if "whip" in only:
        whip_seeds()
