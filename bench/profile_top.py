#!/usr/bin/env python
"""Summarise a py-spy "raw" profile (collapsed stacks, `frame;frame;... count` per line), as written by
`bench/compare.py --profile FILE`: the functions with the most samples on the stack ("inclusive"), and where
the samples' innermost frames are ("self"), each as a share of all samples.

    .venv/bin/python bench/profile_top.py /tmp/eflux.prof --top 40 [--match journal]
"""

import argparse
import re
from collections import Counter
from pathlib import Path

LINE = re.compile(r"^(.*) (\d+)$")
LINENO = re.compile(r":\d+\)$")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--match", default="", help="only frames containing this text")
    p.add_argument("--thread", default="", help="only stacks whose thread name contains this text")
    p.add_argument("--under", default="", help="only frames called by the first frame containing this text")
    p.add_argument("--lines", action="store_true", help="one entry per line, not per function")
    args = p.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text(errors="replace").splitlines():
        m = LINE.match(line)
        if not m:
            continue
        frames, count = m.group(1).split(";"), int(m.group(2))
        if not args.lines:  # one entry per function, not per line
            frames = [LINENO.sub(")", f) for f in frames]
        if args.thread and args.thread not in frames[0]:
            continue
        if args.under:  # only what runs inside that function, as a share of all samples
            inside = [i for i, f in enumerate(frames) if args.under in f]
            if not inside:
                total += count
                continue
            frames = frames[inside[0] :]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"--- {title}")
        shown = 0
        for frame, count in counter.most_common():
            if args.match and args.match not in frame:
                continue
            print(f"{100 * count / total:5.1f}%  {frame[:150]}")
            shown += 1
            if shown >= args.top:
                break


if __name__ == "__main__":
    main()
