"""The final record of one part: decided once, when the part is judged, and never rewritten.

Everything downstream (counters, the failure strip, the database, the CSV export, saved
images, the line's outputs) reads these records and never recomputes a verdict.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

PASS, FAIL, NOT_JUDGED, ERROR = "PASS", "FAIL", "NOT_JUDGED", "ERROR"
VERDICTS = (PASS, FAIL, NOT_JUDGED, ERROR)
REJECTS = (FAIL, NOT_JUDGED, ERROR)  # every part that is not a PASS is kept off the good flow


def decide(score: float, threshold: float) -> str:
    """The one place a score becomes a verdict."""
    return FAIL if score >= threshold else PASS


@dataclass(frozen=True)
class PartRecord:
    part_id: str  # file name, or the source's trigger / frame number
    sequence: int  # trigger number within the run: 1, 2, 3, ... with no gaps
    verdict: str  # one of VERDICTS
    score: float | None  # calibrated (0.5 = the model's default threshold); None if not judged
    threshold: float  # the threshold in force when this part was judged
    source: str = ""
    station: str = ""
    recipe: str = ""
    recipe_version: str = ""
    trigger_time: float | None = None  # time.time() when the trigger was issued or seen
    acquired_time: float | None = None  # when the frame was in hand
    verdict_time: float = 0.0  # when the verdict was decided
    latency_ms: float | None = None  # model time for this part
    reason: str = ""  # why a part is NOT_JUDGED or an ERROR
    image_path: str = ""  # saved image of a failed part, if any
    overlay_path: str = ""
    run_id: int = 0

    @property
    def rejected(self) -> bool:
        return self.verdict in REJECTS

    @property
    def trigger_to_verdict_ms(self) -> float | None:
        if self.trigger_time is None or not self.verdict_time:
            return None
        return (self.verdict_time - self.trigger_time) * 1000.0

    def as_dict(self) -> dict:
        return asdict(self)
