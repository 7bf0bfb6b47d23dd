"""Benchmark: the CPU a junk-signed NOWPayments IPN costs before it is refused.

Its signature is over the parsed body, so the body is parsed and written in both canonical forms before the
signature can be checked. This times `NowPaymentsProvider.read` on the worst bodies we know of at a given size
(deep nesting, long arrays of numbers, many keys, escaped text), each refused as InvalidSignature, and prints
the CPU milliseconds of each, so the cost at the size limit (`max_body_bytes`) can be compared with larger
sizes: linear work grows in step with the size.

    .venv/bin/python bench/webhook_junk.py [--sizes 16384,65536,262144] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartcompute.billing.providers import InvalidSignature  # noqa: E402
from smartcompute.billing.providers.nowpayments import NowPaymentsProvider  # noqa: E402

HEADERS = {"x-nowpayments-sig": "0" * 128}
HEAD = b'{"payment_id":1,"payment_status":"finished","x":'


def _filled(opening: bytes, unit: bytes, closing: bytes, size: int) -> bytes:
    count = max(1, (size - len(HEAD) - len(opening) - len(closing) - 2) // len(unit))
    return HEAD + opening + unit * count + b"0" + closing + b"}"


def bodies(size: int) -> dict[str, bytes]:
    deep = 90
    return {
        "nested arrays of numbers": _filled(b"[" * deep, b"1.5e-7,12345678901234567890,", b"]" * deep, size),
        "one long array of floats": _filled(b"[", b"0.1,", b"]", size),
        "many keys": HEAD + b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(size // 12)) + b"}}",
        "escaped text": HEAD + b'"' + b"\\u00e9\\n" * (size // 12) + b'"}',
        "deep objects": _filled(b'{"a":' * deep + b"[", b"7,", b"]" + b"}" * deep, size),
    }


def cpu_ms(provider: NowPaymentsProvider, body: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        try:
            provider.read(HEADERS, body)
        except InvalidSignature:
            pass
        best = min(best, time.process_time() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"{NowPaymentsProvider.max_body_bytes},65536,262144")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    provider = NowPaymentsProvider("an-ipn-secret-of-sixteen-characters")
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        f"NOWPayments accepts at most {NowPaymentsProvider.max_body_bytes} bytes; CPU ms per refused IPN (best of "
        f"{args.repeat}):"
    )
    print(f"{'body':28}" + "".join(f"{size:>12}" for size in sizes))
    for name in bodies(sizes[0]):
        print(f"{name:28}" + "".join(f"{cpu_ms(provider, bodies(size)[name], args.repeat):>12.2f}" for size in sizes))


if __name__ == "__main__":
    main()
