"""Updates as vectors of the ring Z_2^64 for secure aggregation, and the recovered sum back as an update.

Fixed point with ``SCALE_BITS`` fractional bits: a value x travels as round(x * 2^24) in two's complement,
so sums of positive and negative values wrap correctly, and the sum of a round's vectors decodes exactly
(up to each client's rounding, at most 2^-25 per coordinate). Every federated parameter is covered in full,
the whole item table included: a vector that covered only the rated rows would name them.

- FedAvg (``weighted``): a client sends n_k * delta for dense parameters, w_kr * delta_r for every row of each
  table with the row weights w_kr beside them, and n_k; the decoded sum is the weighted mean (``SecureMean``),
  which the FedAvg aggregator applies exactly as it would the separate updates.
- User-level DP (not weighted): a client sends its clipped delta plus its share of the Gaussian noise,
  standard deviation ``noise_std / sqrt(min_survivors)``: a sum of at least ``min_survivors`` of them carries
  at least the noise the accountant assumed. The decoded sum is a ``NoisySum``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from fedrec.payloads import ClientUpdates, GlobalModel, scatter_rows
from fedrec.privacy.noise import client_gaussian
from fedrec.privacy.sums import NoisySum, SecureMean

SCALE_BITS = 24
_SCALE = float(2**SCALE_BITS)
_LIMIT = float(2**62) / _SCALE  # larger values cannot be summed without wrapping


def quantize(values: torch.Tensor) -> np.ndarray:
    """Values as fixed point with 24 fractional bits in the ring Z_2^64 (uint64, two's complement), clamped so a sum of
    many cannot wrap."""
    clamped = values.double().nan_to_num(0.0).clamp(-_LIMIT / 1024, _LIMIT / 1024)
    fixed: np.ndarray = torch.round(clamped * _SCALE).to(torch.int64).numpy().view(np.uint64)
    return fixed


def dequantize(total: np.ndarray) -> torch.Tensor:
    """A ring sum (uint64) back to float64 values."""
    return torch.from_numpy(total.view(np.int64).astype(np.float64) / _SCALE)


@dataclass(frozen=True)
class SecureEncoding:
    weighted: bool = True  # FedAvg's weighted mean; False: DP's plain sum with noise shares
    noise_std: float = 0.0  # the noise the sum must carry (DP): z * clip_norm
    min_survivors: int = 1  # the fewest clients whose sum is unmasked (DP noise is split among this many)
    seed: int = 0
    secure: bool = False  # noise from the OS (real devices), not from the run's seed

    def names(self, model: GlobalModel) -> list[str]:
        """The parameters a vector covers, in order."""
        return sorted(model.params)

    def dim(self, model: GlobalModel) -> int:
        """Words of each client's vector: every parameter in full, plus (FedAvg) each table row's weight and the
        example count."""
        size = sum(t.numel() for t in model.params.values())
        if self.weighted:
            size += self._rows(model) + 1
        return size

    def encode(self, updates: ClientUpdates, model: GlobalModel, round_index: int) -> np.ndarray:
        """Each client's vector, ``[n, dim]`` uint64, in the order of ``updates.client_ids``."""
        return quantize(self._flat(updates, model, round_index))

    def decode(self, total: np.ndarray, model: GlobalModel) -> SecureMean | NoisySum:
        """The unmasked sum ``total`` (uint64 ``[dim]``) as the aggregator takes it: FedAvg's weighted mean
        (``SecureMean``) or, under DP, the noisy sum of clipped updates (``NoisySum``)."""
        flat = dequantize(total)
        sums, at = {}, 0
        for name in self.names(model):
            shape = model.params[name].shape
            size = math.prod(shape)
            sums[name] = flat[at : at + size].reshape(shape).to(model.params[name].dtype)
            at += size
        if not self.weighted:
            return NoisySum(sums)
        row_weight = flat[at : at + self._rows(model)]
        examples = flat[at + self._rows(model)]
        dense = {k: v / examples for k, v in sums.items() if k not in model.row_sparse}
        touched = torch.nonzero(row_weight > 0.5 / _SCALE).reshape(-1)
        values = {
            k: (v[touched].double() / row_weight[touched].reshape(-1, *([1] * (v.dim() - 1)))).to(v.dtype)
            for k, v in sums.items()
            if k in model.row_sparse
        }
        return SecureMean(dense, touched, row_weight[touched].float(), values, float(examples))

    def _rows(self, model: GlobalModel) -> int:
        tables = [model.params[name].shape[0] for name in model.row_sparse]
        if len(set(tables)) > 1:
            raise ValueError("secure aggregation expects the row-sparse tables to have the same rows")
        return tables[0] if tables else 0

    def _flat(self, updates: ClientUpdates, model: GlobalModel, round_index: int) -> torch.Tensor:
        n, rows = len(updates.client_ids), updates.rows
        ones = torch.ones(n, dtype=torch.float64)
        examples = updates.num_examples.double() if self.weighted else ones
        row_weight = rows.weight.double() if self.weighted else torch.ones(len(rows.index), dtype=torch.float64)
        parts = []
        for name in self.names(model):
            shape = model.params[name].shape
            if name in updates.dense:
                parts.append(updates.dense[name].double().reshape(n, -1) * examples[:, None])
            elif name in rows.values:
                values = rows.values[name].double() * row_weight.reshape(-1, *([1] * (rows.values[name].dim() - 1)))
                parts.append(scatter_rows(rows.index, values, shape[0], rows.owner, n).reshape(n, -1))
            else:
                parts.append(torch.zeros(n, math.prod(shape), dtype=torch.float64))
        if self.weighted:
            parts += [scatter_rows(rows.index, row_weight, self._rows(model), rows.owner, n), examples[:, None]]
        flat = torch.cat(parts, dim=1)
        if self.noise_std:  # each client's share of the noise, drawn on its device
            noise = client_gaussian(updates.client_ids, flat.shape[1], self.seed, round_index, 0x5EC, self.secure)
            flat = flat + self.noise_std / math.sqrt(self.min_survivors) * noise
        return flat
