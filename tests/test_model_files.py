"""Model files: foreign, corrupt or newer files are refused clearly; saving never half-writes."""
from __future__ import annotations

import pytest
import torch

from algorithms import ModelFileError, create_detector, load_detector, save_detector


@pytest.fixture
def model_path(tmp_path, good_images):
    detector = create_detector("padim", "fast", device="cpu", weights="none")
    detector.fit(good_images)
    return save_detector(detector, tmp_path / "model.adgui")


def test_random_bytes_are_not_a_model(tmp_path):
    path = tmp_path / "junk.adgui"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelFileError, match="not a readable adgui model"):
        load_detector(path)


def test_truncated_model_is_refused(model_path):
    data = model_path.read_bytes()
    model_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_detector(model_path)


def test_another_programs_torch_file_is_refused(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(ModelFileError, match="not an adgui model"):
        load_detector(path)


def test_pickled_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed')",))

    path = tmp_path / "evil.adgui"
    torch.save({"format": "adgui-model", "payload": Evil()}, path)
    with pytest.raises(ModelFileError):
        load_detector(path)


def test_newer_version_is_refused(model_path):
    payload = torch.load(model_path, weights_only=True)
    payload["version"] = 999
    torch.save(payload, model_path)
    with pytest.raises(ModelFileError, match="newer"):
        load_detector(model_path)


def test_mismatched_state_is_refused(model_path):
    payload = torch.load(model_path, weights_only=True)
    payload["detector"] = "patchcore"
    torch.save(payload, model_path)
    with pytest.raises(ModelFileError, match="does not match"):
        load_detector(model_path)


def test_failed_save_keeps_the_old_model(model_path, monkeypatch):
    original = model_path.read_bytes()
    detector = load_detector(model_path)

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_detector(detector, model_path)
    assert model_path.read_bytes() == original
    assert [p.name for p in model_path.parent.iterdir()] == [model_path.name], "no temp files left"


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_detector(tmp_path / "none.adgui")


def test_padim_saved_before_the_grid_setting_keeps_its_grid(tmp_path, good_images):
    detector = create_detector("padim", "fast", device="cpu", weights="none", grid_stride=4)
    detector.fit(good_images)
    payload = detector.to_payload()
    del payload["config"]["grid_stride"]  # as files written before the setting existed
    path = tmp_path / "older.adgui"
    torch.save(payload, path)
    loaded = load_detector(path, "cpu")
    assert loaded.config.grid_stride == 4
    expected, reloaded = detector.predict(good_images[:2]), loaded.predict(good_images[:2])
    assert (expected.scores == reloaded.scores).all()


def test_padim_saved_before_the_precision_rank_keeps_its_full_matrices(tmp_path, good_images):
    detector = create_detector("padim", "fast", device="cpu", weights="none", precision_rank=0)
    detector.fit(good_images)
    payload = detector.to_payload()
    del payload["config"]["precision_rank"]  # as files written before the setting existed
    del payload["state_dict"]["whitening"]
    path = tmp_path / "older.adgui"
    torch.save(payload, path)
    loaded = load_detector(path, "cpu")
    assert loaded.config.precision_rank == 0 and loaded.whitening.numel() == 0
    expected, reloaded = detector.predict(good_images[:2]), loaded.predict(good_images[:2])
    assert (expected.scores == reloaded.scores).all()
