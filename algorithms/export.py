"""Export-friendly inference modules: each detector's forward in a form that traces to a
fast ONNX graph. They compute the same numbers as `forward` (the export's parity check
holds them to it) in a cheaper order:

- Every size is a fixed number worked out once for the detector's input size, where the
  tracer would otherwise record shape arithmetic the exporter cannot always express
  (adaptive pooling, for one).
- The map is never upsampled and blurred as an image. Bilinear upsampling and a Gaussian
  blur with reflected borders are both linear and act on rows and columns separately, so
  the working-size map of a small (h, w) map D is F D F^T, with F (S, h) the two operators
  applied to the identity: two small matrix products instead of a 33-tap blur (see
  `adgui.runtime.export`; the maps of an image's inputs are stitched outside the graph).
- PaDiM reads each cell's whitening rows once, or, for full precision matrices, only their
  upper blocks (they are symmetric).
- PatchCore finds every patch's nearest bank entry with one matrix product per block of the
  bank, its norms precomputed; each product keeps only the minimum of every run of a few
  entries, and the winning run's entries are compared again (an arg-min over the whole
  product is several times slower than a minimum).

Each module maps (B, 3, S, S) in [0, 1] to raw scores (B,) and `terms`, a list of small raw
maps (B, h_i, w_i), such that the detector's raw map at the working size is
`offset + sum_i F_i T_i F_i^T` with F_i = `factors[i]` (S, h_i).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Detector, gaussian_blur
from .cflow.flow import LOG_SQRT_2PI

# Blocks per side of a precision matrix: 6 of 9 are read. The graph alone, PaDiM at 256 px
# with 176 channels, two CPU threads, measured 10.7 ms with 3 against 11.4 with 2 and 10.9
# with 4 (more, smaller products cost more than the bytes they save).
PADIM_BLOCKS = 3
PATCHCORE_BLOCK = 2048  # bank entries per product of the exported search (whole runs)
# Bank entries per run whose minimum each product keeps: ONNX Runtime's ArgMin over
# every product took 8.3 of a 50 ms PatchCore graph, its ReduceMin over runs 2.0.
PATCHCORE_RUN = 16


def expansion_matrix(grid: int, size: int, blur_sigma: float) -> torch.Tensor:
    """(size, grid) matrix F with F D F^T = blur(bilinear upsampling of D to size x size).

    Built from the very functions the torch path runs: the 1-D linear interpolation of the
    identity is bilinear upsampling along one axis, and the blur of a map that is constant
    along its other axis blurs along one axis only (the kernel sums to one).
    """
    eye = torch.eye(grid, dtype=torch.float64)
    upsampled = F.interpolate(eye.unsqueeze(1), size=size, mode="linear",
                              align_corners=False).squeeze(1)  # (grid, size): rows of F^T
    radius = math.ceil(4.0 * blur_sigma) if blur_sigma > 0 else 0
    flat = upsampled.unsqueeze(2).expand(grid, size, radius + 1).contiguous()  # (grid, size, r+1)
    blurred = gaussian_blur(flat, blur_sigma)[:, :, 0]  # (grid, size)
    return blurred.T.float().contiguous()  # (size, grid)


def working_map(terms: list[torch.Tensor], factors: list[torch.Tensor], offset: float) -> torch.Tensor:
    """offset + sum_i F_i T_i F_i^T: (B, S, S) from small maps (B, h_i, w_i)."""
    total = None
    for term, factor in zip(terms, factors):
        expanded = factor @ term @ factor.T  # (S, h) @ (B, h, w) @ (w, S) -> (B, S, S)
        total = expanded if total is None else total + expanded
    return total + offset if offset else total


class MapFactors(nn.Module):
    """The expansion matrices of a detector's small maps, one per grid side."""

    def __init__(self, grids: list[tuple[int, int]], size: int, blur_sigma: float):
        super().__init__()
        for height, width in grids:
            if height != width:
                raise ValueError(f"a {height}x{width} feature grid is not square; the export "
                                 f"needs square images")
        self.grids = [height for height, _ in grids]
        for index, grid in enumerate(self.grids):
            self.register_buffer(f"factor_{index}", expansion_matrix(grid, size, blur_sigma))

    @property
    def factors(self) -> list[torch.Tensor]:
        return [getattr(self, f"factor_{index}") for index in range(len(self.grids))]


