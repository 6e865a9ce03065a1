"""Training and inference throughput of minicnn against PyTorch (and TensorFlow), side by side.

    python -m benchmarks [--models lenet5,resnet18] [--quick] [--under-load] [--no-ops]

Each framework runs in its own process (`worker.py`), all of them alive at once; for every
model the rounds are interleaved (minicnn, PyTorch, TensorFlow, then the next round in rotated
order), so machine noise hits every framework alike. The table gives the median images/s over
the rounds, the spread (half the range, in % of the median), and the ratios to PyTorch. Then
the per-op conv2d microbenchmarks (`ops.py`). Everything is written as JSON to
benchmarks/results/ with the machine, the versions and the date.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.models import SPECS

RESULTS = Path(__file__).resolve().parent / "results"
FRAMEWORKS = ("minicnn", "pytorch", "tensorflow")


def installed(framework):
    """True when the framework's package can be found (without importing it)."""
    import importlib.util
    module = {"minicnn": "minicnn", "pytorch": "torch", "tensorflow": "tensorflow"}[framework]
    return importlib.util.find_spec(module) is not None


class Worker:
    """A `benchmarks.worker` process for one framework, spoken to in JSON lines."""

    def __init__(self, framework, checkout=None):
        """checkout: another source tree holding minicnn/ and benchmarks/ (--baseline)."""
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        self.framework = framework if checkout is None else "baseline"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", framework], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
            cwd=checkout or Path(__file__).resolve().parent.parent)
        self.version = self._reply()["version"]

    def ask(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def _reply(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.framework} worker stopped (run "
                               f"`python -m benchmarks.worker {self.framework}` to see why)")
        return json.loads(line)

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)


def benchmark_model(workers, name, rounds, min_time, log):
    """Interleaved rounds of training and inference steps; returns per-framework samples."""
    batch = SPECS[name][3]
    result = {}
    for worker in workers:
        log(f"  {name}: setting up {worker.framework}")
        result[worker.framework] = dict(worker.ask(cmd="setup", model=name), train=[], infer=[])
    for r in range(rounds):
        order = workers[r % len(workers):] + workers[:r % len(workers)]
        for mode in ("train", "infer"):
            for worker in order:
                reply = worker.ask(cmd="time", mode=mode, min_time=min_time)
                result[worker.framework][mode].append(batch / reply["seconds"])
        log(f"  {name}: round {r + 1}/{rounds} done")
    return result


def summary(samples):
    """(median, spread in % of the median: half the range) of a list of rates."""
    median = statistics.median(samples)
    return median, 50 * (max(samples) - min(samples)) / median


def cell(samples):
    median, spread = summary(samples)
    return f"{median:>10.0f} ±{spread:4.1f}%"


def ratio_cell(samples, torch_samples):
    """Median and range of the per-round ratios: each round times both frameworks back to
    back, so a machine that slows down for a while moves both sides of a ratio together."""
    ratios = sorted(a / b for a, b in zip(samples, torch_samples))
    return f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def model_table(results, frameworks):
    """Text table: images/s (median ± spread) per framework, ratios to PyTorch, peak memory."""
    others = [f for f in frameworks if f != "pytorch"] if "pytorch" in frameworks else []
    head = (f"{'model':<9}{'mode':<6}" + "".join(f"{f:>18}" for f in frameworks)
            + "".join(f"{f[:4] + '/torch':>19}" for f in others))
    lines = ["images/s, median ± half-range over the rounds; ratios: median (range) of the "
             "rounds' ratios", head, "-" * len(head)]
    for name, runs in results.items():
        for mode in ("train", "infer"):
            line = f"{name:<9}{mode:<6}" + "".join(f"{cell(runs[f][mode]):>18}"
                                                  for f in frameworks)
            line += "".join(f"{ratio_cell(runs[f][mode], runs['pytorch'][mode]):>19}"
                            for f in others)
            lines.append(line)
    lines += ["", "peak memory added by one training step, MB (RSS high-water mark growth)",
              f"{'model':<15}" + "".join(f"{f:>18}" for f in frameworks)
              + "".join(f"{f[:4] + '/torch':>19}" for f in others)]
    for name, runs in results.items():
        peaks = {f: runs[f]["train_peak_mb"] for f in frameworks}
        line = f"{name:<15}" + "".join(f"{peaks[f]:>18.1f}" for f in frameworks)
        line += "".join(f"{peaks[f] / max(peaks['pytorch'], 1e-9):>18.2f}x" for f in others)
        lines.append(line)
    return "\n".join(lines)


def ops_table(ops):
    """Text table of the conv2d microbenchmarks: ms and GFLOP/s (% of the GEMM peak)."""
    peak = ops["gemm_peak_gflops"]
    frameworks = [f for f in ("minicnn", "pytorch") if f in ops["conv2d"][0]]
    lines = [f"conv2d float32, GFLOP/s (% of NumPy's GEMM peak {peak:.0f} GFLOP/s measured "
             f"in the same run)",
             f"{'shape':<16}{'GFLOP':>7}" + "".join(f"{f + ' fwd':>20}{f + ' bwd':>20}"
                                                    for f in frameworks)]
    for row in ops["conv2d"]:
        line = f"{row['label']:<16}{row['gflop']:>7.2f}"
        for f in frameworks:
            for part, flops in (("forward_s", row["gflop"]), ("backward_s", 2 * row["gflop"])):
                seconds = row[f][part]
                rate = flops / seconds
                line += f"{seconds * 1e3:>8.1f}ms{rate:>6.1f}({100 * rate / peak:>3.0f}%)"
        lines.append(line)
    return "\n".join(lines)


