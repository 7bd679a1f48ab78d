"""Golden samples: known good and known bad parts of a recipe, judged again before inspecting.

At shift start and after a recipe change the station judges them with the recipe in force, at
the threshold in force, and inspection waits until every one is judged as expected (a good
part PASS, a bad part FAIL): a recipe that lets a known defect through never runs the line.

They are kept beside the recipe as `NAME.adgui.golden.json` (written atomically): each image's
path, relative to that file when the image was copied into `NAME.adgui.golden/`, and whether
it is good or bad.

    golden = GoldenSet.load("bottle.adgui")
    golden.add(["ok_01.png"], GOOD, copy=True); golden.add(["crack.png"], BAD); golden.save()
    report = check(inspector, golden, threshold=0.5)  # report.passed, report.summary()
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path


from algorithms.files import atomic_write
from algorithms.images import read_for_model, read_native

from .pipeline.inspection import recipe_bit_depth
from .records.part import FAIL, PASS, decide

SUFFIX = ".golden.json"
FORMAT = 1
GOOD, BAD = "good", "bad"
EXPECTED = {GOOD: PASS, BAD: FAIL}
CHECK_EVENT = "golden_check"  # the events table's kind for one check's result


@dataclass(frozen=True)
class GoldenSample:
    path: str  # relative to the golden file's folder, or absolute
    expected: str  # GOOD or BAD


@dataclass
class GoldenSet:
    model_path: Path
    samples: list[GoldenSample] = field(default_factory=list)

    @property
    def file(self) -> Path:
        return golden_path(self.model_path)

    @property
    def copies(self) -> Path:
        """Where copied images are kept."""
        return self.file.with_name(self.model_path.name + ".golden")

    @classmethod
    def load(cls, model_path: str | Path) -> "GoldenSet":
        """The recipe's golden samples; an empty set if it has none. A damaged file raises
        ValueError naming it (never read as 'no samples': that would unblock inspection)."""
        model_path = Path(model_path)
        path = golden_path(model_path)
        if not path.is_file():
            return cls(model_path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("format") != FORMAT:
                raise ValueError(f"format {document.get('format')!r}, expected {FORMAT}")
            samples = [GoldenSample(str(entry["path"]), str(entry["expected"]))
                       for entry in document["samples"]]
            for sample in samples:
                _check_expected(sample.expected)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"The golden samples file {path.name} cannot be read ({error}). "
                             f"Register the samples again or restore the file.") from None
        return cls(model_path, samples)

    def save(self) -> Path:
        document = {"format": FORMAT, "recipe": self.model_path.name,
                    "samples": [asdict(sample) for sample in self.samples]}
        with atomic_write(self.file, "w") as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
        return self.file

    def add(self, paths: list[str | Path], expected: str, copy: bool = False) -> list[GoldenSample]:
        """Register image files as good or bad (each must be a readable image); `copy` keeps
        a copy beside the recipe, so the set survives the originals being moved."""
        _check_expected(expected)
        added = []
        for path in map(Path, paths):
            read_native(path)  # ImageError (a ValueError) with the file's name
            if copy:
                self.copies.mkdir(parents=True, exist_ok=True)
                target = _free_name(self.copies, path.name)
                shutil.copy2(path, target)
                stored = str(target.relative_to(self.file.parent))
            else:
                stored = str(path.resolve())
            sample = GoldenSample(stored, expected)
            if sample not in self.samples:
                self.samples.append(sample)
                added.append(sample)
        return added

    def image_path(self, sample: GoldenSample) -> Path:
        return self.file.parent / sample.path  # an absolute path stays itself

    def describe(self) -> str:
        good = sum(sample.expected == GOOD for sample in self.samples)
        return f"{good} good, {len(self.samples) - good} bad"


@dataclass(frozen=True)
class SampleResult:
    path: str
    expected: str  # GOOD or BAD
    verdict: str  # PASS, FAIL, or "" when the image could not be judged
    score: float | None
    problem: str = ""  # why it could not be judged

    @property
    def ok(self) -> bool:
        return self.verdict == EXPECTED[self.expected]

    def describe(self) -> str:
        name = Path(self.path).name
        if self.problem:
            return f"{name} ({self.expected}): {self.problem}"
        return f"{name} ({self.expected}) judged {self.verdict} at score {self.score:.3f}"


@dataclass(frozen=True)
class GoldenReport:
    recipe: str
    threshold: float
    results: list[SampleResult]

    @property
    def passed(self) -> bool:
        """Every sample judged as expected (true for a recipe without samples: nothing to
        check; `empty` tells them apart)."""
        return all(result.ok for result in self.results)

    @property
    def empty(self) -> bool:
        return not self.results

    @property
    def wrong(self) -> list[SampleResult]:
        return [result for result in self.results if not result.ok]

    def summary(self) -> str:
        if self.empty:
            return f"recipe '{self.recipe}' has no golden samples"
        right = len(self.results) - len(self.wrong)
        text = (f"golden samples of recipe '{self.recipe}' at threshold {self.threshold:g}: "
                f"{right} of {len(self.results)} judged right")
        if self.wrong:
            text += "; wrong: " + "; ".join(result.describe() for result in self.wrong)
        return text

    def detail(self) -> dict:
        """For the record of the check (JSON)."""
        return {"recipe": self.recipe, "threshold": self.threshold, "passed": self.passed,
                "samples": [{"path": result.path, "expected": result.expected,
                             "verdict": result.verdict, "score": result.score,
                             "problem": result.problem} for result in self.results]}


def golden_path(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.name + SUFFIX)


def check(inspector, golden: GoldenSet, threshold: float, recipe: str = "") -> GoldenReport:
    """Judge every sample with `inspector` at `threshold`, as the live pipeline judges a part."""
    results = []
    for sample in golden.samples:
        path = golden.image_path(sample)
        try:
            # (H, W[, 3]) uint8 as is, deeper images as float32 in [0, 1] at the recipe's
            # depth, like the pipeline
            model_input = read_for_model(path, recipe_bit_depth(inspector))
            score = float(inspector.inspect(model_input).score)
        except Exception as error:  # noqa: BLE001 - that sample fails the check, with why
            results.append(SampleResult(sample.path, sample.expected, "", None, str(error)))
            continue
        results.append(SampleResult(sample.path, sample.expected, decide(score, threshold), score))
    return GoldenReport(recipe or golden.model_path.stem, float(threshold), results)


def record_check(database, report: GoldenReport, user: str, occasion: str) -> None:
    """One row in the events table (kind `golden_check`); `database` is a Database or a
    DatabaseLink (queued on its writer)."""
    fields = dict(user=user, new_value="passed" if report.passed else "failed",
                  reason=f"{occasion}: {report.summary()}", detail=report.detail())
    writer = getattr(database, "writer", None)
    if writer is not None:
        writer.add_event(CHECK_EVENT, **fields)
    else:
        database.add_event(CHECK_EVENT, **fields)


def _check_expected(expected: str) -> None:
    if expected not in EXPECTED:
        raise ValueError(f"A golden sample is {GOOD!r} or {BAD!r}, not {expected!r}")


def _free_name(folder: Path, name: str) -> Path:
    target, counter = folder / name, 2
    while target.exists():
        target, counter = folder / f"{Path(name).stem}-{counter}{Path(name).suffix}", counter + 1
    return target


__all__ = ["BAD", "CHECK_EVENT", "GOOD", "GoldenReport", "GoldenSample", "GoldenSet",
           "SampleResult", "check", "golden_path", "record_check"]
