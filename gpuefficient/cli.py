"""Command line: ``python -m gpuefficient costs|latency|lut|rank|zoo|scale|hardware|search ...`` for the most common jobs.

Every command that takes ``--json`` prints one JSON document (strict JSON: NaN and infinities become
null; dtypes by their canonical names). ``--dtype``, ``--backend`` and ``--device`` are checked
against the package's vocabularies while the arguments are parsed, so a bad value costs one line on
stderr and exit status 2 before any model is built or timed. Heavy libraries are imported inside the
command that needs them.
"""
from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
import signal
import sys

__all__ = ["main", "build_parser"]


# --- argument types: the package's vocabularies, checked at parse time ----------------------------------------

def _positive_int(text: str) -> int:
    """A count given on the command line, checked by the package's own rule (``checks.integer``)."""
    from gpuefficient import checks

    try:
        value = int(text)
    except ValueError:
        value = text   # reported by the check below, in its words
    try:
        return checks.integer("value", value, 1)
    except ValueError as err:
        raise _type_error(err, "value") from None


def _type_error(err: ValueError, name: str) -> argparse.ArgumentTypeError:
    """A check's ``"name: got ..."`` message as argparse's (which names the option itself)."""
    return argparse.ArgumentTypeError(str(err).removeprefix(f"{name}: "))


def _dtype(text: str) -> str:
    """A model dtype by any accepted spelling -> its canonical name (``float16`` -> ``fp16``)."""
    from gpuefficient import checks, dtypes

    try:
        key = dtypes.name(text)
    except ValueError:
        key = text
    try:
        return checks.one_of("dtype", key, dtypes.MODEL_DTYPES)
    except ValueError as err:
        raise _type_error(err, "dtype") from None


def _backend(text: str) -> str:
    from gpuefficient import checks
    from gpuefficient.measure import BACKENDS  # the names alone: no torch imported to check them

    try:
        return checks.one_of("backend", text, BACKENDS)
    except ValueError as err:
        raise _type_error(err, "backend") from None


def _device(text: str) -> str:
    """``auto``, ``cpu`` or ``cuda[:N]``, kept as given (``auto`` stays ``auto``). Checked without importing
    torch: the form, and that a CUDA device can exist here at all (an NVIDIA driver); whether cuda:N exists
    is the command's first step (``resolve_device``)."""
    import re

    from gpuefficient.device import nvidia_driver_present

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"got {text!r}, expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if text.startswith("cuda") and not nvidia_driver_present():
        raise argparse.ArgumentTypeError(f"got {text!r}, but no CUDA device is available here (no NVIDIA driver); "
                                         "use 'auto' or 'cpu'")
    return text


#: The options several commands share: name -> (flags, add_argument keywords); see :func:`_shared`.
_OPTIONS = {
    "dtype": (("--dtype",), dict(type=_dtype, default="fp32",
                                 help="fp32, fp16 or bf16; aliases such as float16 accepted (default fp32)")),
    "backend": (("--backend",), dict(type=_backend, default="eager", help="eager, compile, compile-max-autotune, "
                                     "compile-cudagraphs, cudagraph, onnxruntime or tensorrt (default eager)")),
    "device": (("--device",), dict(type=_device, default="auto", help="auto, cpu or cuda[:N] (default auto)")),
    "batch": (("--batch",), dict(type=_positive_int, default=1, help="batch size (default 1)")),
    "resolution": (("--resolution",), dict(type=_positive_int, default=224,
                                           help="input height = width (default 224)")),
    "warmup": (("--warmup",), dict(type=_positive_int, default=10, help="untimed calls first (default 10)")),
    "repeats": (("--repeats",), dict(type=_positive_int, default=50, help="timed samples (default 50)")),
    "json": (("--json",), dict(action="store_true", help="print one JSON object")),
}


def _shared(*names: str, **changes: dict) -> argparse.ArgumentParser:
    """A parent parser holding the shared options ``names``; ``changes`` adjusts one's keywords
    (``warmup={"default": 5, "help": ...}``). Each command gets its own parent: argparse shares a
    parent's option objects with every child, so one parent for all could not vary a default."""
    parent = argparse.ArgumentParser(add_help=False)
    for name in names:
        flags, keywords = _OPTIONS[name]
        parent.add_argument(*flags, **{**keywords, **changes.get(name, {})})
    return parent


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``prog: error: argument --dtype: got ...``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (--help for usage)\n")


