"""The parity check: the exported graph must give the torch model's scores and maps."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

SCORE_TOLERANCE = 1e-4  # on the calibrated scale, where the default threshold is 0.5
MAP_TOLERANCE = 1e-3  # largest pixel difference of a calibrated map


def beyond(tolerance: float, reference: np.ndarray, other: np.ndarray) -> bool:
    """Whether any value differs by more than the tolerance, relative beyond 1: float32 keeps
    about seven digits, so a calibrated score of 2,000 (a part far past any threshold) is
    itself only known to about 1e-4; near the threshold, where verdicts are decided, the
    tolerance is absolute."""
    reference = np.asarray(reference, dtype=np.float64)
    difference = np.abs(reference - np.asarray(other, dtype=np.float64))
    return not bool(np.all(difference <= tolerance * np.maximum(1.0, np.abs(reference))))


class ParityError(RuntimeError):
    """The exported graph disagrees with the torch model; nothing was written."""

    def __init__(self, report: "ParityReport"):
        super().__init__(f"the exported graph differs from the torch model beyond the tolerances "
                         f"(score {SCORE_TOLERANCE:g}, map {MAP_TOLERANCE:g}, relative beyond 1): "
                         f"{report.summary()}")
        self.report = report

    def __reduce__(self):
        # Rebuilt from its report where it crosses processes (the bench's worker process).
        return type(self), (self.report,)


@dataclass
class ParityReport:
    images: int = 0
    max_score_difference: float = 0.0
    max_map_difference: float = 0.0
    worst_score_image: str = ""
    worst_map_image: str = ""
    verdict_disagreements: list[str] = field(default_factory=list)
    beyond_tolerance: list[str] = field(default_factory=list)  # images with a difference too large

    @property
    def passed(self) -> bool:
        return self.images > 0 and not self.beyond_tolerance

    def add(self, name: str, reference: tuple[float, np.ndarray], exported: tuple[float, np.ndarray],
            threshold: float) -> None:
        """Compare one image's (score, map) from the torch model and from the graph."""
        (score, anomaly_map), (other_score, other_map) = reference, exported
        if anomaly_map.shape != other_map.shape:
            raise ValueError(f"{name}: map shapes differ, {anomaly_map.shape} against {other_map.shape}")
        self.images += 1
        score_difference = abs(float(score) - float(other_score))
        map_difference = float(np.max(np.abs(anomaly_map.astype(np.float64) - other_map)))
        if not np.isfinite(score_difference):
            score_difference = float("inf")
        if score_difference >= self.max_score_difference:
            self.max_score_difference, self.worst_score_image = score_difference, name
        if not np.isfinite(map_difference) or map_difference >= self.max_map_difference:
            self.max_map_difference, self.worst_map_image = float(map_difference), name
        if (score >= threshold) != (other_score >= threshold):
            self.verdict_disagreements.append(name)
        if beyond(SCORE_TOLERANCE, score, other_score) or beyond(MAP_TOLERANCE, anomaly_map, other_map):
            self.beyond_tolerance.append(name)

    def summary(self) -> str:
        return (f"{self.images} images; largest score difference {self.max_score_difference:.3g} "
                f"({self.worst_score_image}), largest map difference "
                f"{self.max_map_difference:.3g} ({self.worst_map_image})"
                + (f"; verdicts differ on {self.verdict_disagreements}"
                   if self.verdict_disagreements else ""))

    def as_dict(self) -> dict:
        return {**asdict(self), "score_tolerance": SCORE_TOLERANCE, "map_tolerance": MAP_TOLERANCE}
