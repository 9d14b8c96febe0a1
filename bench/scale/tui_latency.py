#!/usr/bin/python3
"""bench/scale/tui_latency.py - how fast the browser answers keys while a
whole-model computation runs, on a large checkpoint.

usage: bench/scale/tui_latency.py QSCOPE MODEL [SCHEME_PRESSES]

Starts qscope in a detached tmux (its own server), measures the time from a
key press (j/k alternately) to the screen showing the moved selection, 30
times with nothing computing, then sets a target format on the whole model
(`f` pressed SCHEME_PRESSES times on the top group, default 8) so that every
tensor's error is computed in the background, and measures again while it
runs.  Prints the median and the worst latency of each, and the share of
the model computed when the second series ended.  The latency includes
tmux's own round trip (send-keys, capture-pane), measured by the idle
series.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    qscope, model = os.path.abspath(sys.argv[1]), sys.argv[2]
    presses = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    tmp = tempfile.mkdtemp(prefix="qscope-lat.")
    sock = os.path.join(tmp, "sock")

    def T(*a):
        return subprocess.run(["tmux", "-S", sock, "-f", "/dev/null"] +
                              list(a), capture_output=True, text=True).stdout

    def screen():
        return T("capture-pane", "-p", "-t", "q")

    def pos(s):
        m = re.search(r" (\d+)/(\d+) ", s.splitlines()[-1] if s else "")
        return int(m.group(1)) if m else None

    def wait(pred, limit=30.0):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            s = screen()
            if pred(s):
                return s
            time.sleep(0.002)
        return None

    def series(n):
        lat = []
        for i in range(n):
            before = pos(screen())
            key = "j" if i % 2 == 0 else "k"
            t0 = time.monotonic()
            T("send-keys", "-t", "q", key)
            if wait(lambda s: pos(s) is not None and pos(s) != before) \
                    is None:
                lat.append(float("inf"))
                continue
            lat.append(time.monotonic() - t0)
        return lat

    try:
        T("new-session", "-d", "-s", "q", "-x", "120", "-y", "40",
          qscope, model)
        if not wait(lambda s: pos(s) is not None):
            sys.exit("qscope did not draw its tree")
        # go to the top group that holds every layer
        s = screen()
        rows = s.splitlines()
        top = next((i for i, r in enumerate(rows[2:]) if "\u25be" in r
                    or "\u25b8" in r), 0)
        for _ in range(top):
            T("send-keys", "-t", "q", "j")
        time.sleep(0.5)
        idle = series(30)
        for _ in range(presses):
            T("send-keys", "-t", "q", "f")
        time.sleep(1.0)
        status0 = screen().splitlines()[-1]
        busy = series(30)
        status1 = screen().splitlines()[-1]
    finally:
        T("kill-server")
        shutil.rmtree(tmp, ignore_errors=True)

    def show(name, lat):
        ms = [x * 1000 for x in lat]
        print("%-28s median %6.1f ms   worst %6.1f ms   (%d presses)" %
              (name, statistics.median(ms), max(ms), len(ms)))
    show("keys, nothing computing", idle)
    show("keys, whole model computing", busy)
    print("status when the busy series began: %s" % status0.strip()[:100])
    print("status when it ended:              %s" % status1.strip()[:100])


if __name__ == "__main__":
    main()