# --- output -----------------------------------------------------------------------------------------------------

def _print_json(data) -> int:
    """``data`` as strict JSON on one line of stdout: the one way every command prints ``--json``."""
    json.dump(_json_data(data), sys.stdout, allow_nan=False)
    print()
    return 0


def _json_data(value):
    """Strict JSON data, the result files' one rule (NaN -> null, canonical dtype names, numpy -> numbers);
    imported here, not at start-up, so ``--help`` stays fast."""
    from gpuefficient.book.results import json_data

    return json_data(value, "output")


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:g}"
    return str(value)


# --- models -----------------------------------------------------------------------------------------------------

def _check_size(name: str, resolution: int) -> None:
    """A command's first step: a zoo network must take ``resolution`` (from its spec alone: no torch yet)."""
    from gpuefficient.arch.models import check_input_size

    check_input_size(name, resolution)


def _model(name: str, resolution: int | None = None, pretrained: bool = False):
    """``create_model(name)``, after checking that the network takes ``resolution``."""
    from gpuefficient.arch.models import create_model

    if resolution is not None:
        _check_size(name, resolution)
    return create_model(name, pretrained=pretrained)


# --- commands ---------------------------------------------------------------------------------------------------

def _costs(args) -> int:
    _check_size(args.model, args.resolution)
    from gpuefficient.analysis.costs import analyze

    model = _model(args.model, args.resolution)
    report = analyze(model, (args.batch, 3, args.resolution, args.resolution), args.dtype, name=args.model)
    if args.json:
        return _print_json(report.to_dict())
    print(report)
    print(f"FLOPs (2 x MACs, conv/linear): {report.flops / 1e9:.3f} G   "
          f"elementwise FLOPs (counted separately): {report.elementwise_flops / 1e9:.3f} G")
    print(f"{'kind':<12}{'ops':>5}{'GFLOPs':>10}{'MB':>10}{'bytes %':>9}")
    for kind, t in sorted(report.by_kind().items(), key=lambda kv: -kv[1]["bytes"]):
        print(f"{kind:<12}{t['ops']:>5}{t['flops'] / 1e9:>10.3f}{t['bytes'] / 1e6:>10.2f}{100 * t['bytes_share']:>8.1f}%")
    if args.layers:
        print(report.to_dataframe().to_string(max_rows=None))
    return 0


def _latency(args) -> int:
    _check_size(args.model, args.resolution)
    from gpuefficient.device import resolve_device
    from gpuefficient.measure.backends import prepare
    from gpuefficient.measure.timer import random_input

    device = resolve_device(args.device)
    model = _model(args.model, args.resolution)
    x = random_input((args.batch, 3, args.resolution, args.resolution), device=device, seed=args.seed)
    prepared = prepare(model, x, args.backend, args.dtype, device=device, channels_last=args.channels_last)
    m = prepared.measure(warmup=args.warmup, repeats=args.repeats, label=args.model, flush_cache=args.cold,
                         model=args.model)
    throughput = args.batch / m.median
    if args.json:
        return _print_json({**m.row(samples=True), "throughput_per_s": throughput})
    print(m)
    print(f"throughput: {throughput:,.1f} images/s   min {m.min * 1e3:.3f} ms   max {m.max * 1e3:.3f} ms")
    task = m.task
    print(f"task: backend={task.backend}, dtype={task.dtype}, input={task.input_shape}, {task.memory_format}, "
          f"{task.cache} caches; " + ", ".join(f"{k}={v}" for k, v in task.details.items()))
    return 0


def _batch_or_max(text: str):
    """``max`` (the largest batch that fits) or a positive count."""
    return "max" if text == "max" else _positive_int(text)


def _utilization(args) -> int:
    from gpuefficient.measure.throughput import utilization_report

    if args.resolution:
        _check_size(args.model, args.resolution)
    budget = int(args.memory_gib * 2**30) if args.memory_gib else None
    report = utilization_report(args.model, batch=args.batch, device=args.device, dtype=args.dtype,
                                resolution=args.resolution or None, reference=args.reference, memory_budget=budget,
                                warmup=args.warmup, repeats=args.repeats)
    if args.json:
        return _print_json(report.to_dict())
    print(report)
    return 0


