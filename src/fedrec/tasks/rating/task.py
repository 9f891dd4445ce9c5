"""The rating task: federated biased MF on explicit ratings, one client per user.

A host of this task holds, for each of its clients, that user's training and test ratings and the user's
private parameters (embedding and bias). Those never leave the host: an update carries only the global
bias and the rows of the items the client trained on, and evaluation sends back only sums of errors.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from fedrec.data.ratings import RatingSplit
from fedrec.engine.objective import check_same_clients, load_objective_state, objective_state
from fedrec.engine.plausible import as_mask, exceeds, missing, not_a_count
from fedrec.engine.shards import ClientShards, HostedClients
from fedrec.engine.types import Execution, LocalTraining, MFShape
from fedrec.models.mf import init_item_side, init_user_side, predict
from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums
from fedrec.tasks.base import Task
from fedrec.tasks.rating.cohort import train_mf_cohort
from fedrec.tasks.rating.pseudo_items import with_pseudo_items
from fedrec.tasks.rating.sequential import train_mf_sequentially

FINETUNE_ROUND = 1 << 40  # a round number no training round uses: fine-tuning shuffles its own way


class RatingTask(HostedClients, Task):
    """Training and evaluation for the clients of one host."""

    row_sparse = frozenset({"item_emb", "item_bias"})

    def __init__(
        self,
        split: RatingSplit,
        client_ids: np.ndarray,
        shape: MFShape,
        local: LocalTraining,
        execution: Execution,
        finetune_epochs: int = 0,
        pseudo_items: float = 0.0,
    ) -> None:
        self.split = split
        self.finetune_epochs = finetune_epochs
        self.pseudo_items = pseudo_items  # unrated items trained per rated one, with virtual ratings (privacy)
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.shape = shape
        self.local = local
        self.execution = execution
        self.train_shards = ClientShards(split.train, self.client_ids)
        self.test_shards = ClientShards(split.test, self.client_ids)
        users = init_user_side(split.train.num_users, shape.dim, shape.init_std, local.seed)
        self.user_emb = users["user_emb"][self.client_ids - 1].clone()
        self.user_bias = users["user_bias"][self.client_ids - 1].clone()

    def initial_model(self) -> GlobalModel:
        low, high = self.split.train.rating_range
        params = init_item_side(
            self.split.train.num_items, self.shape.dim, self.shape.init_std, (low + high) / 2, self.local.seed
        )
        return GlobalModel(params, self.row_sparse)

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        pos = self.positions(client_ids)
        data = self.train_shards.cohort(pos, client_ids)
        if self.pseudo_items:
            data = with_pseudo_items(data, self.split.train.num_items, self.pseudo_items, self.local.seed, round_index)
        run = train_mf_cohort if self.execution == "cohort" else train_mf_sequentially
        result = run(data, self.user_emb[pos], self.user_bias[pos], model, self.local, round_index)
        back = self.positions(result.updates.client_ids)
        self.user_emb[back] = result.user_emb
        self.user_bias[back] = result.user_bias
        if self.pseudo_items:  # a client's weight is its real count (the server knows it from JOIN)
            real = torch.from_numpy(self.train_shards.counts[back]).to(result.updates.num_examples.dtype)
            return replace(result.updates, num_examples=real)
        return result.updates

    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        """Error sums of each client on its own test ratings; with ``finetune_epochs``, also (``ft_*``) after
        it fine-tunes a personal copy of its model on its own training ratings (never uploaded, not kept)."""
        pos = self.positions(client_ids)
        data = self.test_shards.cohort(pos, client_ids)
        owner = torch.from_numpy(np.repeat(pos, data.counts))
        truth = torch.from_numpy(data.ratings)
        per_client = torch.from_numpy(np.repeat(np.arange(len(pos)), data.counts))

        def per(values: Tensor) -> Tensor:
            return torch.zeros(len(pos), dtype=torch.float64).index_add_(0, per_client, values)

        err = (self.predict(owner, torch.from_numpy(data.items), model) - truth).double()
        sums = {"sse": per(err**2), "sae": per(err.abs()), "count": per(torch.ones_like(err))}
        if self.finetune_epochs:
            emb, bias, global_bias = self._finetuned(client_ids, model)
            low, high = self.split.train.rating_range
            items = torch.from_numpy(data.items)
            p = model.params
            raw = predict(global_bias[per_client], bias[per_client], emb[per_client], p["item_bias"][items],
                          p["item_emb"][items])  # fmt: skip
            ft = (raw.clamp(low, high) - truth).double()
            sums |= {"ft_sse": per(ft**2), "ft_sae": per(ft.abs())}
        return MetricSums(client_ids, sums)

    def _finetuned(self, client_ids: np.ndarray, model: GlobalModel) -> tuple[Tensor, Tensor, Tensor]:
        """Each client's personal user side and global bias after fine-tuning, in ``client_ids`` order.

        A client's test items are items it never trained on, so its personal copy of the item table agrees
        with the global one on them: only the user side and the global bias change its predictions."""
        pos = self.positions(client_ids)
        data = self.train_shards.cohort(pos, client_ids)
        local = self.local.plain(self.finetune_epochs)  # a personal copy: no client term
        result = train_mf_cohort(data, self.user_emb[pos], self.user_bias[pos], model, local, FINETUNE_ROUND)
        slot = torch.from_numpy(np.searchsorted(client_ids, result.updates.client_ids))
        emb, bias = torch.empty_like(self.user_emb[pos]), torch.empty_like(self.user_bias[pos])
        emb[slot], bias[slot] = result.user_emb, result.user_bias
        global_bias = torch.empty(len(pos), dtype=model.params["global_bias"].dtype)
        global_bias[slot] = model.params["global_bias"] + result.updates.dense["global_bias"].reshape(-1)
        return emb, bias, global_bias

    @torch.no_grad()
    def predict(self, positions: Tensor, items: Tensor, model: GlobalModel) -> Tensor:
        """Ratings predicted for (hosted client position, item) pairs, clipped to the rating scale."""
        low, high = self.split.train.rating_range
        p = model.params
        raw = predict(
            p["global_bias"],
            self.user_bias[positions],
            self.user_emb[positions],
            p["item_bias"][items],
            p["item_emb"][items],
        )
        return raw.clamp(low, high)

    def private_state(self) -> dict[str, Tensor]:
        return {
            "client_ids": torch.from_numpy(self.client_ids),
            "user_emb": self.user_emb,
            "user_bias": self.user_bias,
            **objective_state(self.local.objective),  # SCAFFOLD's client controls
        }

    def load_private_state(self, state: dict[str, Tensor]) -> None:
        """Resume the clients' own embeddings and biases from ``private_state()``."""
        check_same_clients(state, self.client_ids)
        self.user_emb, self.user_bias = state["user_emb"].clone(), state["user_bias"].clone()
        load_objective_state(self.local.objective, state)


