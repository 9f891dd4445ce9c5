"""One minibatch step of biased MF with autograd and ``torch.optim``: the reference every path agrees with."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from fedrec.engine.optim import OptimizerSettings
from fedrec.models.mf import BiasedMF


def mf_optimizer(net: BiasedMF, settings: OptimizerSettings) -> torch.optim.Optimizer:
    """Weight decay applies to the biases and embeddings, never to the global offset."""
    decayed = [net.user_emb, net.user_bias, net.item_emb, net.item_bias]
    return settings.torch_optimizer(
        [
            {"params": decayed, "weight_decay": settings.weight_decay},
            {"params": [net.global_bias], "weight_decay": 0.0},
        ]
    )


def mf_step(
    net: BiasedMF,
    optimizer: torch.optim.Optimizer,
    users: Tensor,
    items: Tensor,
    target: Tensor,
    l2: float,
    term: Callable[[], Tensor] | None = None,
    after_backward: Callable[[], None] | None = None,
) -> None:
    """Minimise the batch mean of ``(pred - r)^2 + l2 * (b_u^2 + b_i^2 + |p_u|^2 + |q_i|^2)``, plus ``term()``
    (a client algorithm's term, e.g. FedProx's) if given; ``after_backward`` may change the gradients before
    the step (SCAFFOLD's correction)."""
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(net(users, items), target)
    if l2:
        loss = loss + l2 * net.penalty(users, items)
    if term is not None:
        loss = loss + term()
    loss.backward()  # type: ignore[no-untyped-call]
    if after_backward is not None:
        after_backward()
    optimizer.step()