def _lut(args) -> int:
    from gpuefficient.arch.models import check_input_size, input_resolution
    from gpuefficient.measure import lut

    if args.action == "predict" and len(args.models) != 1:
        raise ValueError(f"lut predict: got {len(args.models)} models, expected exactly one")
    for name in args.models:  # every model's size is checked before the table is opened or anything timed
        check_input_size(name, args.resolution or input_resolution(name))
    granularities = lut.GRANULARITIES if args.granularity == "both" else (args.granularity,)
    out = {"table": args.table, "backend": args.backend, "dtype": args.dtype, "models": {}}
    with lut.LatencyTable(args.table, backend=args.backend, dtype=args.dtype, device=args.device,
                          warmup=args.warmup, repeats=args.repeats) as table:
        for name in args.models:
            resolution = args.resolution or input_resolution(name)
            shape = (args.batch, 3, resolution, resolution)
            model = _model(name, resolution)
            info = {"input_shape": list(shape)}
            for g in granularities:
                found = lut.units(model, shape, g)
                if args.action == "build":
                    info[f"measured_{g}"] = table.fill(found)
                    info[f"units_{g}"] = len(found)
                else:
                    prediction = table.predict_units(found)
                    info[f"predicted_{g}_ms"] = prediction.total_s * 1e3
                    info[f"units_{g}"] = prediction.to_frame().assign(latency_ms=lambda f: f.latency_s * 1e3).drop(
                        columns=["latency_s", "key_config"]).to_dict("records")
            if args.action == "predict" and args.measure:
                m = table.measure_network(model, shape)
                info["measured_ms"], info["measured_iqr_ms"] = m.median * 1e3, m.iqr * 1e3
                for g in granularities:
                    info[f"error_{g}_pct"] = 100 * (info[f"predicted_{g}_ms"] / info["measured_ms"] - 1)
            out["models"][name] = info
        out["entries"], out["context"] = len(table), table.context
    if args.json:
        return _print_json(out)
    print(f"table {args.table}: {out['entries']} entries; context {out['context']}")
    for name, info in out["models"].items():
        shape = "x".join(map(str, info["input_shape"]))
        if args.action == "build":
            print(f"{name} @ {shape}: " + ", ".join(f"{g}: {info[f'measured_{g}']} of {info[f'units_{g}']} units "
                                                     "measured now" for g in granularities))
            continue
        parts = [f"{g} sum {info[f'predicted_{g}_ms']:.3f} ms ({len(info[f'units_{g}'])} units)" for g in granularities]
        if "measured_ms" in info:
            parts.append(f"measured {info['measured_ms']:.3f} ms (IQR {info['measured_iqr_ms']:.3f})")
            parts += [f"{g} error {info[f'error_{g}_pct']:+.1f}%" for g in granularities]
        print(f"{name} @ {shape}: " + "; ".join(parts))
    return 0


def _rank(args) -> int:
    _check_size(args.model, args.resolution)
    from gpuefficient.analysis.rank import load_checkpoint, stage_spectra

    model = _model(args.model, args.resolution, pretrained=args.pretrained)
    source = "pretrained (timm)" if args.pretrained else "random initialisation"
    if args.weights:
        load_checkpoint(model, args.weights)
        source = f"checkpoint {args.weights}"
    rows = stage_spectra(model, (1, 3, args.resolution, args.resolution), every_conv=args.every_conv)
    for row in rows:
        row.pop("spectrum")
    if args.json:
        return _print_json({"model": args.model, "weights": source, "stages": rows})
    print(f"{args.model} ({source}): singular values of each stage's last spatial conv")
    print(f"{'stage':>5}  {'layer':<28}{'shape':>16}{'eff.rank':>9}{'stable':>8}{'r90':>6}{'r95':>6}{'r99':>6}{'r95/max':>9}")
    for r in rows:
        print(f"{r['stage']:>5}  {r['layer']:<28}{r['shape']:>16}{r['effective_rank']:>9.1f}{r['stable_rank']:>8.1f}"
              f"{r['rank90']:>6}{r['rank95']:>6}{r['rank99']:>6}{r['rank95_fraction']:>9.2f}")
    return 0