class RatingMetrics:
    """Combines clients' error sums into test RMSE and MAE. ``span``: the rating scale's width (predictions
    are clipped to the scale, so one error is at most ``span``); ``most``: the most test ratings one client
    can hold (the dataset's); None leaves either unbounded."""

    def __init__(self, span: float | None = None, most: int | None = None) -> None:
        self.span, self.most = span, most

    def combine(self, sums: list[MetricSums]) -> dict[str, float]:
        """Test RMSE and MAE over every held-out rating (and the fine-tuned copies' where there are)."""
        count = sum(s.total("count") for s in sums)
        sse = sum(s.total("sse") for s in sums)
        sae = sum(s.total("sae") for s in sums)
        metrics = {"test_rmse": float(np.sqrt(sse / count)), "test_mae": sae / count}
        if all("ft_sse" in s.sums and "ft_sae" in s.sums for s in sums):
            metrics["ft_rmse"] = float(np.sqrt(sum(s.total("ft_sse") for s in sums) / count))
            metrics["ft_mae"] = sum(s.total("ft_sae") for s in sums) / count
        return metrics

    def implausible(self, sums: MetricSums) -> tuple[str | None, np.ndarray]:
        """Sums no evaluation makes: a count that is not a whole number, errors beyond the scale."""
        problem = missing(sums, {"sse", "sae", "count"} | ({"ft_sse", "ft_sae"} & set(sums.sums)))
        if problem is not None:
            return problem, np.zeros(len(sums.client_ids), dtype=bool)
        count = sums.sums["count"]
        span = torch.full_like(count, torch.inf) if self.span is None else torch.full_like(count, self.span)
        bad = not_a_count(count) | (count > (self.most if self.most is not None else torch.inf))
        for name in ("sse", "ft_sse"):
            if name in sums.sums:
                bad |= exceeds(sums.sums[name], count * span**2)
        for name in ("sae", "ft_sae"):
            if name in sums.sums:
                bad |= exceeds(sums.sums[name], count * span)
        return None, as_mask(bad)