def compile_table(times):
    lines = ["numba kernels, first call in a fresh process (cold: empty cache; cached: "
             "loaded from numba's cache), seconds"]
    for name, cold in times["cold"].items():
        if isinstance(cold, dict):
            cached = times["cached"][name]["first_s"]
            lines.append(f"  {name:<20} cold {cold['first_s']:6.2f}   cached {cached:6.2f}   "
                         f"second call {cold['second_s'] * 1e3:7.2f} ms")
    return "\n".join(lines)


def run_json(args, env=None):
    """Run `python -m benchmarks.ops ARGS` in a fresh process; its JSON output."""
    output = subprocess.run([sys.executable, "-m", "benchmarks.ops", *args], check=True,
                            capture_output=True, text=True, env=env,
                            cwd=Path(__file__).resolve().parent.parent).stdout
    return json.loads(output)


def conv_ops(args):
    """The per-op conv2d table: minicnn's and (when installed) PyTorch's rows, each framework
    timed in a fresh process of its own; the GEMM peak is the one measured beside minicnn."""
    ops = run_json([*args, "--framework", "minicnn"])
    if importlib.util.find_spec("torch") is not None:
        reference = run_json([*args, "--framework", "pytorch"])
        for row, torch_row in zip(ops["conv2d"], reference["conv2d"]):
            row["pytorch"] = torch_row["pytorch"]
    return ops


def compile_times():
    """The kernels' first-call times with an empty numba cache, then with the cache filled."""
    import tempfile
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        return {"cold": run_json(["--compile-times"], env),
                "cached": run_json(["--compile-times"], env)}


def machine():
    """What the numbers were measured on."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "load_average": os.getloadavg()}


def start_competitor():
    """A CPU-bound process (one busy Python loop) for --under-load."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", default=",".join(SPECS),
                        help="comma-separated benchmarks: " + ", ".join(SPECS))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated; the ones not installed are skipped")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per model")
    parser.add_argument("--min-time", type=float, default=0.75,
                        help="seconds of steps (at least 2) per framework per round")
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds of 0.3 s, lenet5 and resnet18, three conv shapes")
    parser.add_argument("--under-load", action="store_true",
                        help="run a CPU-bound competitor process meanwhile")
    parser.add_argument("--no-ops", action="store_true", help="skip the per-op benchmarks")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run minicnn from this source tree (holding minicnn/ and "
                             "benchmarks/, e.g. a `git archive` of an older commit), as column "
                             "'baseline'")
    parser.add_argument("--out", help="JSON file (default benchmarks/results/DATE.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.min_time = 2, 0.3
        if args.models == parser.get_default("models"):
            args.models = "lenet5,resnet18"
    args.models = args.models.split(",")
    unknown = [m for m in args.models if m not in SPECS]
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(SPECS)}")
    if args.rounds < 1 or args.min_time <= 0:
        parser.error("--rounds must be >= 1 and --min-time > 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    frameworks = [f for f in args.frameworks.split(",") if f in FRAMEWORKS and installed(f)]
    if args.baseline and not (Path(args.baseline) / "benchmarks" / "worker.py").is_file():
        sys.exit(f"error: --baseline {args.baseline}: no benchmarks/worker.py there; give a "
                 f"source tree with minicnn/ and this benchmarks/ folder")

    def log(message):
        print(message, file=sys.stderr, flush=True)
    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": machine(), "args": vars(args), "models": {}}
    competitor = start_competitor() if args.under_load else None
    workers = []
    try:
        workers = [Worker(f) for f in frameworks]
        if args.baseline:
            workers.append(Worker("minicnn", args.baseline))
            frameworks = frameworks + ["baseline"]
        record["versions"] = {w.framework: w.version for w in workers}
        for name in args.models:
            record["models"][name] = benchmark_model(workers, name, args.rounds,
                                                     args.min_time, log)
        for worker in workers:
            worker.close()
        workers = []
        if not args.no_ops:
            log("  conv2d microbenchmarks")
            record["ops"] = conv_ops(["--quick"] if args.quick else [])
            log("  kernel compile times")
            record["compile"] = compile_times()
    finally:
        for worker in workers:
            worker.process.kill()
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    versions = ", ".join(f"{f} {v}" for f, v in record["versions"].items())
    print(f"{record['date']}  {record['machine']['cpu']} ({record['machine']['cores']} cores)"
          f"{'  UNDER LOAD' if args.under_load else ''}\n{versions}\n")
    print(model_table(record["models"], frameworks))
    if "ops" in record:
        print("\n" + ops_table(record["ops"]) + "\n\n" + compile_table(record["compile"]))
    out = Path(args.out) if args.out else RESULTS / f"{record['date'].replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(out)  # never a half-written result file
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
