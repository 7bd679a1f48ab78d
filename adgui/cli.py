"""The command line: `adgui` opens the window; the sub-commands work without one.

    adgui train --detector patchcore --data DIR --out model.adgui
    adgui eval --model model.adgui --data CATEGORY_DIR [--json FILE]
    adgui inspect --model model.adgui IMAGE_OR_FOLDER ... [--log FILE] [--save-failed DIR]
    adgui bench --data DIR [--detectors padim,patchcore] [--runtimes torch,onnx] [--json FILE]
    adgui export --model model.adgui --out DIR [--data IMAGES_OR_FOLDERS ...]
    adgui self-test
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    if getattr(sys, "frozen", False):
        import multiprocessing

        multiprocessing.freeze_support()  # `bench` children start the packaged executable again
    args = _parser().parse_args(argv)
    if args.command is None:
        from adgui.gui.app import run_app

        return run_app(close_after_ms=2000 if args.smoke_test else None)
    from adgui.pipeline.errors import describe_error

    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001 - every failure ends as a readable message
        print(f"adgui {args.command}: {describe_error(error)}", file=sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    from algorithms import detector_names

    parser = argparse.ArgumentParser(prog="adgui", description="Visual anomaly inspection.")
    # Hidden: open the window, close it after two seconds, exit 0 if it was shown (build checks).
    parser.add_argument("--smoke-test", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command")

    train = commands.add_parser("train", help="train a model on a folder of good images")
    train.add_argument("--detector", required=True, choices=detector_names())
    train.add_argument("--data", required=True, type=Path,
                       help="folder of good images, or an MVTec category (uses train/good)")
    train.add_argument("--out", required=True, type=Path, help="model file to write")
    train.add_argument("--calibration", type=Path,
                       help="separate folder of good images to calibrate the threshold on")
    train.add_argument("--name", help="recipe name stored in the model (default: file name)")
    _add_model_options(train)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("eval", help="measure a model on a labelled folder")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a trained model file")
    source.add_argument("--detector", choices=detector_names(),
                        help="train this detector on DATA/train/good first, then evaluate")
    evaluate.add_argument("--data", required=True, type=Path,
                          help="MVTec category folder, or a folder with good/ and defect sub-folders")
    evaluate.add_argument("--json", type=Path, help="also write the metrics to this file")
    evaluate.add_argument("--out", type=Path,
                          help="folder for roc.png and example overlays (default: beside --json)")
    evaluate.add_argument("--save-model", type=Path, help="with --detector: keep the trained model")
    _add_model_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    inspect = commands.add_parser("inspect", help="inspect images with a trained model")
    inspect.add_argument("inputs", nargs="+", type=Path, help="image files or folders")
    inspect.add_argument("--model", required=True, type=Path,
                         help="a trained model file, or an exported recipe folder")
    inspect.add_argument("--threshold", type=float, help="override the model's threshold")
    inspect.add_argument("--log", type=Path, help="append every verdict to this CSV log")
    inspect.add_argument("--save-failed", type=Path, help="write overlays of failed images here")
    inspect.add_argument("--device", default="auto")
    inspect.set_defaults(handler=_inspect)

    bench = commands.add_parser("bench", help="fit time, latency and memory of each detector")
    bench.add_argument("--data", type=Path, help="training folder (default: the bundled samples)")
    bench.add_argument("--detectors", default="padim,patchcore",
                       help="comma-separated detector names (default: padim,patchcore)")
    bench.add_argument("--preset", action="append", default=[], metavar="DETECTOR=PRESET")
    bench.add_argument("--repeats", type=int, default=30)
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--backbone", help="timm backbone name for every detector (default: their own)")
    bench.add_argument("--weights", help="'imagenet' (offline), or a weights file for the backbone")
    bench.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting of every detector, e.g. --set image_size=320")
    bench.add_argument("--runtimes", default="torch",
                       help="comma-separated: torch (eager) and/or onnx (the exported graph on "
                            "ONNX Runtime), timed in the same run (default: torch)")
    bench.add_argument("--threads", type=int, default=0,
                       help="CPU threads for both runtimes (default: each runtime's own choice)")
    bench.add_argument("--json", type=Path)
    bench.set_defaults(handler=_bench)

    export = commands.add_parser("export", help="export a trained model to an ONNX recipe folder, "
                                                "checked against the torch model")
    export.add_argument("--model", required=True, type=Path, help="a trained model file")
    export.add_argument("--out", required=True, type=Path, help="folder to write (a new one, "
                        "or an earlier export of the recipe)")
    export.add_argument("--data", nargs="*", type=Path, default=[],
                        help="images, folders or an MVTec category for the parity check "
                             "(generated test patterns are always added)")
    export.add_argument("--max-images", type=int, default=32,
                        help="at most this many --data images, spread evenly (default 32)")
    export.set_defaults(handler=_export)

    selftest = commands.add_parser("self-test", help="train and inspect the bundled samples")
    selftest.add_argument("--device", default="auto")
    selftest.set_defaults(handler=_self_test)
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="default", help="preset of the detector (default, fast, ...)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--backbone", help="timm backbone name (default: the detector's own)")
    parser.add_argument("--weights", help="'imagenet' (offline), or a weights file for the backbone")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a detector setting, e.g. --set coreset_ratio=0.01")


def _overrides(args) -> dict:
    values = {"backbone": args.backbone, "weights": args.weights}
    for item in args.set:
        key, _, text = item.partition("=")
        if not key or not _:
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        try:
            values[key.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[key.strip()] = text
    return values


def _train(args) -> int:
    from adgui.pipeline.training import train_model

    result = train_model(args.data, args.detector, args.out, preset=args.preset, device=args.device,
                         name=args.name, calibration=args.calibration, progress=_progress_printer(),
                         **_overrides(args))
    for problem in result.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    print(json.dumps({
        "model": str(result.model_path), "detector": result.detector, "backbone": result.backbone,
        "device": result.device, "train_images": result.train_images,
        "calibration_images": result.calibration_images, "fit_seconds": round(result.fit_seconds, 2),
        "skipped": len(result.skipped)}, indent=2))
    return EXIT_OK


def _evaluate(args) -> int:
    import tempfile

    from algorithms import load_detector
    from adgui.pipeline.evaluation import evaluate
    from adgui.pipeline.training import train_model

    if args.detector:
        keep = args.save_model
        with tempfile.TemporaryDirectory() as scratch:
            model_path = keep or Path(scratch) / "model.adgui"
            train_model(args.data, args.detector, model_path, preset=args.preset, device=args.device,
                        progress=_progress_printer("training"), **_overrides(args))
            detector = load_detector(model_path, args.device)
    else:
        detector = load_detector(args.model, args.device)
    out_dir = args.out or (args.json.parent if args.json else None)
    result = evaluate(detector, args.data, out_dir, progress=_progress_printer("evaluating"))
    text = json.dumps(_json_safe(result.metrics), indent=2)
    print(text)
    if args.json:
        from algorithms.files import atomic_write

        with atomic_write(args.json, "w") as stream:
            stream.write(text + "\n")
    return EXIT_OK


def _inspect(args) -> int:
    from algorithms.datasets import read_images
    from algorithms.images import IMAGE_EXTENSIONS, list_images
    from adgui.inspection_log import InspectionLog, LogEntry
    from adgui.pipeline.inspection import Inspector
    from adgui.render import overlay, verdict_banner, write_png

    inspector = Inspector.open(args.model, args.device)
    info = inspector.info
    threshold = info.threshold if args.threshold is None else args.threshold
    paths = []
    for item in args.inputs:
        paths.extend(list_images(item) if item.is_dir() else [item])
    log = InspectionLog(args.log) if args.log else None
    failures = 0
    problems = []
    for path, image in zip(paths, read_images(paths, on_error=lambda p, e: problems.append(str(e)))):
        if image is None:
            print(f"{path}\tERROR\t{problems[-1]}")
            continue
        result = inspector.inspect(image)
        verdict = result.verdict(threshold)
        failures += verdict == "FAIL"
        print(f"{path}\t{verdict}\t{result.score:.4f}\t{result.latency_ms:.1f} ms")
        if log:
            log.append(LogEntry("files", str(path), result.score, verdict, info.name, threshold))
        if verdict == "FAIL" and args.save_failed:
            picture = verdict_banner(overlay(image, result.anomaly_map, threshold), verdict, result.score)
            write_png(args.save_failed / f"{path.stem}_fail.png", picture)
    if log:
        log.close()
    print(f"{len(paths)} images: {failures} FAIL, {len(paths) - failures - len(problems)} PASS, "
          f"{len(problems)} unreadable", file=sys.stderr)
    return EXIT_OK


def _bench(args) -> int:
    from adgui.pipeline.benchmark import run_bench
    from adgui.resources import samples_dir

    presets = dict(item.split("=", 1) for item in args.preset)
    data = args.data or samples_dir() / "good"
    detectors = [name.strip() for name in args.detectors.split(",") if name.strip()]
    runtimes = tuple(name.strip() for name in args.runtimes.split(",") if name.strip())
    results = run_bench(data, detectors, presets, args.repeats, args.device, _progress_printer(),
                        overrides=_overrides(args), runtimes=runtimes, threads=args.threads)
    columns = ("detector", "runtime", "note", "fit_seconds", "latency_ms", "backbone_ms",
               "ratio_to_backbone", "full_backbone_ms", "end_to_end_ms", "speedup_vs_torch",
               "peak_memory_mb")
    print("\t".join(columns), file=sys.stderr)
    for row in results:
        print("\t".join(str(row[column]) for column in columns), file=sys.stderr)
    text = json.dumps(_json_safe(results), indent=2)
    print(text)
    if args.json:
        from algorithms.files import atomic_write

        with atomic_write(args.json, "w") as stream:
            stream.write(text + "\n")
    return EXIT_OK


def _export(args) -> int:
    from algorithms import load_detector
    from algorithms.datasets import read_images
    from adgui.runtime.export import export_recipe, parity_paths
    from adgui.runtime.parity import ParityError

    detector = load_detector(args.model, "cpu")
    paths = parity_paths(args.data, args.max_images)
    images = read_images(paths)
    try:
        report = export_recipe(detector, args.out, images, [str(p) for p in paths],
                               source=args.model, progress=_progress_printer("export"))
    except ParityError as error:
        print(json.dumps({"written": False, "parity": error.report.as_dict()}, indent=2))
        raise
    print(json.dumps({"written": True, "out": str(report.path), "detector": report.detector,
                      "graph_mb": round(report.graph_bytes / 2**20, 1),
                      "seconds": round(report.seconds, 1), "parity": report.parity.as_dict()},
                     indent=2))
    return EXIT_OK


def _self_test(args) -> int:
    from adgui.selftest import run_self_test

    return EXIT_OK if run_self_test(args.device, report=print) else EXIT_FAILED


def _progress_printer(label: str = ""):
    """Progress on stderr: a rewritten line on a terminal, a line every 10 % otherwise."""
    interactive = sys.stderr.isatty()
    state = {"tenth": -1, "last": 0.0}

    def show(fraction: float, message: str) -> None:
        prefix = f"{label}: " if label else ""
        if interactive:
            now = time.monotonic()
            if now - state["last"] > 0.2 or fraction >= 1.0:
                state["last"] = now
                end = "\n" if fraction >= 1.0 else ""
                print(f"\r{prefix}{fraction:4.0%} {message:<50}", end=end, file=sys.stderr, flush=True)
        elif int(fraction * 10) > state["tenth"]:
            state["tenth"] = int(fraction * 10)
            print(f"{prefix}{fraction:4.0%} {message}", file=sys.stderr, flush=True)

    return show


def _json_safe(value):
    """NaN is not JSON: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


if __name__ == "__main__":
    raise SystemExit(main())
