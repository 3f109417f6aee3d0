#!/usr/bin/python3
"""Writes the seed corpus of fuzz_svc (tests/fuzz/corpus/svc/): VP9 SVC and
AV1 (Dependency Descriptor) packet sequences in the input format that
tests/fuzz/fuzz_svc.c describes. Re-run after changing that format."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "svc")


class Bits:
    def __init__(self):
        self.bits = []

    def put(self, v, n):
        for k in range(n - 1, -1, -1):
            self.bits.append((v >> k) & 1)

    def bytes(self):
        b = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, b[i:i + 8])), 2) for i in range(0, len(b), 8))


def dd_structure(template, sof, eof, frame, spatial, temporal):
    """A DD with an LxTy structure: templates S0T0..S(x-1)T(y-1), one decode
    target per (S, T), T0 templates are switch points."""
    w = Bits()
    w.put(sof, 1); w.put(eof, 1); w.put(template, 6); w.put(frame, 16)
    w.put(1, 1); w.put(0, 1); w.put(0, 1); w.put(0, 1); w.put(0, 1)
    w.put(0, 6)                                  # template_id_offset
    dts = spatial * temporal
    w.put(dts - 1, 5)
    n = 0
    for s in range(spatial):
        for t in range(temporal):
            n += 1
            last_t = t == temporal - 1
            if last_t and s == spatial - 1:
                w.put(3, 2)
            elif last_t:
                w.put(2, 2)
            else:
                w.put(1, 2)
    for s in range(spatial):
        for t in range(temporal):
            for ds in range(spatial):
                for dt in range(temporal):
                    if s > ds or t > dt:
                        w.put(0, 2)
                    else:
                        w.put(2 if t == 0 else 1, 2)
    for _ in range(n):
        w.put(1, 1); w.put(0, 4); w.put(0, 1)    # one fdiff of 1
    # chains: ns(dts + 1) = 0
    width = 0
    x = dts + 1
    while x:
        width += 1
        x >>= 1
    w.put(0, width - 1)
    w.put(1, 1)
    for s in range(spatial):
        w.put((160 << s) - 1, 16); w.put((120 << s) - 1, 16)
    return w.bytes()


def dd_plain(template, sof, eof, frame):
    return bytes([(0x80 if sof else 0) | (0x40 if eof else 0) | template, frame >> 8, frame & 0xFF])


def rtp(pt, seq, ts, ssrc, payload, marker=False, ext=None):
    b0 = 0x80 | (0x10 if ext else 0)
    h = struct.pack("!BBHII", b0, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    return h + (ext or b"") + payload


def ext_two_byte(elems):
    body = b"".join(bytes([i, len(d)]) + d for i, d in elems)
    body += b"\0" * (-len(body) % 4)
    return struct.pack("!HH", 0x1000, len(body) // 4) + body


def ext_one_byte(elems):
    body = b"".join(bytes([(i << 4) | (len(d) - 1)]) + d for i, d in elems)
    body += b"\0" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


def vp9(key, sid, tid, ss=0, start=True, end=True, u=False):
    b0 = 0x80 | 0x20 | (0x08 if start else 0) | (0x04 if end else 0) | (0 if key else 0x40) | (0x02 if ss else 0)
    out = bytes([b0, 0x80 | 0x01, 0x23, (tid << 5) | (0x10 if u else 0) | (sid << 1) | (1 if sid else 0), 7])
    if ss:
        out += bytes([((ss - 1) << 5) | 0x10])
        for s in range(ss):
            out += struct.pack("!HH", 160 << s, 120 << s)
    return out + b"\x11\x22\x33"


def record(flags, dt, body):
    data = bytes([flags, dt]) + body
    return struct.pack("!H", len(data)) + data


def put(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    # VP9 L3T3: keyframe with SS, then pictures; a target change mid-way.
    out = b""
    seq = 100
    for pic in range(9):
        tid = [0, 2, 1, 2][pic % 4]
        for sid in range(3):
            out += record(4 if pic == 5 and sid == 0 else 0, 10,
                          (bytes([1, 3]) if pic == 5 and sid == 0 else b"") +
                          rtp(98, seq, 3000 * pic, 0x1111, vp9(pic == 0, sid, tid, 3 if pic == 0 and sid == 0 else 0,
                                                               u=tid > 0), marker=sid == 2))
            seq += 1
    put("vp9-l3t3", bytes([0x00, 0x10, 0]) + out)
    # AV1 L3T3 with the DD as two-byte id 12, abs-send-time before it.
    for name, (sp, tp) in {"av1-l3t3": (3, 3), "av1-l1t3": (1, 3), "av1-l2t2": (2, 2)}.items():
        out = b""
        seq, frame = 7, 1
        for pic in range(8):
            tid = [0, 2, 1, 2][pic % 4] % tp
            for sid in range(sp):
                tmpl = sid * tp + tid
                dd = dd_structure(tmpl, 1, 1, frame, sp, tp) if pic == 0 and sid == 0 else dd_plain(tmpl, 1, 1, frame)
                frame += 1
                ext = ext_two_byte([(2, b"\x01\x02\x03"), (12, dd)])
                out += record(8 if pic == 6 and sid == 0 else 0, 15,
                              rtp(45, seq, 3000 * pic, 0x2222, b"\x10\x0a\x0b", marker=sid == sp - 1, ext=ext))
                seq += 1
        put(name, bytes([0x01, 0x21, 12]) + out)
    # e2ee VP8 simulcast with a DD in one-byte form (plain descriptors fit).
    out = b""
    seqs = [10, 20, 30]
    for pic in range(6):
        for sub in range(3):
            dd = dd_plain(0, 1, 1, pic + 1) if pic else dd_plain(0, 1, 1, 1)
            # X S | I L T | 15-bit picture id | TL0PICIDX | TID Y | ciphertext
            vp8 = bytes([0x90, 0xE0, 0x80, pic, pic // 2, ((pic % 2) << 6) | 0x20]) + b"\xde\xad\xbe\xef"
            out += record(sub, 5, rtp(96, seqs[sub], 3000 * pic, 0x3000 + sub, vp8, marker=True,
                                      ext=ext_one_byte([(3, dd)])))
            seqs[sub] += 1
    put("e2ee-vp8-simulcast", bytes([0x03, 0x02, 3]) + out)
    # The raw parsers alone: a DD structure and a VP9 SS descriptor as records.
    put("raw-dd", bytes([0x01, 0x00, 0]) + record(0, 0, dd_structure(0, 1, 0, 5, 2, 3)) +
        record(0, 0, dd_plain(4, 1, 1, 6)))
    put("raw-vp9", bytes([0x00, 0x00, 0]) + record(0, 0, vp9(True, 0, 0, 3)) + record(0, 0, vp9(False, 2, 1)))


if __name__ == "__main__":
    main()