class BlockedMahalanobis(nn.Module):
    """Squared distances delta^T Sigma^-1 delta that read only the upper blocks of each
    symmetric precision matrix: with the matrices split into b x b blocks, the diagonal
    blocks count once and those above it twice (doubling is exact in floating point), so
    (b + 1) / 2b of the bytes are read. The head is bound by memory bandwidth, not arithmetic.
    """

    def __init__(self, mean: torch.Tensor, precision: torch.Tensor, blocks: int = PADIM_BLOCKS):
        super().__init__()
        positions, channels = mean.shape  # (P, D)
        side = math.ceil(channels / blocks)
        self.pad, self.blocks, self.side = blocks * side - channels, blocks, side
        padded = F.pad(precision, (0, self.pad, 0, self.pad))  # (P, bk, bk), zeros: no effect
        pairs = [(i, j) for i in range(blocks) for j in range(i, blocks)]
        parts = [padded[:, i * side:(i + 1) * side, j * side:(j + 1) * side] * (1.0 if i == j else 2.0)
                 for i, j in pairs]
        self.register_buffer("upper", torch.stack(parts, dim=1).contiguous())  # (P, n, k, k)
        self.register_buffer("mean", mean.clone())
        self.register_buffer("left", torch.tensor([i for i, _ in pairs]))  # (n,)
        self.register_buffer("right", torch.tensor([j for _, j in pairs]))  # (n,)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) -> (B, h, w) Mahalanobis distances."""
        batch, _, height, width = embedding.shape
        delta = embedding.flatten(2).transpose(1, 2) - self.mean  # (B, P, D)
        delta = F.pad(delta, (0, self.pad)).reshape(batch, -1, self.blocks, self.side)  # (B, P, b, k)
        right = delta.index_select(2, self.right).unsqueeze(-1)  # (B, P, n, k, 1)
        product = torch.matmul(self.upper, right).squeeze(-1)  # (B, P, n, k)
        squared = (product * delta.index_select(2, self.left)).sum(dim=(2, 3))  # (B, P)
        return squared.clamp_min(0).sqrt().reshape(batch, height, width)


class WhitenedMahalanobis(nn.Module):
    """Distances |W delta| with each cell's whitening rows W (r, D), PaDiM's
    `precision_rank`: r x D floats read per cell, as delta^T W^T (ONNX Runtime streams the
    transposed rows faster than it computes W delta)."""

    def __init__(self, mean: torch.Tensor, whitening: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.clone())  # (P, D)
        self.register_buffer("columns", whitening.transpose(1, 2).contiguous())  # (P, D, r)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) -> (B, h, w) Mahalanobis distances."""
        batch, _, height, width = embedding.shape
        delta = embedding.flatten(2).transpose(1, 2) - self.mean  # (B, P, D)
        product = torch.matmul(delta.unsqueeze(-2), self.columns).squeeze(-2)  # (B, P, r)
        squared = product.pow(2).sum(dim=2)  # (B, P)
        return squared.clamp_min(0).sqrt().reshape(batch, height, width)


