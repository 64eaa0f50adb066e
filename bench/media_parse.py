"""CPU per inbound Twilio media message: `parse_message` (the pattern for Twilio's compact
form) against the general JSON path it falls back to, alternating, on both key orders.

50 of these arrive per call per second, 5,000 a second at 100 calls.

    .venv/bin/python bench/media_parse.py [--rounds 5] [--number 20000]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import timeit

from voxroute.telephony.twilio import protocol

SID = "MZ" + "0123456789abcdef" * 2
PAYLOAD = base64.b64encode(bytes(range(160))).decode()  # 20 ms of 8 kHz μ-law
MESSAGES = {
    "media then streamSid (Twilio's docs)": (
        '{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2",'
        f'"timestamp":"40","payload":"{PAYLOAD}"}},"streamSid":"{SID}"}}'
    ),
    "streamSid then media (load generator)": (
        f'{{"event":"media","sequenceNumber":"4","streamSid":"{SID}","media":{{"track":'
        f'"inbound","chunk":"2","timestamp":"40","payload":"{PAYLOAD}"}}}}'
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    for name, raw in MESSAGES.items():
        assert protocol.parse_message(raw, max_bytes=65536) == protocol._parse_json(raw)
        ways = {
            "general": lambda raw=raw: protocol._parse_json(raw),
            "parse_message": lambda raw=raw: protocol.parse_message(raw, max_bytes=65536),
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.rounds):
            for way, call in ways.items():
                times[way].append(timeit.timeit(call, number=args.number) / args.number * 1e6)
        general, fast = (statistics.median(times[w]) for w in ways)
        print(f"{name:40} general {general:5.2f} µs  parse_message {fast:5.2f} µs  "
              f"{general / fast:4.1f}×")  # fmt: skip


if __name__ == "__main__":
    main()
