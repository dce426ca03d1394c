"""What a page costs on each endpoint option, from measured throughput and list prices.

    python -m bench.cost --measured cpu-2vcpu=bench-gpu.json [--measured ml.g4dn.xlarge=gpu.json]

`--measured NAME=FILE` takes a `python -m bench.gpu --json-out FILE` run: its best pages/s (any
concurrency) is the instance's throughput, and its concurrency-1 median latency is the billed
duration of one serverless request. NAME is an instance type, or `cpu-2vcpu` for a run on a
2-vCPU x86 machine, which stands for the 2-vCPU CPU types below. Options with no measurement
print "unmeasured": no figure is invented for them.

Prices are SageMaker's on-demand list prices in us-east-1 as we read them in November 2026
(aws.amazon.com/sagemaker/pricing); they change and differ per region: check yours.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HOURS_PER_MONTH = 730
# instance type -> (USD per hour, vCPUs, what it is, which measurement stands for it)
INSTANCES = {
    "ml.g4dn.xlarge": (0.7364, 4, "NVIDIA T4 (the default)", "ml.g4dn.xlarge"),
    "ml.g5.xlarge": (1.408, 4, "NVIDIA A10G", "ml.g5.xlarge"),
    "ml.c5.large": (0.119, 2, "x86 CPU", "cpu-2vcpu"),
    "ml.c5.xlarge": (0.238, 4, "x86 CPU", "ml.c5.xlarge"),
    "ml.m5.xlarge": (0.269, 4, "x86 CPU", "ml.m5.xlarge"),
}
STAND_INS = {"cpu-2vcpu": "a 2-vCPU x86 VM"}
SERVERLESS_USD_PER_GB_SECOND = 0.00002  # on-demand Serverless Inference compute
SERVERLESS_USD_PER_GB_DATA = 0.016  # data processed, in and out
SERVERLESS_MEMORY_GB = 6
PAGE_MB = 0.5  # a JPEG page scan, as the bench sends


def cost_per_1000(usd_per_hour: float, pages_per_s: float, use: float) -> float:
    """An instance billed by the hour, busy `use` of the time at `pages_per_s` when busy."""
    return usd_per_hour / (pages_per_s * 3600 * use) * 1000


def serverless_monthly(pages: int, seconds_per_page: float) -> float:
    compute = pages * seconds_per_page * SERVERLESS_MEMORY_GB * SERVERLESS_USD_PER_GB_SECOND
    data = pages * PAGE_MB / 1024 * SERVERLESS_USD_PER_GB_DATA
    return compute + data


def load(path: Path) -> dict:
    run = json.loads(path.read_text())
    levels = [level for level in run["levels"] if level["errors"] == 0]
    if not levels:
        raise SystemExit(f"{path}: no concurrency level ran without errors")
    best = max(levels, key=lambda level: level["pages_per_s"])
    single = next((level for level in levels if level["concurrency"] == 1), None)
    return {
        "pages_per_s": best["pages_per_s"],
        "at": best["concurrency"],
        "p50_s": single["p50_ms"] / 1000 if single else None,
        "server": run.get("server", {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--measured",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="a bench.gpu JSON run for an instance type (or cpu-2vcpu)",
    )
    parser.add_argument("--pages-per-month", type=int, default=10_000, help="for the serverless row")
    args = parser.parse_args(argv)
    measured = {}
    for item in args.measured:
        name, _, file = item.partition("=")
        if not file:
            parser.error(f"--measured takes NAME=FILE, not {item!r}")
        measured[name] = load(Path(file))

    print("| option | what | USD/hour | pages/s (measured on) | USD per 1,000 pages at 100% use | at 50% use |")
    print("|---|---|---|---|---|---|")
    for instance, (price, vcpus, what, stands_for) in INSTANCES.items():
        run = measured.get(stands_for)
        if run is None:
            print(f"| `{instance}` | {what}, {vcpus} vCPU | {price:.3f} | unmeasured | - | - |")
            continue
        where = "this instance" if stands_for == instance else STAND_INS.get(stands_for, stands_for)
        print(
            f"| `{instance}` | {what}, {vcpus} vCPU | {price:.3f} | {run['pages_per_s']:.2f} ({where}, concurrency "
            f"{run['at']}) | {cost_per_1000(price, run['pages_per_s'], 1.0):.3f} | "
            f"{cost_per_1000(price, run['pages_per_s'], 0.5):.3f} |"
        )
    cpu = measured.get("cpu-2vcpu")
    pages = args.pages_per_month
    if cpu and cpu["p50_s"]:
        monthly = serverless_monthly(pages, cpu["p50_s"])
        print(
            f"| serverless, {SERVERLESS_MEMORY_GB} GB | CPU, scales to zero | {SERVERLESS_USD_PER_GB_SECOND * SERVERLESS_MEMORY_GB * 3600:.3f} "
            f"while a request runs | one request per slot, {cpu['p50_s']:.2f} s each (2-vCPU VM) | "
            f"{1000 * monthly / pages:.3f} | same: idle time is free |"
        )
        print(
            f"\nServerless at {pages:,} pages a month: about USD {monthly:.2f} "
            f"({cpu['p50_s']:.2f} s x {SERVERLESS_MEMORY_GB} GB per page, plus {PAGE_MB} MB of data processed each), "
            f"against USD {INSTANCES['ml.c5.large'][0] * HOURS_PER_MONTH:.0f} for one ml.c5.large all month "
            f"and USD {INSTANCES['ml.g4dn.xlarge'][0] * HOURS_PER_MONTH:.0f} for one ml.g4dn.xlarge."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