def _zoo(args) -> int:
    from gpuefficient.arch import zoo

    if args.action == "list":
        entries = [zoo.get(name) for name in zoo.names()]
        if args.json:
            return _print_json([{"name": e.name, "source": e.spec.source, "resolution": e.spec.resolution}
                                for e in entries])
        for entry in entries:
            print(f"{entry.name:16s} {entry.spec.source}")
        return 0
    if not args.name:
        raise ValueError("zoo show: expected a NAME, one of " + ", ".join(zoo.names()))
    from gpuefficient.arch.models import spec_costs

    entry = zoo.get(args.name)
    res = entry.spec.resolution
    report = spec_costs(entry.spec, name=args.name)
    data = {"name": entry.name, "source": entry.spec.source, "resolution": res, "params": report.params,
            "macs": report.macs, "flops": report.flops, "paper": entry.paper,
            "timm_equivalent": entry.timm_equivalent, "spec": entry.spec.to_dict()}
    if args.json:
        return _print_json(data)
    print(f"{entry.name}: {entry.spec.source}")
    print(f"ours  @{res}: {report.params / 1e6:.2f} M params, {report.macs / 1e9:.3f} GMACs")
    paper = entry.paper
    print(f"paper @{paper.get('resolution')}: {paper.get('params', float('nan')) / 1e6:.2f} M params, "
          f"{paper.get('macs', float('nan')) / 1e9:.3f} GMACs ({paper.get('table', '')})")
    print(entry.spec.to_yaml())
    return 0


def _scale(args) -> int:
    from gpuefficient.arch import scaling, zoo
    from gpuefficient.arch.models import spec_costs

    base = zoo.get(args.base).spec
    spec = scaling.compound_scale(base, args.alpha, args.beta, args.gamma, args.phi)
    depth, width, res = scaling.multipliers(args.alpha, args.beta, args.gamma, args.phi)
    report = spec_costs(spec)
    data = {"base": args.base, "alpha": args.alpha, "beta": args.beta, "gamma": args.gamma, "phi": args.phi,
            "multipliers": {"depth": depth, "width": width, "resolution": res}, "resolution": spec.resolution,
            "params": report.params, "macs": report.macs, "flops": report.flops,
            "depth": sum(s.depth for s in spec.stages), "spec": spec.to_dict()}
    if args.json:
        return _print_json(data)
    print(f"{spec.source}")
    print(f"@{spec.resolution}: {report.params / 1e6:.2f} M params, {report.macs / 1e9:.3f} GMACs, "
          f"{data['depth']} blocks (base {sum(s.depth for s in base.stages)})")
    print(f"{'stage':>5} {'block':<14}{'depth':>6}{'width':>7}{'kernel':>7}{'stride':>7}")
    for i, stage in enumerate(spec.stages):
        print(f"{i:>5} {stage.block:<14}{stage.depth:>6}{stage.out_channels:>7}{stage.kernel:>7}{stage.stride:>7}")
    return 0


def _hardware(args) -> int:
    from gpuefficient.analysis import hardware

    detected = hardware.detect_device(args.device)
    rows = hardware.catalog_table()
    measured = None
    if args.measure:
        from gpuefficient.measure import ceilings

        measured = ceilings.measure_ceilings(args.device).to_dict()
    if args.json:
        return _print_json({"catalog": rows, "detected": detected.name, "measured": measured})
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(_cell(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_cell(row[c]).ljust(widths[c]) for c in columns))
    print(f"\ndetected device: {detected.name}")
    if measured:
        print(json.dumps(_json_data(measured), indent=2, allow_nan=False))
    return 0


