"""`adgui recipe versions|roi|threshold`: a recipe's versions on the command line.

A change made here is an engineer's, recorded in the station's audit trail under the login
that ran the command (adgui.access.guard.command_line_guard), then written as a new version.
"""
from __future__ import annotations

import json
from pathlib import Path

from .roi import Roi, RoiError
from .versions import list_versions, version_in_force


def add_recipe_commands(commands) -> None:
    recipe = commands.add_parser("recipe", help="a recipe's versions: threshold and ROI")
    sub = recipe.add_subparsers(dest="recipe_command", required=True)
    versions = sub.add_parser("versions", help="list the versions, the one in force last")
    versions.add_argument("--model", required=True, type=Path, help="the recipe's model file")
    versions.add_argument("--json", action="store_true", help="print the versions as JSON")
    versions.set_defaults(handler=recipe_versions)

    database = _database_options()
    roi = sub.add_parser("roi", parents=[database],
                         help="apply an ROI (JSON: width, height, shapes) as a new version")
    roi.add_argument("--model", required=True, type=Path)
    roi.add_argument("--roi", required=True, type=Path,
                     help="JSON file with the reference size and the shapes; '{}' clears the ROI")
    roi.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    roi.add_argument("--data", type=Path, help="good images to recalibrate on, for a recipe saved "
                                               "before recipes kept their calibration images")
    roi.add_argument("--device", default="auto")
    roi.set_defaults(handler=recipe_roi)
    threshold = sub.add_parser("threshold", parents=[database],
                               help="apply a threshold as a new version")
    threshold.add_argument("--model", required=True, type=Path)
    threshold.add_argument("--value", required=True, type=float)
    threshold.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    threshold.set_defaults(handler=recipe_threshold)


def recipe_versions(args) -> int:
    versions = list_versions(args.model) or [version_in_force(args.model, _model_threshold(args))]
    if args.json:
        print(json.dumps([v.as_dict() for v in versions], indent=2))
        return 0
    for version in versions:
        written = f"{version.created} {version.author}" if version.created else "(not written yet)"
        parent = f" from v{version.parent}" if version.parent else ""
        print(f"{version.describe()}{parent}  {written}: {version.reason}")
    return 0


def recipe_roi(args) -> int:
    from algorithms.datasets import read_images, training_images

    from ..pipeline.inspection import Inspector, recipe_bit_depth
    from .changes import change_roi

    try:
        data = json.loads(args.roi.read_text(encoding="utf-8"))
        roi = Roi.from_dict(data) if data else None
    except (OSError, json.JSONDecodeError) as error:
        raise RoiError(f"{args.roi} is not a readable ROI file ({error})") from None
    inspector = Inspector.open(args.model, args.device)
    images = (read_images(training_images(args.data), bit_depth=recipe_bit_depth(inspector))
              if args.data else None)
    with _guard(args) as guard:
        version = change_roi(args.model, guard, roi, args.reason, inspector.calibrated_map,
                             inspector.version.threshold, images)
    print(version.describe())
    return 0


def recipe_threshold(args) -> int:
    from .changes import change_threshold

    with _guard(args) as guard:
        version = change_threshold(args.model, guard, args.value, args.reason,
                                   _model_threshold(args))
    print(version.describe())
    return 0


def _model_threshold(args) -> float:
    """The model file's own threshold: the implicit version 1 of a recipe with none written."""
    if list_versions(args.model):
        return 0.5  # not used: the versions say
    from algorithms import load_detector

    return float(load_detector(args.model, "cpu").threshold)


class _guard:
    """The command line's guard on the station's database, closed after the change."""

    def __init__(self, args):
        self.args = args

    def __enter__(self):
        from ..access.guard import command_line_guard
        from ..pipeline.database_link import default_station
        from ..records.audit import AuditTrail
        from ..records.database import open_database

        self.database = open_database(self.args.db, self.args.station or default_station())
        return command_line_guard(AuditTrail.open(self.database))

    def __exit__(self, *exc) -> None:
        self.database.close()


def _database_options():
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db", metavar="URL", help="inspection database whose audit trail records "
                                                    "the change (default: the user data folder's)")
    parser.add_argument("--station", help="station name (default: this computer's)")
    return parser
