#!/usr/bin/python3
"""Where a gateway's resident memory grows: /proc/PID/smaps by mapping,
before and while 1 publisher -> N subscribers run (scenario a's shape).

    CARDEA_BUILD=... CARDEA_PREFIX=... tests/bench/rss_by_mapping.py [N]

Prints the total growth, per subscriber, and the mappings that grew most
(anonymous memory summed; libraries by file name). Pins the gateway to CPU 0
and cardea-load to CPU 1 like bench.py. Figures: tests/bench/RESULTS.md.
"""
import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))
import bench  # noqa: E402

MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def rss_by_mapping(pid):
	res = collections.Counter()
	cur = None
	with open(f"/proc/{pid}/smaps") as f:
		for line in f:
			if MAPPING.match(line):
				parts = line.split()
				cur = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
			elif line.startswith("Rss:"):
				res[cur] += int(line.split()[1])
	return res


def main():
	n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
	gw = bench.BenchGateway(flavor="cardea", debug_level=2, session_timeout=120, wrapper=["taskset", "-c", "0"])
	gw.start()
	try:
		time.sleep(1)
		before = rss_by_mapping(gw.pid)
		load = subprocess.Popen(["taskset", "-c", "1", str(bench.LOAD), "--url", gw.ws_url, "--duration", "6",
			"--ramp", "100", "--threads", "2", "--publishers", "1", "--subscribers", str(n)],
			stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		time.sleep(n / 100 + 5)     # joined, media flowing
		during = rss_by_mapping(gw.pid)
		load.wait(timeout=120)
	finally:
		gw.cleanup()
	total = sum(during.values()) - sum(before.values())
	print(f"N={n}: growth {total} kB = {total / n:.1f} kB per subscriber")
	for k in sorted(set(before) | set(during), key=lambda k: -(during[k] - before[k]))[:14]:
		print(f"{during[k] - before[k]:8d} kB  {k}  (before: {before[k]} kB)")
	return 0


if __name__ == "__main__":
	sys.exit(main())
