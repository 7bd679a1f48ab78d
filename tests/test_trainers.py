"""Training loops apart from the fitted modules: a trainer trains the module it is given, and
the module keeps only what inference needs."""
from __future__ import annotations

import pytest
import torch

from algorithms import Cancelled, create_detector
from algorithms.cflow.trainer import CflowTrainer
from algorithms.ddad.trainer import DdadTrainer

TRAINERS = {"cflow": (CflowTrainer, dict(epochs=3)),
            "ddad": (DdadTrainer, dict(train_epochs=6, weighting_images=2, ema_decay=0.9))}


def _training_state(module: torch.nn.Module) -> list[str]:
    """Names of anything in the module tree that only training needs."""
    found = []
    for name, sub in module.named_modules():
        for attribute, value in vars(sub).items():
            if isinstance(value, (torch.optim.Optimizer, torch.amp.GradScaler)):
                found.append(f"{name}.{attribute}")
    return found


@pytest.mark.parametrize("name", TRAINERS)
def test_a_trainer_trains_the_module_it_is_given_and_keeps_no_training_state(name, good_images):
    trainer_class, quick = TRAINERS[name]
    torch.manual_seed(0)
    model = create_detector(name, "fast", device="cpu", weights="none", **quick)
    untouched = {key: value.clone() for key, value in model.state_dict().items()}
    trainer = trainer_class(model.config)
    images = model.training_inputs(good_images[:8])  # (8, 3, S, S)
    seen = []
    trainer.fit(model, images, lambda fraction, message: seen.append(message))
    assert any(message.startswith("training the") for message in seen)
    state = model.state_dict()
    assert list(state) == list(untouched), "the same tensors as an untrained module: no optimiser state"
    changed = [key for key in state if not torch.equal(state[key], untouched[key])]
    learned = "decoders." if name == "cflow" else "unet."
    assert any(key.startswith(learned) for key in changed), "the given module was trained"
    assert not _training_state(model)
    assert (trainer.optimizer, getattr(trainer, "scaler", None), getattr(trainer, "ema", None)) \
        == (None, None, None), "the trainer lets its state go when the fit ends"


@pytest.mark.parametrize("name", TRAINERS)
def test_a_cancelled_trainer_lets_its_state_go(name, good_images):
    trainer_class, quick = TRAINERS[name]
    model = create_detector(name, "fast", device="cpu", weights="none", **quick)
    trainer = trainer_class(model.config)
    images = model.training_inputs(good_images[:8])  # (8, 3, S, S)
    before = {key: value.clone() for key, value in model.state_dict().items()}

    def cancel_in_training(fraction, message):
        if message.startswith("training the") and trainer.optimizer is not None:
            raise Cancelled

    with pytest.raises(Cancelled):
        trainer.fit(model, images, cancel_in_training)
    assert trainer.optimizer is None and not _training_state(model)
    if name == "cflow":  # new decoders train aside and are installed only at the end
        for key, value in model.state_dict().items():  # unfitted thresholds are NaN
            torch.testing.assert_close(value, before[key], rtol=0, atol=0, equal_nan=True)
    else:  # the denoiser trains in place (a refit is given a fresh module): left for inference
        assert not model.unet.training and not any(p.requires_grad for p in model.unet.parameters())
