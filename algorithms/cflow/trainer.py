"""CFlow's training loop, apart from the fitted module (as anomalib keeps its torch model
beside its training loop): the optimiser, the learning-rate schedule and the step budget
live here and are dropped when the fit ends, so the module holds only what inference needs.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Progress, step_budget, sub_progress
from .config import CflowConfig

if TYPE_CHECKING:
    from .torch_model import Cflow

LOSS_EVERY = 100  # training steps between loss readings for the progress message


class CflowTrainer:
    """Fits a `Cflow` module it is given: encoder features once, then the flow decoders by
    maximum likelihood, then the training likelihoods that scale its maps."""

    def __init__(self, config: CflowConfig):
        self.config = config
        self.optimizer: torch.optim.Optimizer | None = None  # exists only while training

    def fit(self, model: "Cflow", images: torch.Tensor, progress: Progress) -> None:
        """Train `model` on good images (N, 3, S, S) in [0, 1] on its device."""
        model.train(False)  # frozen parts (BatchNorm statistics) stay as they are
        fibres = model.training_fibres(images, sub_progress(progress, 0.0, 0.1))
        # New decoders are trained aside and installed at the end, all at once.
        decoders = model.new_decoders().to(model.device)
        self.train_decoders(model, decoders, fibres, sub_progress(progress, 0.1, 0.95))
        progress(0.95, "measuring the training likelihoods")
        model.install_decoders(decoders, model.max_log_likelihood(decoders, fibres))

    def train_decoders(self, model: "Cflow", decoders: nn.ModuleList, fibres: list[torch.Tensor],
                       progress: Progress) -> None:
        """Maximum likelihood on random fibre batches, each scale in turn every pass, for the
        step budget that the number of training fibres sets."""
        config = self.config
        batch = config.fiber_batch_size
        steps_per_epoch = sum(math.ceil(f[..., 0].numel() / batch) for f in fibres)
        total_steps = step_budget(steps_per_epoch, config.epochs, config.min_steps, config.max_steps)
        self.optimizer = torch.optim.Adam(decoders.parameters(), lr=config.learning_rate)
        generator = torch.Generator().manual_seed(config.seed)
        decoders.train(True)
        step, shown_loss = 0, math.nan
        try:
            while step < total_steps:
                for decoder, scale_fibres in zip(decoders, fibres):
                    _, height, width, channels = scale_fibres.shape
                    flat = scale_fibres.view(-1, channels)  # (N * HW, C)
                    encoding = model.encoding(height, width, flat.device)  # (HW, P)
                    order = torch.randperm(len(flat), generator=generator).to(flat.device)
                    for start in range(0, len(flat), batch):
                        if step == total_steps:
                            break
                        chosen = order[start:start + batch]
                        for group in self.optimizer.param_groups:
                            group["lr"] = self.learning_rate(step / total_steps)
                        condition = encoding[chosen % (height * width)]  # (n, P): fibre i sits at i mod HW
                        log_prob = decoder.log_likelihood(flat[chosen], decoder.project(condition))
                        # Paper code: maximise log-sigmoid of the per-dimension log-likelihood.
                        loss = -F.logsigmoid(log_prob).mean()
                        self.optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        self.optimizer.step()
                        if step % LOSS_EVERY == 0:  # reading the loss waits for a GPU
                            shown_loss = float(loss.detach())
                        step += 1
                        progress(step / total_steps, f"training the flows: step {step}/{total_steps}, "
                                 f"loss {shown_loss:.3f}")
        finally:
            self.optimizer = None  # its moments are training state, never part of the model
            decoders.train(False)

    def learning_rate(self, done: float) -> float:
        """Paper schedule: linear warm-up from lr / 10, then cosine decay to lr * final factor."""
        config = self.config
        low = config.learning_rate * config.final_lr_factor

        def cosine(t: float) -> float:
            return low + (config.learning_rate - low) * (1.0 + math.cos(math.pi * t)) / 2.0

        if done < config.warmup_fraction:
            start = config.learning_rate / 10.0
            return start + done / config.warmup_fraction * (cosine(config.warmup_fraction) - start)
        return cosine(done)
