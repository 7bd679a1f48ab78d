"""`adgui golden add|list|check --model M`: a recipe's golden samples on the command line.

    adgui golden add --model bottle.adgui --good ok1.png ok2.png --bad crack.png [--copy]
    adgui golden list --model bottle.adgui
    adgui golden check --model bottle.adgui [--threshold T]   exit 0 when all are judged right

Registering samples changes the recipe: an engineer's change, recorded in the audit trail
under the login that ran it (like the other command-line options, see access.guard). A check
is recorded as a `golden_check` event in the inspection database (unless --no-db).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1


def add_golden_command(commands) -> None:
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--model", required=True, type=Path, help="the recipe (model file)")
    database.add_argument("--db", metavar="URL", help="inspection database (default: SQLite in "
                                                      "the user data folder)")
    database.add_argument("--station", help="station name (default: this computer's)")
    database.add_argument("--no-db", action="store_true", help="record nothing")

    golden = commands.add_parser("golden", help="a recipe's known good and bad parts, judged "
                                                "before inspection starts")
    actions = golden.add_subparsers(dest="golden_command", required=True)
    add = actions.add_parser("add", parents=[database], help="register good and bad images")
    add.add_argument("--good", nargs="+", default=[], type=Path, help="known good part images")
    add.add_argument("--bad", nargs="+", default=[], type=Path, help="known bad part images")
    add.add_argument("--copy", action="store_true", help="keep copies beside the recipe")
    add.add_argument("--reason", default="golden samples registered on the command line",
                     help="kept in the audit trail")
    add.set_defaults(handler=golden_add)
    listing = actions.add_parser("list", parents=[database], help="the registered samples")
    listing.set_defaults(handler=golden_list)
    check = actions.add_parser("check", parents=[database], help="judge them; exit 0 when every "
                                                                "one is judged as expected")
    check.add_argument("--threshold", type=float, help="default: the recipe's")
    check.add_argument("--device", default="auto", help="compute device: auto, cpu or cuda")
    check.set_defaults(handler=golden_check)


def golden_add(args) -> int:
    from .golden import BAD, GOOD, GoldenSet

    if not args.good and not args.bad:
        raise ValueError("give --good and/or --bad image files")
    if not args.model.is_file():
        raise ValueError(f"There is no recipe at {args.model}")
    golden = GoldenSet.load(args.model)
    before = golden.describe()
    added = golden.add(args.good, GOOD, args.copy) + golden.add(args.bad, BAD, args.copy)
    if not args.no_db:  # recorded before it is saved: an unrecorded change is not made
        _record(args, f"golden samples {before}", f"golden samples {golden.describe()}",
                [sample.path for sample in added])
    path = golden.save()
    print(f"{len(added)} sample(s) added; {golden.describe()} in {path}")
    return EXIT_OK


def golden_list(args) -> int:
    from .golden import GoldenSet

    golden = GoldenSet.load(args.model)
    if not golden.samples:
        print(f"No golden samples for {args.model.name}; add some with: adgui golden add "
              f"--model {args.model} --good ... --bad ...")
    for sample in golden.samples:
        exists = "" if golden.image_path(sample).is_file() else "\t(missing)"
        print(f"{sample.expected}\t{sample.path}{exists}")
    return EXIT_OK


def golden_check(args) -> int:
    from .golden import GoldenSet, check, record_check
    from .pipeline.inspection import Inspector

    golden = GoldenSet.load(args.model)
    inspector = Inspector.open(args.model, args.device)
    threshold = inspector.info.threshold if args.threshold is None else args.threshold
    report = check(inspector, golden, threshold, inspector.info.name)
    for result in report.results:
        print(f"{'ok' if result.ok else 'WRONG'}\t{result.describe()}")
    print(report.summary(), file=sys.stderr)
    if not args.no_db and not report.empty:
        from .access.guard import login_name
        from .pipeline.database_link import default_station
        from .records.database import open_database

        with open_database(args.db, args.station or default_station()) as database:
            record_check(database, report, f"{login_name()} (command line)", "checked on the "
                                                                               "command line")
    return EXIT_OK if report.passed else EXIT_FAILED


def _record(args, old: str, new: str, added: list[str]) -> None:
    from .access.guard import command_line_guard
    from .pipeline.database_link import default_station
    from .records.audit import AuditTrail
    from .records.database import open_database

    with open_database(args.db, args.station or default_station()) as database:
        command_line_guard(AuditTrail.open(database)).change(
            "recipe", old, new, args.reason, detail={"recipe": args.model.stem, "added": added})