class PadimInference(nn.Module):
    """PaDiM: the grid's pooling fixed for the input size, the whitened (or, with every
    direction, the blocked) Mahalanobis head."""

    def __init__(self, padim: Detector):
        super().__init__()
        self.padim = padim
        size = padim.config.image_size
        with torch.no_grad():
            shapes = [tuple(f.shape[-2:]) for f in padim.backbone(torch.zeros(1, 3, size, size))]
        grid = tuple(int(side) for side in padim.embed(torch.zeros(1, 3, size, size)).shape[-2:])
        self.grid = grid
        self.kernels: list[tuple[int, int] | None] = []  # average pool per stage, None: repeat
        for height, width in shapes:
            if width > grid[1]:
                if height % grid[0] or width % grid[1]:
                    raise ValueError(f"PaDiM's {grid} grid does not divide a {height}x{width} "
                                     f"stage; choose an image size that is a multiple of 32")
                self.kernels.append((height // grid[0], width // grid[1]))
            else:
                self.kernels.append(None)
        self.head = (WhitenedMahalanobis(padim.mean, padim.whitening) if padim.whitening.numel()
                     else BlockedMahalanobis(padim.mean, padim.precision))
        self.maps = MapFactors([grid], size, padim.config.blur_sigma)
        self.offset = 0.0

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        padim = self.padim
        features = padim.backbone(padim.backbone.normalize(images))
        on_grid = [F.avg_pool2d(f, kernel, stride=kernel) if kernel is not None
                   else F.interpolate(f, size=self.grid, mode="nearest")
                   for f, kernel in zip(features, self.kernels)]
        embedding = torch.cat(on_grid, dim=1).index_select(1, padim.channel_index)  # (B, D, h, w)
        terms = [self.head(embedding)]  # (B, h, w)
        maps = working_map(terms, self.maps.factors, self.offset)  # (B, S, S)
        return maps.flatten(1).amax(dim=1), terms


class PatchcoreInference(nn.Module):
    """PatchCore: the nearest-neighbour search as products against blocks of the bank."""

    def __init__(self, patchcore: Detector):
        super().__init__()
        self.patchcore = patchcore
        bank = patchcore.memory_bank  # (M, D)
        # The bank padded to whole runs with entries no query can be nearest to (an
        # infinite norm), so that every product's columns fold into runs.
        padding = -len(bank) % PATCHCORE_RUN
        norms = torch.cat([bank.pow(2).sum(1), torch.full((padding,), math.inf)])  # (M',)
        entries = torch.cat([bank, bank.new_zeros(padding, bank.shape[1])])  # (M', D)
        # |q - b|^2 - |q|^2 = |b|^2 - 2 q.b: the norms once, the -2 folded into the bank
        # (exact: a power of two), so each block's search is one Gemm. Blocks of the bank
        # keep each product's (Q, block) result in the cache for its minima.
        scaled = (-2.0 * entries).T  # (D, M')
        self.blocks = math.ceil(len(entries) / PATCHCORE_BLOCK)
        for index in range(self.blocks):
            columns = slice(index * PATCHCORE_BLOCK, (index + 1) * PATCHCORE_BLOCK)
            self.register_buffer(f"bank_norms_{index}", norms[columns].contiguous())  # (m,)
            self.register_buffer(f"bank_scaled_{index}", scaled[:, columns].contiguous())  # (D, m)
        self.register_buffer("run_norms", norms.view(-1, PATCHCORE_RUN))  # (R, run)
        self.register_buffer("run_entries", entries.view(-1, PATCHCORE_RUN, bank.shape[1]))  # (R, run, D)
        size = patchcore.config.image_size
        with torch.no_grad():
            grid = tuple(patchcore.embed(torch.zeros(1, 3, size, size)).shape[-2:])
        self.maps = MapFactors([grid], size, patchcore.config.blur_sigma)
        self.offset = 0.0

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        patchcore = self.patchcore
        embedding = patchcore.embed(images)  # (B, D, h, w)
        batch, _, height, width = embedding.shape
        patches = embedding.permute(0, 2, 3, 1).reshape(batch, height * width, -1)  # (B, P, D)
        queries = patches.flatten(0, 1)  # (Q, D)
        nearest = self.nearest(queries)  # (Q,)
        # The winner's distance directly, as `Patchcore._nearest` does (no cancellation).
        bank = patchcore.memory_bank
        distance = torch.linalg.vector_norm(queries - bank.index_select(0, nearest), dim=1)
        distance, nearest = distance.view(batch, -1), nearest.view(batch, -1)  # (B, P)
        scores = patchcore._reweighted_scores(patches, distance, nearest)
        return scores, [distance.view(batch, height, width)]

    def nearest(self, queries: torch.Tensor) -> torch.Tensor:
        """(Q, D) -> (Q,) index of each query's nearest bank entry; on a tie the first, as
        the torch path's search finds it."""
        minima = []
        for index in range(self.blocks):
            block = torch.addmm(getattr(self, f"bank_norms_{index}"), queries,
                                getattr(self, f"bank_scaled_{index}"))  # (Q, m)
            minima.append(block.view(len(queries), -1, PATCHCORE_RUN).amin(dim=2))  # (Q, m / run)
        run = torch.cat(minima, dim=1).argmin(dim=1)  # (Q,): the first run holding the minimum
        # That run's entries again, as one small product per query.
        entries = self.run_entries.index_select(0, run)  # (Q, run, D)
        products = torch.bmm(entries, queries.unsqueeze(2)).squeeze(2)  # (Q, run)
        within = (self.run_norms.index_select(0, run) - 2.0 * products).argmin(dim=1)
        return run * PATCHCORE_RUN + within


class CflowInference(nn.Module):
    """CFlow: each scale's probability map stays at its own grid until the final products,
    and each coupling's fixed channel permutation is a product with a one-hot matrix: a
    Gather along the last axis is several times slower in ONNX Runtime, and the product is
    exact (one 1 per column, the rest zeros)."""

    def __init__(self, cflow: Detector):
        super().__init__()
        self.cflow = cflow
        size = cflow.config.image_size
        with torch.no_grad():
            grids = [tuple(f.shape[-2:]) for f in cflow.backbone(torch.zeros(1, 3, size, size))]
        self.grids = grids
        self.maps = MapFactors(grids, size, blur_sigma=0.0)  # CFlow does not blur
        self.offset = float(len(cflow.decoders))  # the map is (scales - fused probability)
        for scale, decoder in enumerate(cflow.decoders):
            for index, block in enumerate(decoder.blocks):
                # (C, C): y @ one_hot == y[..., permutation]
                one_hot = torch.eye(decoder.channels)[:, block.permutation]
                self.register_buffer(f"permute_{scale}_{index}", one_hot)

    def log_likelihood(self, scale: int, fibres: torch.Tensor,
                       projected: list[torch.Tensor]) -> torch.Tensor:
        """`ConditionalFlow.log_likelihood` with the permutations as products, (B, hw).
        The couplings' arithmetic is `ConditionalCoupling.forward`'s; a test holds them equal."""
        decoder = self.cflow.decoders[scale]
        x, log_det = fibres, 0.0
        for index, (block, condition) in enumerate(zip(decoder.blocks, projected)):
            x1, x2 = x.split((block.passive, block.active), dim=-1)
            hidden = torch.relu(F.linear(x1, block.hidden.weight[:, :block.passive]) + condition)
            coefficients = 0.1 * block.out(hidden)
            log_scale = block.clamp * torch.tanh(coefficients[..., :block.active])
            y2 = x2 * torch.exp(log_scale) + coefficients[..., block.active:]
            global_scale = 0.1 * F.softplus(block.global_scale, beta=0.5)  # (C,)
            y = torch.cat((x1, y2), dim=-1) * global_scale + block.global_offset
            log_det = log_det + log_scale.sum(dim=-1) + torch.log(global_scale).sum()
            x = y @ getattr(self, f"permute_{scale}_{index}")
        log_density = -0.5 * x.pow(2).sum(dim=-1) - decoder.channels * LOG_SQRT_2PI + log_det
        return log_density / decoder.channels

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        cflow = self.cflow
        features = cflow.backbone(cflow.backbone.normalize(images))
        terms = []
        for index, feature in enumerate(features):
            batch, _, height, width = feature.shape  # (B, C, h, w)
            fibres = feature.flatten(2).transpose(1, 2)  # (B, hw, C)
            log_prob = self.log_likelihood(index, fibres, cflow._conditions(index, height, width,
                                                                            feature.device))  # (B, hw)
            probability = torch.exp(log_prob - cflow.log_prob_max[index])
            terms.append(-probability.view(batch, height, width))
        maps = working_map(terms, self.maps.factors, self.offset)  # (B, S, S)
        return maps.flatten(1).amax(dim=1), terms


INFERENCE = {"padim": PadimInference, "patchcore": PatchcoreInference, "cflow": CflowInference}


def inference_module(detector: Detector) -> nn.Module:
    """The module to trace for `detector` (see the module's docstring for what it returns)."""
    if detector.name not in INFERENCE:
        raise ValueError(f"the {detector.name} detector has no exportable inference")
    return INFERENCE[detector.name](detector)