def _floats(text: str) -> list[float]:
    """``"1.0,2.5"`` -> [1.0, 2.5] (latency bounds in ms)."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected comma-separated numbers (ms), e.g. 1.0,2.5") from None


def _search_table(args):
    from gpuefficient.design.tiers import TableLatency
    from gpuefficient.measure.lut import LatencyTable

    table = LatencyTable(args.table, backend=args.backend, dtype=args.dtype, device=args.device)
    return TableLatency(table, batch=args.batch, fill=getattr(args, "fill", False))


def _search_tiers(args) -> int:
    from gpuefficient.design import search, tiers

    if args.bounds is None and args.quantiles is None:
        raise ValueError("search tiers: expected --bounds B1,B2,... (ms) or --quantiles K")
    if args.latency:
        latency = search.resolve_callable(args.latency)
    elif args.table:
        latency = _search_table(args)
    else:
        raise ValueError("search tiers: expected --table LUT.sqlite (a filled latency table) or --latency module:function")
    report = tiers.latency_tiers(args.n, latency, bounds=args.bounds, quantiles=args.quantiles, seed=args.seed,
                                 resolution=args.resolution)
    data = report.to_dict()
    if args.json:
        return _print_json(data)
    print(f"{data['n']} Sobol-sampled GPUNet networks (seed {data['seed']}) in {data['seconds']:.1f} s; "
          f"latency {data['fastest_ms']:.3f}..{data['slowest_ms']:.3f} ms")
    for i, t in enumerate(data["tiers"]):
        print(f"tier {i}: [{t['low_ms']:.3f}, {t['high_ms']:.3f}) ms  {t['size']} networks")
    d = data["discrepancy"]
    print(f"coverage (centred L2 discrepancy of {d['n']} samples, lower = more even): "
          f"sobol {d['sobol']:.4g}, uniform {d['uniform']:.4g}")
    print(f"latency table: {data['cache_hits']} unit entries served, {data['cache_misses']} measured")
    return 0


def _progress_line(info: dict) -> None:
    eta = int(round(info["eta_s"]))
    best = info["best"]
    print(f"search: {info['done']}/{info['budget']} evaluated, best {best['accuracy']:.4f} ({best['id']}), "
          f"last {info['record']['accuracy']:.4f}, ETA {eta // 60}m{eta % 60:02d}s", file=sys.stderr, flush=True)


def _search_run(args) -> int:
    from gpuefficient.design import proposers, search

    if (args.out is None) == (args.resume is None):
        raise ValueError("search run: expected exactly one of --out DIR (a new search) or --resume DIR")
    if args.latency:
        latency = search.resolve_callable(args.latency)
    elif args.table:
        latency = proposers.table_latency(_search_table(args))
    else:
        raise ValueError("search run: expected --table LUT.sqlite (a filled latency table) or --latency "
                         "module:function (candidate -> ms) to place candidates in the tier")
    if len(args.tier) != 2:
        raise ValueError(f"--tier: got {args.tier!r}, expected LOW,HIGH in ms")
    if args.proposer == "random":
        proposer = proposers.RandomProposer(latency, args.tier, seed=args.seed)
    elif args.proposer in ("tpe", "gp"):
        proposer = proposers.OptunaProposer(latency, args.tier, seed=args.seed, sampler=args.proposer)
    else:
        proposer = proposers.LLRProposer(latency, args.tier, base=args.base, seed=args.seed)
    evaluator = search.resolve_callable(args.evaluator) if args.evaluator else \
        search.TrainingEvaluator(table=args.table, device=args.device)
    executor = None
    if args.executor == "ray":
        from gpuefficient.design.distributed import RayExecutor

        executor = RayExecutor(evaluator, address=args.address, workers=args.workers)
    elif args.address:
        raise ValueError("--address: needs --executor ray")
    config = {"evaluator": args.evaluator or "training", "table": args.table, "latency": args.latency}
    result = search.run_search(proposer, evaluator, args.budget, args.resume or args.out, executor=executor,
                               config=config, resume=args.resume is not None,
                               progress=None if args.quiet else _progress_line)
    if executor is not None:
        executor.shutdown()
    data = result.to_dict()
    if args.json:
        return _print_json(data)
    best = data["best"]
    print(f"{data['evaluated']} candidates evaluated ({'resumed' if data['resumed'] else 'new'} search, "
          f"checkpoint {data['checkpoint']}){'; stopped: ' + data['stopped'] if data['stopped'] else ''}")
    if best:
        print(f"best: {best['id']} accuracy {best['accuracy']:.4f}"
              + (f", latency {best['latency_ms']:.3f} ms" if "latency_ms" in best else ""))
    return 0


# --- parser and entry point -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gpuefficient", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    timing = {"warmup": {"default": 5, "help": "untimed calls per unit (default 5)"},
              "repeats": {"default": 20, "help": "timed samples per unit (default 20)"}}

    costs = sub.add_parser("costs", parents=[_shared("resolution", "batch", "dtype", "json")],
                           help="per-layer FLOPs, bytes and arithmetic intensity of a model")
    costs.add_argument("model", help="a zoo or timm model name, e.g. genet_normal or resnet50")
    costs.add_argument("--layers", action="store_true", help="also print the per-layer table")
    costs.set_defaults(run=_costs)

    lat = sub.add_parser("latency", help="inference latency of a model on one backend, measured properly",
                         parents=[_shared("backend", "dtype", "batch", "resolution", "device", "warmup", "repeats",
                                          "json", json={"help": "print one JSON object, samples included"})])
    lat.add_argument("model", help="a zoo or timm model name, e.g. resnet50 or genet_normal")
    lat.add_argument("--channels-last", action="store_true", help="NHWC memory format (fast on tensor cores)")
    lat.add_argument("--cold", action="store_true", help="flush the caches before every sample")
    lat.add_argument("--seed", type=int, default=0, help="seed of the random input (default 0)")
    lat.set_defaults(run=_latency)

    util = sub.add_parser("utilization", help="GPU utilization of a model: throughput x FLOPs / achievable peak "
                          "(the utilization study), at the largest batch that fits or a given one",
                          parents=[_shared("device", "warmup", "repeats", "json", **timing)])
    util.add_argument("model", help="a zoo or timm model name, e.g. resnet50")
    util.add_argument("--batch", type=_batch_or_max, default="max", help="'max' (default) or a batch size")
    util.add_argument("--dtype", type=_dtype, default=None, help="fp16 on a GPU, fp32 on a CPU by default")
    util.add_argument("--resolution", type=_positive_int, default=None, help="input size (default: the model's)")
    util.add_argument("--reference", choices=("measured", "catalog"), default="measured",
                      help="peak and ridge point from this device's measured ceilings (default) or the catalog")
    util.add_argument("--memory-gib", type=float, default=None,
                      help="CPU only: the memory budget that bounds --batch max (a CPU has no catchable OOM)")
    util.set_defaults(run=_utilization)

    table = sub.add_parser("lut", help="GPUNet-style latency lookup table: fill it, or predict a network from it",
                           parents=[_shared("backend", "dtype", "batch", "resolution", "device", "warmup", "repeats",
                                            "json", resolution={"default": None,
                                                                "help": "input size (default: the zoo's, else 224)"},
                                            backend={"help": "the backend the units are timed on (default eager)"},
                                            **timing)])
    table.add_argument("action", choices=("build", "predict"), help="build: measure the missing units of the "
                       "models; predict: sum the units of one model (measuring misses first)")
    table.add_argument("models", nargs="+", metavar="MODEL", help="zoo or timm model names")
    table.add_argument("--table", default="latency_table.sqlite", help="the SQLite file (default latency_table.sqlite)")
    table.add_argument("--granularity", choices=("layer", "block", "both"), default="both",
                       help="layer: conv groups, SE, head; block: whole blocks (fusion-aware); default both")
    table.add_argument("--measure", action="store_true", help="predict: also measure the network end to end")
    table.set_defaults(run=_lut)

    rank = sub.add_parser("rank", help="per-stage singular-value spectra of a model's conv kernels (GENet)",
                          parents=[_shared("resolution", "json", resolution={
                              "help": "input size used to find stages (default 224)"})])
    rank.add_argument("model", help="a zoo or timm model name, e.g. resnet18")
    rank.add_argument("--weights", help="a local checkpoint (state dict) to load, weights_only")
    rank.add_argument("--pretrained", action="store_true", help="timm's pretrained weights (cache or download)")
    rank.add_argument("--every-conv", action="store_true", help="every conv of each stage, not just the last")
    rank.set_defaults(run=_rank)

    zoo = sub.add_parser("zoo", help="the papers' networks built from specs: list, or show one",
                         parents=[_shared("json", json={"help": "print JSON: list, a list of entries; show, one "
                                                                "object"})])
    zoo.add_argument("action", choices=("list", "show"))
    zoo.add_argument("name", nargs="?", help="a zoo name (for show)")
    zoo.set_defaults(run=_zoo)

    sc = sub.add_parser("scale", help="compound-scale a zoo network: depth alpha^phi, width beta^phi, "
                        "resolution gamma^phi (EfficientNet-X Eq. 5)",
                        parents=[_shared("json", json={"help": "print one JSON object, the scaled spec included"})])
    sc.add_argument("base", help="a zoo name, e.g. efficientnet_x_b0_gpu")
    sc.add_argument("--alpha", type=float, required=True, help="depth base, >= 1 (LACS on GPU: 1.29)")
    sc.add_argument("--beta", type=float, required=True, help="width base, >= 1 (LACS on GPU: 1.16)")
    sc.add_argument("--gamma", type=float, required=True, help="resolution base, >= 1 (LACS on GPU: 1.07)")
    sc.add_argument("--phi", type=float, required=True, help="compound coefficient, >= 0")
    sc.set_defaults(run=_scale)

    hw = sub.add_parser("hardware", help="the device catalog and the detected device",
                        parents=[_shared("device", "json")])
    hw.add_argument("--measure", action="store_true", help="also measure matmul and copy ceilings here")
    hw.set_defaults(run=_hardware)

    srch = sub.add_parser("search", help="latency tiers of GPUNet's space and architecture search within a tier")
    ssub = srch.add_subparsers(dest="action", required=True)
    table_opts = dict(backend={"help": "the table's backend context (default eager)"})
    st = ssub.add_parser("tiers", help="Sobol-sample N GPUNet networks, predict their latency, bin them into tiers",
                         parents=[_shared("backend", "dtype", "batch", "device", "json", **table_opts)])
    st.add_argument("--n", type=_positive_int, default=10000, help="networks to sample (default 10000)")
    st.add_argument("--table", help="a filled latency lookup table (SQLite, `lut build`)")
    st.add_argument("--latency", help="instead of --table: module:function mapping an (n, 41) encoding matrix to ms")
    st.add_argument("--fill", action="store_true", help="measure units missing from the table (slow; small N)")
    tiers_how = st.add_mutually_exclusive_group()
    tiers_how.add_argument("--bounds", type=_floats, help="tier edges in ms, e.g. 1.0,2.0,4.0")
    tiers_how.add_argument("--quantiles", type=_positive_int, help="K equal-count tiers")
    st.add_argument("--resolution", type=_positive_int, default=None, help="fix every sample's input size")
    st.add_argument("--seed", type=int, default=0, help="Sobol scrambling seed (default 0)")
    st.set_defaults(run=_search_tiers)
    sr = ssub.add_parser("run", help="search one latency tier: random, TPE/GP (Optuna) or GENet's LLR-NAS",
                         parents=[_shared("backend", "dtype", "batch", "device", "json", **table_opts)])
    sr.add_argument("--tier", type=_floats, required=True, help="LOW,HIGH latency bounds in ms")
    sr.add_argument("--proposer", choices=("random", "tpe", "gp", "llr"), default="tpe", help="default tpe")
    sr.add_argument("--budget", type=int, required=True, help="distinct candidates to evaluate")
    sr.add_argument("--out", help="directory of a new search's checkpoint (search.json)")
    sr.add_argument("--resume", help="continue the search checkpointed in this directory")
    sr.add_argument("--table", help="a filled latency lookup table: places candidates in the tier")
    sr.add_argument("--latency", help="instead of --table: module:function, candidate -> latency in ms")
    sr.add_argument("--evaluator", help="module:function, candidate -> accuracy or {'accuracy': ...} "
                    "(default: the training oracle on the procedural proxy task)")
    sr.add_argument("--executor", choices=("ray", "serial"), default="ray",
                    help="ray (default: local unless --address/RAY_ADDRESS) or serial (this process)")
    sr.add_argument("--address", help="an existing Ray cluster, e.g. ray://host:10001 (default: RAY_ADDRESS, else local)")
    sr.add_argument("--workers", type=_positive_int, default=None, help="evaluations in flight (default: Ray's CPUs)")
    sr.add_argument("--base", choices=("light", "normal", "large"), default="light", help="llr: the GENet MasterNet")
    sr.add_argument("--seed", type=int, default=0, help="proposer seed (default 0)")
    sr.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    sr.set_defaults(run=_search_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (2 for a bad argument or value, with one line on stderr)."""
    # torch.compile on a machine without CUDA logs a CUDA_HOME warning on its first compile: noise here
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as stop:  # --help (0), or a bad argument: its one line is printed already (2)
            status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        else:
            status = args.run(args)
        sys.stdout.flush()  # inside the try: a full disk or a closed pipe is reported here, not at exit
        return status
    except BrokenPipeError:  # `... | head -1`: the reader has gone; stop quietly, as a killed writer would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 128 + signal.SIGPIPE
    except OSError as err:  # the output cannot be written (e.g. a full disk): one line
        if err.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EBADF):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            print(f"error: cannot write the output ({err.strerror})", file=sys.stderr)
            return 1
        raise
    except Exception as err:  # our own errors (bad values, corrupt table, backend missing): one line, exit 2
        if not (isinstance(err, ValueError) or type(err).__module__.startswith("gpuefficient.")):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
