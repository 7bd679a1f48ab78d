"""DDAD's training, apart from the fitted module (as anomalib keeps its torch model beside its
training loop): the denoiser's optimiser, AMP scaler, moving average and schedule, the domain
adaptation and the map weighting live here and are dropped when the fit ends, so the module
holds only what inference needs.
"""
from __future__ import annotations

import copy
import math
import time
from typing import TYPE_CHECKING

import torch

from ..base import Progress, step_budget, sub_progress
from .adaptation import adapt_extractor
from .config import DdadConfig
from .diffusion import fixed_noise, training_loss
from .unet import UNet

if TYPE_CHECKING:
    from .torch_model import Ddad

LOSS_REPORT_EVERY = 25  # steps between reading the loss back (a device sync on CUDA)


class DdadTrainer:
    """Fits a `Ddad` module it is given, in place: Detector.fit hands a refit a fresh module."""

    def __init__(self, config: DdadConfig):
        self.config = config
        # Training state: exists only while the denoiser trains.
        self.optimizer: torch.optim.Optimizer | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.ema: UNet | None = None

    def fit(self, model: "Ddad", images: torch.Tensor, progress: Progress) -> None:
        """Train `model` on good images (N, 3, S, S) in [0, 1] on its device."""
        model.train(False)  # frozen parts (BatchNorm statistics) stay as they are
        config = self.config
        generator = torch.Generator(device=model.device).manual_seed(config.seed)
        small = model.shrink(images)  # (N, 3, s, s) in [0, 1]
        self.train_unet(model, small * 2 - 1, generator, sub_progress(progress, 0.0, 0.8))

        def random_noise(shape: torch.Size) -> torch.Tensor:
            return torch.randn(shape, generator=generator, device=model.device)

        def reconstruct_toward(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            with model.autocast():
                result = model.reconstruct(model.shrink(x), model.shrink(target), config.da_w,
                                           random_noise)
            return model.grow(result.float())

        if config.da_epochs > 0:
            progress(0.8, "adapting the feature extractor")
            adapt_extractor(model.extractor, model.grow(small), reconstruct_toward,
                            config.da_epochs, config.da_batch_size, config.da_learning_rate,
                            config.da_lambda, generator, sub_progress(progress, 0.8, 0.97))
        self.fit_weighting(model, small, generator, sub_progress(progress, 0.97, 1.0))

    def train_unet(self, model: "Ddad", images: torch.Tensor, generator: torch.Generator,
                   progress: Progress) -> None:
        """DDPM training on (N, 3, s, s) images in [-1, 1] until the steps or the time run out;
        the model keeps the moving average of the weights when there is one."""
        config = self.config
        unet = model.unet
        unet.train()
        unet.requires_grad_(True)
        self.ema = copy.deepcopy(unet).requires_grad_(False) if config.ema_decay > 0 else None
        self.optimizer = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=model.device.type == "cuda"
                                           and model.autocast_dtype() == torch.float16)
        batch_size = min(config.train_batch_size, len(images))
        steps_per_epoch = max(1, len(images) // batch_size)  # full batches only
        total_steps = step_budget(steps_per_epoch, config.train_epochs, config.min_steps,
                                  config.max_steps)
        warmup = max(1, min(200, total_steps // 20))
        started, step, loss_value = time.perf_counter(), 0, float("nan")
        order = torch.empty(0, dtype=torch.long, device=model.device)
        try:
            while True:
                elapsed = time.perf_counter() - started
                fraction = step / total_steps
                if config.train_seconds:
                    fraction = max(fraction, elapsed / config.train_seconds)
                if fraction >= 1.0:
                    break
                # Linear warm-up, then cosine decay over the steps or the time budget.
                scale = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * fraction))
                for group in self.optimizer.param_groups:
                    group["lr"] = config.learning_rate * scale
                if len(order) < batch_size:
                    order = torch.randperm(len(images), generator=generator, device=model.device)
                batch, order = images[order[:batch_size]], order[batch_size:]  # (b, 3, s, s)
                with model.autocast():
                    loss = training_loss(unet, model.schedule, batch, config.train_max_step,
                                         generator)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self._update_average(unet, step)
                step += 1
                if step % LOSS_REPORT_EVERY == 1:
                    loss_value = float(loss.detach())
                progress(min(fraction, 1.0), f"training the denoiser: step {step}, "
                                             f"loss {loss_value:.4f}")
        finally:
            if self.ema is not None:
                unet.load_state_dict(self.ema.state_dict())
            unet.train(False)
            unet.requires_grad_(False)
            self.optimizer, self.scaler, self.ema = None, None, None

    def _update_average(self, unet: UNet, step: int) -> None:
        if self.ema is None:
            return
        # Warm-up of the average so that short trainings are not dominated by init.
        decay = min(self.config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for averaged, current in zip(self.ema.parameters(), unet.parameters()):
                averaged.lerp_(current, 1 - decay)

    @torch.no_grad()
    def fit_weighting(self, model: "Ddad", small: torch.Tensor, generator: torch.Generator,
                      progress: Progress) -> None:
        """max(D_f) and max(D_p) over reconstructions of good training images."""
        config = self.config
        count = min(config.weighting_images, len(small))
        chosen = torch.randperm(len(small), generator=generator, device=model.device)[:count]
        max_pixel, max_feature = 0.0, 0.0
        for start in range(0, count, config.batch_size):
            batch = small[chosen[start:start + config.batch_size]]
            with model.autocast():
                reconstruction = model.reconstruct(batch, batch, config.w,
                                                   fixed_noise(config.seed, model.device))
                pixel, feature = model.distances(batch, reconstruction)
            max_pixel = max(max_pixel, float(pixel.max()))
            max_feature = max(max_feature, float(feature.max()))
            progress(min(start + config.batch_size, count) / count, "weighting the distances")
        model.max_pixel_distance = torch.tensor(max_pixel, device=model.device)
        model.max_feature_distance = torch.tensor(max_feature, device=model.device)
