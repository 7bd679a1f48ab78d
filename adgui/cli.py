"""The command line: `adgui` opens the window; the sub-commands work without one.

    adgui train --detector patchcore --data DIR --out model.adgui
    adgui eval --model model.adgui --data CATEGORY_DIR [--json FILE]
    adgui inspect --model model.adgui IMAGE_OR_FOLDER ... [--log FILE] [--save-failed DIR]
    adgui inspect --model model.adgui --source pylon:SERIAL --trigger software --count 200
    adgui validate --data DIR --candidate padim --candidate patchcore:coreset_ratio=0.01 [--json FILE]
    adgui bench --data DIR [--detectors padim,patchcore] [--runtimes torch,onnx] [--json FILE]
    adgui bench --fit patchcore --train-images 200,400,800 --data DIR [--json FILE]
    adgui export --model model.adgui --out DIR [--data IMAGES_OR_FOLDERS ...]
    adgui station --model model.adgui --source pylon:SERIAL --trigger plc --modbus 0.0.0.0:5020
    adgui self-test [--exported [RECIPE_DIR]]
    adgui audit verify [--db URL] [--station NAME]
    adgui users set-password NAME --role engineer < password.txt
    adgui golden add|list|check --model model.adgui [--good IMAGE ...] [--bad IMAGE ...]
    adgui recipe versions --model model.adgui
    adgui recipe roi --model model.adgui --roi roi.json --reason TEXT [--data GOOD_IMAGES]
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import sys
import time
from pathlib import Path

from .geometry_options import (add_geometry_options, first_image_shape, geometry_overrides,
                               model_input_size)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Sub-commands that run the detectors themselves: the station build (no torch) has none of them.
TORCH_COMMANDS = ("train", "eval", "export", "bench")


def main(argv: list[str] | None = None) -> int:
    if getattr(sys, "frozen", False):
        import multiprocessing

        multiprocessing.freeze_support()  # `bench` children start the packaged executable again
    from adgui.pipeline.catalog import training_available

    can_train = training_available()
    command = _command_of(sys.argv[1:] if argv is None else argv)
    if command in TORCH_COMMANDS and not can_train:
        print(f"adgui {command}: {_full_build_only(command)}", file=sys.stderr)
        return EXIT_FAILED
    args = _parser(can_train).parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed, for reports
    if args.command is None:
        from adgui.gui.app import run_app

        return run_app(close_after_ms=2000 if args.smoke_test else None)
    from adgui.diagnostics import start_diagnostic_log
    from adgui.pipeline.errors import report_error

    start_diagnostic_log()

    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001 - every failure ends as a readable message
        print(f"adgui {args.command}: {report_error(error)}", file=sys.stderr)
        return EXIT_FAILED


def _command_of(argv: list[str]) -> str | None:
    return next((word for word in argv if not word.startswith("-")), None)


def _full_build_only(command: str) -> str:
    from adgui.pipeline.catalog import TRAINING_NEEDS_FULL_BUILD

    if command == "train":
        return TRAINING_NEEDS_FULL_BUILD
    return (f"`adgui {command}` needs the full build: this station build has no torch and "
            f"inspects exported recipes only.")


def _parser(can_train: bool = True) -> argparse.ArgumentParser:
    from adgui.pipeline.catalog import detector_names
    from adgui.recipes.commands import add_recipe_commands
    from adgui.sources import TRIGGERS

    detectors = detector_names() if can_train else None  # the choices load the detectors (torch)

    parser = argparse.ArgumentParser(prog="adgui", description="Visual anomaly inspection.")
    # Hidden: open the window, close it after two seconds, exit 0 if it was shown (build checks).
    parser.add_argument("--smoke-test", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command")

    train = commands.add_parser("train", help="train a model on a folder of good images")
    train.add_argument("--detector", required=True, choices=detectors)
    train.add_argument("--data", required=True, type=Path,
                       help="folder of good images, or an MVTec category (uses train/good)")
    train.add_argument("--out", required=True, type=Path, help="model file to write")
    train.add_argument("--calibration", type=Path,
                       help="separate folder of good images to calibrate the threshold on")
    train.add_argument("--name", help="recipe name stored in the model (default: file name)")
    train.add_argument("--bit-depth", type=int, choices=range(9, 17), metavar="BITS",
                       help="significant bits in 16-bit image files (e.g. 12 for a 12-bit "
                            "camera's PNGs; default 16); the recipe applies it when inspecting")
    _add_model_options(train)
    add_geometry_options(train)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("eval", help="measure a model on a labelled folder")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a trained model file")
    source.add_argument("--detector", choices=detectors,
                        help="train this detector on DATA/train/good first, then evaluate")
    evaluate.add_argument("--data", required=True, type=Path,
                          help="MVTec category folder, or a folder with good/ and defect sub-folders")
    evaluate.add_argument("--json", type=Path, help="also write the metrics to this file")
    evaluate.add_argument("--out", type=Path,
                          help="folder for roc.png and example overlays (default: beside --json)")
    evaluate.add_argument("--save-model", type=Path, help="with --detector: keep the trained model")
    evaluate.add_argument("--bit-depth", type=int, choices=range(9, 17), metavar="BITS",
                          help="significant bits in 16-bit image files (default: the recipe's)")
    _add_model_options(evaluate)
    add_geometry_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    validate = commands.add_parser(
        "validate", help="choose settings on synthetic defects in held-out good images",
        description="Splits DATA's good images into train / calibration / held-out validation "
                    "(no test split is read), trains each candidate, pastes synthetic defects "
                    "into the held-out images and reports AUROCs, detection per defect, fit "
                    "time and latency per candidate.")
    validate.add_argument("--data", required=True, type=Path,
                          help="folder of good images, or an MVTec category (uses train/good)")
    validate.add_argument("--candidate", action="append", required=True,
                          metavar="DETECTOR[/PRESET][:KEY=VALUE,...]",
                          help="a setting to try, e.g. patchcore:coreset_ratio=0.01 (repeat)")
    validate.add_argument("--synthetic-defects", default="default", metavar="KIND:SIZE,...",
                          help="defects to paste (default: spots 3/6/12, scratches 8/16/32, "
                               "blobs 8/16/32 px)")
    validate.add_argument("--device", default="auto", help="auto, cpu or cuda")
    validate.add_argument("--json", type=Path, help="also write the report to this file")
    validate.add_argument("--table", type=Path, help="also write a Markdown table to this file")
    validate.set_defaults(handler=_validate)

    inspect = commands.add_parser(
        "inspect", help="inspect images or a source with a trained model, one line per part",
        description="Prints PART_ID, VERDICT (PASS, FAIL, NOT_JUDGED, ERROR), SCORE, "
                    "trigger-to-verdict ms and a reason, tab-separated, one line per part.")
    inspect.add_argument("inputs", nargs="*", type=Path, help="image files or folders")
    inspect.add_argument("--model", required=True, type=Path,
                         help="a trained model file, or an exported recipe folder")
    inspect.add_argument("--source", metavar="KIND:VALUE",
                         help="instead of files: folder:DIR, video:FILE, opencv:INDEX, "
                              "pylon:SERIAL, genicam:SERIAL (with --cti FILE)")
    inspect.add_argument("--trigger", choices=TRIGGERS,
                         help="how parts start (default: the source's own)")
    inspect.add_argument("--count", type=int, help="stop after this many parts")
    inspect.add_argument("--queue", type=int, default=4,
                         help="parts that may wait for the model (default 4); a part that finds "
                              "it full is NOT_JUDGED")
    inspect.add_argument("--threshold", type=float,
                         help="override the model's threshold (an engineer's change: recorded in "
                              "the audit trail under your login, with --reason)")
    inspect.add_argument("--reason", default="given on the command line",
                         help="why --threshold differs from the recipe's (kept in the audit trail)")
    inspect.add_argument("--log", type=Path, help="append every part to this CSV log")
    inspect.add_argument("--save-failed", type=Path, help="write failed images and overlays here")
    inspect.add_argument("--device", default="auto", help="compute device: auto, cpu or cuda")
    inspect.add_argument("--db", metavar="URL",
                         help="inspection database (SQLAlchemy URL, e.g. postgresql+psycopg://"
                              "user:pass@host/adgui); default: a SQLite file in the user data folder")
    inspect.add_argument("--no-db", action="store_true", help="record to no database")
    inspect.add_argument("--station", help="station name in the records (default: this computer's)")
    _add_source_options(inspect)
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
    bench.add_argument("--fit", metavar="DETECTOR",
                       help="instead: time DETECTOR's fit on each count of --train-images "
                            "(seconds and seconds per image)")
    bench.add_argument("--train-images", default="200,400,800", metavar="N,N,...",
                       help="with --fit: numbers of good images (beyond the folder's, lightly "
                            "augmented copies; default 200,400,800)")
    bench.add_argument("--parts", action="store_true",
                       help="the station in part mode instead: trigger-to-verdict latency and the "
                            "highest part rate held with no NOT_JUDGED part (needs --model)")
    bench.add_argument("--model", type=Path, help="with --parts: the trained model to run")
    bench.add_argument("--hold", type=float, default=60.0,
                       help="with --parts: seconds a rate must hold (default 60)")
    bench.add_argument("--queue", type=int, default=4, help="with --parts: part queue size (default 4)")
    bench.add_argument("--line", metavar="LINKS",
                       help="instead: trigger-to-result latency over the line's links on the "
                            "loopback, e.g. --line modbus,opcua (PaDiM at 256 px trained on "
                            "--data unless --model is given)")
    bench.add_argument("--parts-count", type=int, default=200,
                       help="with --line: parts per link (default 200)")
    bench.set_defaults(handler=_bench)

    soak = commands.add_parser("soak", help="many parts through the whole station offscreen: "
                                            "memory and the window's cost per part over time")
    soak.add_argument("--parts", type=int, default=100_000)
    soak.add_argument("--db", metavar="URL", help="database to write to (default: a SQLite file "
                                                  "in a temporary folder)")
    soak.add_argument("--json", type=Path)
    soak.set_defaults(handler=_soak)

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

    _add_access_commands(commands)
    from adgui.golden_commands import add_golden_command

    add_golden_command(commands)
    add_recipe_commands(commands)
    _add_station_parser(commands, TRIGGERS)

    selftest = commands.add_parser(
        "self-test", help="train and inspect the bundled samples (the station build: inspect "
                          "them with its bundled exported recipe)")
    selftest.add_argument("--device", default="auto")
    selftest.add_argument("--exported", nargs="?", const="bundled", metavar="RECIPE_DIR",
                          help="inspect with an exported recipe instead of training (the "
                               "default where there is no torch): the bundled one, or this folder")
    selftest.set_defaults(handler=_self_test)
    return parser


def _add_access_commands(commands) -> None:
    """`adgui audit verify` and `adgui users ...` (handlers in adgui.access.commands)."""
    from adgui.access import commands as access
    from adgui.access.roles import ROLES

    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--db", metavar="URL", help="inspection database (SQLAlchemy URL); "
                                                      "default: the SQLite file in the user data folder")
    database.add_argument("--station", help="station name (default: this computer's)")

    audit = commands.add_parser("audit", help="check the audit trail of changes")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", parents=[database], help="exit 0 when the chain of changes is whole, else "
                                           "name the first broken event and exit 1")
    verify.add_argument("--key", type=Path, help="the audit key file (default: this computer's)")
    verify.add_argument("--head", type=Path, help="the head file (default: this computer's for "
                                                  "the database and station)")
    verify.set_defaults(handler=access.audit_verify)

    users = commands.add_parser("users", help="the station's users and their roles")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    password = user_commands.add_parser(
        "set-password", parents=[database], help="add a user or set their password, read from "
                                                 "standard input (a prompt only on a terminal)")
    password.add_argument("name")
    password.add_argument("--role", choices=ROLES, help="needed for a new user")
    password.set_defaults(handler=access.users_set_password)
    listing = user_commands.add_parser("list", help="names and roles")
    listing.set_defaults(handler=access.users_list)
    remove = user_commands.add_parser("remove", parents=[database], help="remove a user")
    remove.add_argument("name")
    remove.set_defaults(handler=access.users_remove)


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    """One flag per option any source kind declares (besides its address), e.g. --exposure-us."""
    from adgui.sources import source_kinds

    group = parser.add_argument_group("source settings (each applies to the kinds that have it)")
    seen = set()
    for kind in source_kinds():
        for option in kind.options:
            if option.name == kind.address or option.name in seen:
                continue
            seen.add(option.name)
            group.add_argument(f"--{option.name.replace('_', '-')}", dest=f"source_{option.name}",
                               metavar=option.kind.upper(), help=option.help or option.label)


def _source_settings(args, kind) -> dict:
    """The source flags given on the command line; one the kind does not have is an error."""
    given = {name[len("source_"):]: value for name, value in vars(args).items()
             if name.startswith("source_") and value is not None}
    known = {option.name for option in kind.options}
    unknown = sorted(set(given) - known)
    if unknown:
        flags = ", ".join("--" + name.replace("_", "-") for name in unknown)
        raise ValueError(f"a {kind.label.lower()} has no setting {flags}")
    return given


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", help="preset of the detector (default, fast, cpu, ...); by default "
                                         "the one the window picks for the device")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--backbone", help="timm backbone name (default: the detector's own)")
    parser.add_argument("--weights", help="'imagenet' (offline), or a weights file for the backbone")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a detector setting, e.g. --set coreset_ratio=0.01")
    parser.add_argument("--train-images", type=int, metavar="N",
                        help="fit on N good images: a subset, or all of them plus lightly "
                             "augmented copies (calibration images are set aside first)")
    parser.add_argument("--subset", type=int, metavar="N",
                        help="use only N of the good images, chosen at random, as if the folder "
                             "held only those (calibration images are then set aside from them)")
    parser.add_argument("--subset-seed", type=int, default=0, metavar="S",
                        help="seed of the --subset choice (default 0)")
    parser.add_argument("--synthetic-defects", nargs="?", const="default", metavar="KIND:SIZE,...",
                        help="keep 10 %% of the good images out of training and calibration, "
                             "paste defects into them (spot, scratch, blob; sizes in pixels of "
                             "the model's input) and report how many the model catches")


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


def _training_overrides(args, preset: str) -> dict:
    """--set and --backbone's settings, then the input geometry's (--smallest-defect ...)."""
    overrides = _overrides(args)
    geometry, sentence = geometry_overrides(
        args, lambda: model_input_size(args.detector, preset, overrides),
        lambda: first_image_shape(args.data))
    if sentence:
        print(f"geometry: {sentence}", file=sys.stderr)
    return {**overrides, **geometry}


def _specs(args):
    """The synthetic defects asked for with --synthetic-defects, or None."""
    if not args.synthetic_defects:
        return None
    from algorithms.synthetic import DEFAULT_SPECS, parse_specs

    return DEFAULT_SPECS if args.synthetic_defects == "default" else parse_specs(args.synthetic_defects)


def _preset(args) -> str:
    """The preset asked for, else the window's pick: DDAD's 'cpu' preset where it trains on a CPU."""
    if args.preset:
        return args.preset
    from algorithms import preset_names
    from algorithms.device import resolve_device
    from adgui.pipeline.catalog import default_preset

    preset = default_preset(args.detector)
    if "cpu" in preset_names(args.detector) and resolve_device(args.device).type == "cpu":
        preset = "cpu"
    if preset != "default":
        print(f"{args.detector}: using the '{preset}' preset for training on the "
              f"{resolve_device(args.device).type.upper()} (--preset default to override)",
              file=sys.stderr)
    return preset


def _train(args) -> int:
    from adgui.pipeline.training import train_model

    preset = _preset(args)
    result = train_model(args.data, args.detector, args.out, preset=preset, device=args.device,
                         name=args.name, calibration=args.calibration, progress=_progress_printer(),
                         train_images=args.train_images, synthetic_defects=_specs(args),
                         subset=args.subset, subset_seed=args.subset_seed,
                         bit_depth=args.bit_depth, **_training_overrides(args, preset))
    for problem in result.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    print(json.dumps({
        "model": str(result.model_path), "detector": result.detector, "backbone": result.backbone,
        "device": result.device, "train_images": result.train_images,
        "calibration_images": result.calibration_images, "fit_seconds": round(result.fit_seconds, 2),
        "skipped": len(result.skipped), "synthetic_defects": result.synthetic_defects}, indent=2))
    _print_caught(result.synthetic_defects)
    return EXIT_OK


def _print_caught(synthetic: dict | None) -> None:
    """The synthetic-defect summary as a sentence, beside the JSON."""
    if synthetic and synthetic.get("summary"):
        print(f"synthetic defects in held-out good images: {synthetic['summary']}", file=sys.stderr)


def _evaluate(args) -> int:
    import tempfile

    from algorithms import load_detector
    from adgui.pipeline.evaluation import evaluate
    from adgui.pipeline.training import train_model

    if not args.detector and (args.smallest_defect or args.working_side is not None or args.fit):
        raise ValueError("--smallest-defect, --working-side and --fit choose a training's geometry: "
                         "use them with --detector (a saved model keeps its own)")
    if args.detector:
        keep = args.save_model
        preset = _preset(args)
        with tempfile.TemporaryDirectory() as scratch:
            model_path = keep or Path(scratch) / "model.adgui"
            train_model(args.data, args.detector, model_path, preset=preset, device=args.device,
                        progress=_progress_printer("training"), train_images=args.train_images,
                        synthetic_defects=_specs(args), subset=args.subset,
                        subset_seed=args.subset_seed, bit_depth=args.bit_depth,
                        **_training_overrides(args, preset))
            detector = load_detector(model_path, args.device)
        version = None
    else:
        from adgui.recipes.versions import version_in_force

        detector = load_detector(args.model, args.device)
        version = version_in_force(args.model, float(detector.threshold))  # threshold and ROI
    out_dir = args.out or (args.json.parent if args.json else None)
    result = evaluate(detector, args.data, out_dir, progress=_progress_printer("evaluating"),
                      version=version, bit_depth=args.bit_depth)
    _print_json(result.metrics, args.json)
    _print_caught(result.metrics.get("synthetic_defects"))
    return EXIT_OK


def _validate(args) -> int:
    from adgui.pipeline.validation import markdown_table, parse_candidate, validate

    command = "adgui " + " ".join(_quoted(arg) for arg in args.argv)

    def keep(report: dict) -> None:
        """The files as they stand after each candidate (the last one's are the final ones):
        a run cut short keeps what finished."""
        report["command"] = command
        if args.table:
            _write_text(args.table, markdown_table(report))
        if args.json:
            _write_text(args.json, _json_text(report))

    candidates = [parse_candidate(text) for text in args.candidate]
    report = validate(args.data, candidates, _specs(args), args.device,
                      progress=_progress_printer("validate"), on_candidate=keep)
    print(markdown_table(report), file=sys.stderr)
    print(_json_text(report))
    return EXIT_FAILED if report["failed"] else EXIT_OK


def _quoted(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _inspect(args) -> int:
    from adgui.pipeline.inspection import Inspector
    from adgui.pipeline.live import LivePipeline
    from adgui.records.part import ERROR, VERDICTS
    from adgui.sources import FolderSource, SourceSpec, parse_source, source_class
    from adgui.sources.recipe_settings import load_recipe_source

    if args.inputs and args.source:
        raise ValueError("give either image files / folders or one --source KIND:VALUE")
    if args.count is not None and args.count < 1:
        raise ValueError("--count must be at least 1")
    if args.trigger == "plc":
        raise ValueError("parts on a PLC's trigger need the PLC link of `adgui station`; "
                         "`adgui inspect` triggers them itself (--trigger software)")
    if args.source:
        kind = source_class(args.source.partition(":")[0].strip())
        spec = parse_source(args.source, args.trigger or "", **_source_settings(args, kind))
        source = None
    elif not args.inputs:  # the recipe's own camera, if it carries one
        spec = load_recipe_source(args.model)
        if spec is None:
            raise ValueError("give image files / folders or one --source KIND:VALUE (this "
                             "recipe carries no source settings of its own)")
        spec = SourceSpec(spec.kind, {**spec.settings, **_source_settings(args, spec.source_class)},
                          args.trigger or spec.trigger)
        source = None
    else:
        _source_settings(args, FolderSource)  # refuse camera flags for files
        source = FolderSource.of_files(args.inputs)
        spec = SourceSpec("folder", {}, "")
    database = None
    if not args.no_db:
        from adgui.pipeline.database_link import DatabaseLink, default_station

        database = DatabaseLink(args.db, args.station or default_station(),
                                on_error=lambda error: print(f"database: {error}", file=sys.stderr))
        if database.recovery:
            print(database.recovery, file=sys.stderr)
    inspector = Inspector.open(args.model, args.device)
    info = inspector.info
    printer = _PartPrinter()
    pipeline = LivePipeline(printer, queue_size=args.queue, station=args.station or "")
    pipeline.set_inspector(inspector, recipe=info.name, recipe_version=f"v{info.version}")
    if database is not None:
        _record_options(database, info, args.threshold, args.reason)
        pipeline.station = database.database.station
        database.attach(pipeline).recipe_loaded(info.name)
    pipeline.threshold = info.threshold if args.threshold is None else args.threshold
    pipeline.recorder.log_path = args.log
    pipeline.recorder.failed_dir = args.save_failed
    pipeline.start(spec, source, limit=args.count)
    try:
        while not pipeline.wait_finished(0.2):
            pass
    except KeyboardInterrupt:
        pipeline.stop()  # parts still waiting are recorded as NOT_JUDGED
    finally:
        pipeline.shutdown()
        if database is not None:
            database.close()
    counts = {verdict: printer.verdicts.count(verdict) for verdict in VERDICTS}
    summary = ", ".join(f"{number} {verdict}" for verdict, number in counts.items())
    print(f"{len(printer.verdicts)} parts: {summary}", file=sys.stderr)
    for problem in printer.problems:
        print(problem, file=sys.stderr)
    read = len(printer.verdicts) - counts[ERROR]
    return EXIT_OK if read > 0 and not printer.failed_source else EXIT_FAILED


def _record_options(database, info, threshold: float | None, reason: str,
                    outputs: str | None = None) -> None:
    """The recipe and the outputs (when not the station's last) and a --threshold are an
    engineer's changes made on the command line: recorded before they apply, or refused."""
    from adgui.access.guard import command_line_guard
    from adgui.records.audit import OUTPUT_CHANGED, AuditTrail
    from adgui.records.event import RECIPE_LOADED

    def last(kind: str) -> str | None:
        events = database.database.events(kind, limit=1, newest_first=True)
        return events[0].new_value if events else None

    try:
        guard = command_line_guard(AuditTrail.open(database.database))
        previous = last(RECIPE_LOADED)
        if previous != info.name:
            guard.change("recipe", previous, info.name, reason, detail={"recipe": info.name})
        if threshold is not None:
            guard.change("threshold", info.threshold, threshold, reason,
                         detail={"recipe": info.name})
        if outputs is not None and last(OUTPUT_CHANGED) != outputs:
            guard.change("output", last(OUTPUT_CHANGED), outputs, reason)
    except BaseException:
        database.close()
        raise


class _PartPrinter:
    """Prints one line per part as it is recorded (the pipeline records in trigger order)."""

    def __init__(self):
        self.verdicts: list[str] = []
        self.problems: list[str] = []
        self.failed_source = False

    def part_judged(self, part) -> None:
        record = part.record
        self.verdicts.append(record.verdict)
        score = "" if record.score is None else f"{record.score:.4f}"
        latency = record.trigger_to_verdict_ms
        latency_text = "" if latency is None else f"{latency:.1f} ms"
        print(f"{record.part_id}\t{record.verdict}\t{score}\t{latency_text}\t{record.reason}",
              flush=True)

    def source_event(self, run_id: int, kind: str, text: str, level: str) -> None:
        if kind == "source_failed":
            self.failed_source = True
        if text and level in ("warning", "error"):
            self.problems.append(text)
            print(text, file=sys.stderr, flush=True)


def _add_station_parser(commands, triggers) -> None:
    from adgui.outputs.flags import add_output_flags

    station = commands.add_parser(
        "station", help="run the station headless: a source, part mode, records and outputs",
        description="Runs the window's pipeline without a window until stopped (Ctrl+C) or "
                    "--count parts; prints one line per part like `adgui inspect`.")
    station.add_argument("--model", required=True, type=Path, help="the recipe to start with")
    station.add_argument("--source", required=True, metavar="KIND:VALUE",
                         help="folder:DIR, video:FILE, opencv:INDEX, pylon:SERIAL, genicam:SERIAL")
    station.add_argument("--trigger", choices=triggers, help="how parts start (plc: the PLC "
                         "triggers through --modbus or --opcua)")
    station.add_argument("--name", help="station name in the records and topics "
                                        "(default: this computer's)")
    station.add_argument("--db", metavar="URL", help="inspection database (default: SQLite in "
                                                     "the user data folder)")
    station.add_argument("--count", type=int, help="stop after this many parts")
    station.add_argument("--recipe", action="append", default=[], metavar="N=MODEL",
                         help="recipe table for the PLC's recipe number (repeat), or a JSON file")
    station.add_argument("--queue", type=int, default=4, help="parts that may wait for the model")
    station.add_argument("--threshold", type=float, help="override the model's threshold "
                         "(an engineer's change, recorded under your login with --reason)")
    station.add_argument("--reason", default="given on the command line",
                         help="why the recipe, threshold or outputs change (kept in the "
                              "audit trail)")
    station.add_argument("--no-golden", action="store_true",
                         help="do not judge the recipes' golden samples before inspecting")
    station.add_argument("--device", default="auto", help="compute device: auto, cpu or cuda")
    station.add_argument("--drain-s", type=float, default=10.0,
                         help="at the end, seconds the line has to take its last results")
    _add_source_options(station)
    add_output_flags(station)
    station.set_defaults(handler=_station)


def _station(args) -> int:
    import signal
    import threading

    from adgui.outputs.flags import outputs_from_flags
    from adgui.pipeline.database_link import DatabaseLink, default_station
    from adgui.pipeline.inspection import Inspector
    from adgui.pipeline.live import LivePipeline
    from adgui.sources import parse_source, source_class
    from adgui.access.guard import STARTUP_USER
    from adgui.station import REMOTE_ON, RecipeTable, Station, run_headless

    if args.count is not None and args.count < 1:
        raise ValueError("--count must be at least 1")
    kind = source_class(args.source.partition(":")[0].strip())
    spec = parse_source(args.source, args.trigger or "", **_source_settings(args, kind))
    name = args.name or default_station()
    outputs = outputs_from_flags(args, name)
    if spec.trigger_mode == "plc" and not any(output.plc for output in outputs):
        raise ValueError("--trigger plc needs a link the PLC triggers through: --modbus or --opcua")
    recipes = RecipeTable.parse(args.recipe)
    database = DatabaseLink(args.db, name,
                            on_error=lambda error: print(f"database: {error}", file=sys.stderr))
    if database.recovery:
        print(database.recovery, file=sys.stderr)
    printer = _PartPrinter()
    try:
        inspector = Inspector.open(args.model, args.device)
        pipeline = LivePipeline(printer, queue_size=args.queue, station=database.database.station)
        pipeline.set_inspector(inspector, recipe=inspector.info.name,
                               recipe_version=f"v{inspector.info.version}")
        _record_options(database, inspector.info, args.threshold, args.reason,
                        ", ".join(output.name for output in outputs) or "none")
        database.attach(pipeline).recipe_loaded(inspector.info.name)
        pipeline.threshold = inspector.info.threshold if args.threshold is None else args.threshold
    except BaseException:
        database.close()
        raise
    station = Station(pipeline, spec, outputs, recipes, database=database, limit=args.count,
                      load_inspector=lambda path: Inspector.open(path, args.device),
                      model_path=args.model, golden=not args.no_golden)
    if station.remote_control:  # the command line hands it to the PLC: in the audit trail too
        database.writer.add_event(REMOTE_ON, user=STARTUP_USER,
                                  reason="started with --trigger plc: the line's PLC runs it")
    station.link_listeners.append(
        lambda status: print(f"{status.output}: {'up' if status.up else 'down'}"
                             f"{' - ' + status.text if status.text else ''}", file=sys.stderr))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_headless(station, args.drain_s, stop)
    except KeyboardInterrupt:
        stop.set()
        station.close()
    verdicts = printer.verdicts
    print(f"{len(verdicts)} parts: " + ", ".join(
        f"{verdicts.count(verdict)} {verdict}" for verdict in ("PASS", "FAIL", "NOT_JUDGED", "ERROR")),
        file=sys.stderr)
    for output in outputs:
        if output.pending:
            print(f"{output.name}: {output.pending} results were not taken by the line",
                  file=sys.stderr)
    return EXIT_FAILED if printer.failed_source else EXIT_OK


def _bench(args) -> int:
    from adgui.pipeline.benchmark import run_bench
    from adgui.resources import samples_dir

    if args.parts:
        return _bench_parts(args)
    if args.fit:
        return _bench_fit(args)
    if args.line:
        return _bench_line(args)
    presets = dict(item.split("=", 1) for item in args.preset)
    data = args.data or samples_dir() / "good"
    detectors = [name.strip() for name in args.detectors.split(",") if name.strip()]
    runtimes = tuple(name.strip() for name in args.runtimes.split(",") if name.strip())
    results = run_bench(data, detectors, presets, args.repeats, args.device, _progress_printer(),
                        overrides=_overrides(args), runtimes=runtimes, threads=args.threads)
    columns = ("detector", "runtime", "note", "fit_seconds", "latency_ms", "backbone_ms",
               "ratio_to_backbone", "full_backbone_ms", "end_to_end_ms", "end_to_end_to_backbone",
               "speedup_vs_torch", "peak_memory_mb")
    print("\t".join(columns), file=sys.stderr)
    for row in results:
        print("\t".join(str(row[column]) for column in columns), file=sys.stderr)
    _print_json(results, args.json)
    return EXIT_OK


def _bench_fit(args) -> int:
    from adgui.pipeline.fit_bench import run_fit_bench
    from adgui.resources import samples_dir

    try:
        counts = [int(text) for text in args.train_images.split(",") if text.strip()]
    except ValueError:
        raise ValueError(f"--train-images takes numbers like 200,400,800, not {args.train_images!r}")
    presets = dict(item.split("=", 1) for item in args.preset)
    rows = run_fit_bench(args.data or samples_dir() / "good", args.fit, counts,
                         presets.get(args.fit, "default"), args.device, _progress_printer(),
                         _overrides(args))
    columns = ("train_images", "fit_seconds", "seconds_per_image", "cpu_seconds", "load_before")
    print("\t".join(columns), file=sys.stderr)
    for row in rows:
        print("\t".join(str(row[column]) for column in columns), file=sys.stderr)
    _print_json(rows, args.json)
    return EXIT_OK


def _bench_parts(args) -> int:
    from adgui.pipeline.part_bench import run_part_bench
    from adgui.resources import samples_dir

    if args.model is None:
        raise ValueError("--parts needs --model (a trained model file)")
    result = run_part_bench(args.model, args.data or samples_dir() / "good", args.hold, args.queue,
                            args.device, _progress_printer())
    _print_json(result, args.json)
    return EXIT_OK


def _soak(args) -> int:
    from adgui.soak import run_soak

    result = run_soak(args.parts, args.db, _progress_printer("soak"))
    _print_json(result, args.json)
    return EXIT_OK


def _print_json(value, path: Path | None) -> None:
    text = _json_text(value)
    print(text)
    if path:
        _write_text(path, text)


def _json_text(value) -> str:
    return json.dumps(_json_safe(value), indent=2)


def _write_text(path: Path, text: str) -> None:
    """`text` and a final newline, written atomically."""
    from algorithms.files import atomic_write

    with atomic_write(path, "w") as stream:
        stream.write(text + "\n")


def _export(args) -> int:
    from algorithms import load_detector
    from algorithms.datasets import read_images
    from adgui.runtime.export import export_recipe, parity_paths
    from adgui.runtime.parity import ParityError

    from adgui.recipes.versions import version_in_force

    detector = load_detector(args.model, "cpu")
    version = version_in_force(args.model, float(detector.threshold))  # what the copy applies
    paths = parity_paths(args.data, args.max_images)
    images = read_images(paths, bit_depth=detector.meta.get("bit_depth"))
    try:
        report = export_recipe(detector, args.out, images, [str(p) for p in paths],
                               source=args.model, progress=_progress_printer("export"),
                               version=version)
    except ParityError as error:
        print(json.dumps({"written": False, "parity": error.report.as_dict()}, indent=2))
        raise
    print(json.dumps({"written": True, "out": str(report.path), "detector": report.detector,
                      "graph_mb": round(report.graph_bytes / 2**20, 1),
                      "seconds": round(report.seconds, 1), "parity": report.parity.as_dict()},
                     indent=2))
    return EXIT_OK


def _bench_line(args) -> int:
    from adgui.pipeline.line_bench import run_line_bench
    from adgui.resources import samples_dir

    lines = [name.strip() for name in args.line.split(",") if name.strip()]
    result = run_line_bench(lines, args.model, args.data or samples_dir() / "good",
                            args.parts_count, args.device, _progress_printer())
    _print_json(result, args.json)
    return EXIT_OK


def _self_test(args) -> int:
    from adgui.pipeline.catalog import training_available
    from adgui.selftest import run_exported_self_test, run_self_test

    if args.exported or not training_available():
        recipe = None if args.exported in (None, "bundled") else args.exported
        passed = run_exported_self_test(recipe, args.device, report=_print_flushed)
    else:
        passed = run_self_test(args.device, report=print)
    return EXIT_OK if passed else EXIT_FAILED


def _print_flushed(text: str) -> None:
    print(text, flush=True)  # a line per inspected part as it happens (start-up timing reads it)


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
