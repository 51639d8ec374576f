"""A live sender for the streaming tests and benchmark: a real clip pushed at its real pace.

``python tests/stream_sender.py CLIP URL --format mpegts [--option k=v] [--stamps FILE] [--limit S]``

Packets of CLIP (already encoded: stream copy, so the sender costs almost no CPU) are muxed to URL
when the wall clock reaches their decode time, as a camera or OBS would send them. With ``--stamps``
the wall-clock time (``time.time()``) at which each video packet was sent is written as JSON keyed by
its presentation time in milliseconds, so a receiver can compute glass-to-glass latency. The
sender stops by itself at the end of the clip, after ``--limit`` seconds, or after ``--loops``.
"""
import argparse
import json
import sys
import time
from typing import Dict

import av


def _options(pairs):
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = value
    return out


def send(clip: str, url: str, fmt: str, options: Dict[str, str], stamps: str = "", limit: float = 30.0,
         loops: int = 1, audio: bool = True, ready: str = "") -> int:
    started = time.time()
    sent = 0
    table = {}
    with av.open(clip) as src:
        streams = [src.streams.video[0]] + (list(src.streams.audio[:1]) if audio else [])
        with av.open(url, "w", format=fmt, options=options) as out:
            outs = {s.index: out.add_stream_from_template(s) for s in streams}
            if ready:
                open(ready, "w").close()
            clock0 = time.monotonic()
            offset = 0.0  # seconds added per loop, so timestamps keep rising
            for loop in range(loops):
                src.seek(0)
                last = 0.0
                for packet in src.demux(*streams):
                    if packet.dts is None:
                        continue
                    t = float(packet.dts * packet.time_base) + offset
                    last = max(last, t)
                    wait = clock0 + t - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    if time.time() - started > limit:
                        return sent
                    shift = round(offset / packet.time_base)
                    packet.pts += shift
                    packet.dts += shift
                    is_video = packet.stream is streams[0]
                    key = str(round(float(packet.pts * packet.time_base) * 1000))  # ms of the input clock
                    packet.stream = outs[packet.stream.index]
                    out.mux(packet)
                    if is_video:
                        table[key] = time.time()
                        sent += 1
                offset = last + 1 / float(streams[0].average_rate or 25)
            if stamps:
                with open(stamps, "w") as f:
                    json.dump({"sent_ms": table}, f)
    return sent


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("clip")
    p.add_argument("url")
    p.add_argument("--format", required=True)
    p.add_argument("--option", action="append", default=[])
    p.add_argument("--stamps", default="")
    p.add_argument("--limit", type=float, default=30.0)
    p.add_argument("--loops", type=int, default=1)
    p.add_argument("--no-audio", action="store_true")
    p.add_argument("--ready", default="", help="touch this file once the output is open")
    args = p.parse_args()
    try:
        n = send(args.clip, args.url, args.format, _options(args.option), args.stamps, args.limit, args.loops,
                 not args.no_audio, args.ready)
    except av.FFmpegError as exc:
        print(f"sender: {exc}", file=sys.stderr)
        return 1
    print(f"sent {n} video packets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
