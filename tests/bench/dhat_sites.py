#!/usr/bin/python3
"""Heap by allocation site: the gateway under `valgrind --tool=dhat` with
1 publisher -> N subscribers (scenario a's shape, slowed by valgrind), then
the bytes live at the heap's peak grouped by the first frames outside the
allocators.

    CARDEA_BUILD=... CARDEA_PREFIX=... tests/bench/dhat_sites.py [N] [TOP]

N defaults to 20, TOP (sites printed) to 35. "per sub" divides by N + 1
PeerConnections and includes the fixed part. Figures: tests/bench/RESULTS.md.
"""
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))
import bench  # noqa: E402

ALLOCATORS = ("malloc", "calloc", "realloc", "memalign", "posix_memalign", "g_malloc", "g_malloc0", "g_realloc",
	"g_try_malloc", "g_slice", "g_new", "g_memdup", "g_strdup", "g_type_create_instance", "g_object_new",
	"g_hash_table", "g_array", "g_ptr_array", "CRYPTO_malloc", "CRYPTO_zalloc", "CRYPTO_realloc", "BUF_MEM_grow",
	"PORT_", "srtp_crypto_alloc", "???")


def site(frames):
	out = []
	for f in frames[1:]:
		fn = f.split(": ", 1)[-1].split(" (")[0]
		if not fn.startswith(ALLOCATORS):
			out.append(fn)
			if len(out) == 3:
				break
	return " < ".join(out)


def main():
	n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
	top = int(sys.argv[2]) if len(sys.argv) > 2 else 35
	out = Path(tempfile.mkdtemp(prefix="cardea-dhat-")) / "dhat.json"
	gw = bench.BenchGateway(flavor="cardea", debug_level=2, session_timeout=300,
		wrapper=["valgrind", "--tool=dhat", f"--dhat-out-file={out}", "--num-callers=12"])
	gw.start(wait=False)
	gw.wait_ready(timeout=120)
	try:
		subprocess.run([str(bench.LOAD), "--url", gw.ws_url, "--duration", "10", "--ramp", "5", "--join-timeout", "120",
			"--threads", "1", "--publishers", "1", "--subscribers", str(n)],
			stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
	finally:
		gw.cleanup()
	d = json.loads(out.read_text())
	ft = d["ftbl"]
	live, blocks = collections.Counter(), collections.Counter()
	for pp in d["pps"]:
		s = site([ft[i] for i in pp["fs"]])
		live[s] += pp.get("gb", 0)
		blocks[s] += pp.get("gbk", 0)
	pcs = n + 1
	print(f"live at the heap peak: {sum(live.values())} bytes, {sum(live.values()) / pcs / 1024:.1f} KiB per PC (N={n})")
	for s, b in live.most_common(top):
		print(f"{b:9d} B {b / pcs:9.0f}/PC {blocks[s]:6d} blocks  {s[:150]}")
	print(f"(profile: {out})")
	return 0


if __name__ == "__main__":
	sys.exit(main())
