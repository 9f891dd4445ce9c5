"""The ranking task: federated MF on implicit feedback, one client per user, evaluated on the client.

A host holds, for each of its clients, the user's training interactions, held-out item and evaluation
negatives, and the user's private embedding. Updates carry only rows of the item table (the positives and
the negatives the client drew); evaluation sends back only sums of HR/NDCG.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from fedrec.data.implicit import LeaveOneOut
from fedrec.engine.objective import check_same_clients, load_objective_state, objective_state
from fedrec.engine.plausible import as_mask, exceeds, missing, not_a_count
from fedrec.engine.shards import ClientShards, HostedClients
from fedrec.engine.types import CohortData, Execution, MFShape
from fedrec.models.mf import init_user_side
from fedrec.models.ncf import NCF_KINDS, init_ncf, ncf_scores
from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums
from fedrec.tasks.base import Task
from fedrec.tasks.ranking.cohort import RANKING_TABLES, RankingTraining, train_ranking_cohort
from fedrec.tasks.ranking.metrics import hit, ndcg, rank_of, rank_of_first
from fedrec.tasks.ranking.ncf import train_ncf_cohort, train_ncf_sequentially
from fedrec.tasks.ranking.sequential import train_ranking_sequentially

PROTOCOL = "leave-one-out: hr@10/ndcg@10 against 99 sampled negatives; recall@20/ndcg@20 against all unseen items"
EVAL_CHUNK = 1024
NCF_ITEM_CHUNK = 512
RECONSTRUCTION_EPOCHS = 5
FINETUNE_ROUND = 1 << 40  # a round number no training round uses: fine-tuning draws its own negatives


class RankingTask(HostedClients, Task):
    """Implicit-feedback clients one host holds (one per user): each trains MF or NCF on its interactions with sampled
    negatives (BPR or BCE), keeps its user embedding, and is evaluated leave-one-out (HR@10 and NDCG@10 against
    sampled negatives; Recall@20 and NDCG@20 against all unseen items)."""

    row_sparse = frozenset(RANKING_TABLES)

    def __init__(
        self,
        split: LeaveOneOut,
        client_ids: np.ndarray,
        shape: MFShape,
        spec: RankingTraining,
        execution: Execution,
        finetune_epochs: int = 0,
        cold_users: np.ndarray | None = None,
        kind: str = "mf",
        hidden: tuple[int, ...] = (32, 16),
        personal: tuple[str, ...] = (),
    ) -> None:
        self.kind, self.hidden, self.personal_names = kind, hidden, personal
        self.finetune_epochs = finetune_epochs
        self.split = split
        self.client_ids = np.sort(np.asarray(client_ids, dtype=np.int64))
        self.shape, self.spec, self.execution = shape, spec, execution
        self.train_shards = ClientShards(split.train, self.client_ids)
        train = split.train
        hosted = np.isin(train.users, self.client_ids - 1)
        self.positive_keys = np.unique((train.users[hosted] + 1) * train.num_items + train.items[hosted])
        users = init_user_side(train.num_users, shape.dim, shape.init_std, spec.local.seed)
        self.user_emb = users["user_emb"][self.client_ids - 1].clone()
        self.final_model: GlobalModel | None = None  # set by trainers that do not go through a server
        # users held out of training: they join with no examples (never sampled) and are evaluated by fitting
        # their own embedding on the device against the frozen item table
        self.has_cold_users = cold_users is not None and len(cold_users) > 0
        self.cold = np.isin(self.client_ids, cold_users if cold_users is not None else np.empty(0, dtype=np.int64))
        # a user whose only interaction is held out has nothing to train on: their untrained embedding would
        # be scored as if it had learnt something, so they are left out of evaluation (counted in the summary)
        self.evaluated = self.train_shards.counts > 0
        if personal:
            self._personal_state()  # refuses names the model has no weights for, before any round

    def initial_model(self) -> GlobalModel:
        if self.kind in NCF_KINDS:
            params = self._ncf_init()
            return GlobalModel({n: v for n, v in params.items() if n not in self.personal_names}, self.row_sparse)
        generator = torch.Generator().manual_seed(self.spec.local.seed)
        items = self.split.train.num_items
        params = {
            "item_emb": torch.randn(items, self.shape.dim, generator=generator) * self.shape.init_std,
            "item_bias": torch.zeros(items),
        }
        return GlobalModel(params, self.row_sparse)

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        pos = self.positions(client_ids)
        shard = self.train_shards.cohort(pos, client_ids)
        data = CohortData(shard.client_ids, shard.counts, shard.items, shard.ratings)
        if self.kind in NCF_KINDS:
            ncf = train_ncf_cohort if self.execution == "cohort" else train_ncf_sequentially
            state = self._personal_state()
            mine = {n: v[torch.from_numpy(pos)] for n, v in state.items()}
            result = ncf(self.kind, data, self.user_emb[pos], model, self.spec, round_index, self.positive_keys, mine)
            back = torch.from_numpy(self.positions(result.updates.client_ids))
            for name, value in result.personal.items():
                state[name][back] = value
        else:
            run = train_ranking_cohort if self.execution == "cohort" else train_ranking_sequentially
            result = run(data, self.user_emb[pos], model, self.spec, round_index, self.positive_keys)
        self.user_emb[self.positions(result.updates.client_ids)] = result.user_emb
        return result.updates

    @torch.no_grad()
    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        parts = [
            self._evaluate_chunk(client_ids[i : i + EVAL_CHUNK], model) for i in range(0, len(client_ids), EVAL_CHUNK)
        ]
        sums = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return MetricSums(client_ids, sums)

    def _ncf_init(self) -> dict[str, Tensor]:
        items = self.split.train.num_items
        return init_ncf(self.kind, items, self.shape.dim, self.hidden, self.shape.init_std, self.spec.local.seed)

    def _personal_state(self) -> dict[str, Tensor]:
        """Each hosted client's own copy of the weights it keeps (PFedRec keeps the score function)."""
        if not hasattr(self, "_personal"):
            unknown = (
                set(self.personal_names) - set(self._ncf_init()) if self.kind in NCF_KINDS else set(self.personal_names)
            )
            if unknown:
                names = ", ".join(sorted(set(self._ncf_init()) - self.row_sparse)) if self.kind in NCF_KINDS else ""
                raise ValueError(
                    f"cannot keep {sorted(unknown)} personal: model {self.kind} has no such weights"
                    + (f" (it has {names})" if names else "")
                )
            start = self._ncf_init() if self.personal_names else {}
            clients = len(self.client_ids)
            self._personal = {n: start[n].expand(clients, *start[n].shape).clone() for n in self.personal_names}
        return self._personal

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        counts = super().num_examples(client_ids).copy()
        counts[self.cold[self.positions(client_ids)]] = 0
        return counts

    def _evaluate_chunk(self, client_ids: np.ndarray, model: GlobalModel) -> dict[str, Tensor]:
        user_emb = self.user_emb[torch.from_numpy(self.positions(client_ids))]
        cold = self.cold[self.positions(client_ids)]
        if cold.any():
            user_emb = user_emb.clone()
            user_emb[torch.from_numpy(cold)] = self._reconstruct(
                client_ids[cold], user_emb[torch.from_numpy(cold)], model
            )
        metrics = self._metrics(client_ids, self.scores(user_emb, model, client_ids))
        if self.finetune_epochs:
            personal = self._finetuned_scores(client_ids, user_emb, model)
            metrics |= {f"ft_{k}": v for k, v in self._metrics(client_ids, personal).items() if k != "count"}
        evaluated = self.evaluated[self.positions(client_ids)]
        metrics = {k: v * torch.from_numpy(evaluated).double() for k, v in metrics.items()}
        if self.has_cold_users:  # held-out users are reported apart from those who trained
            weight = torch.from_numpy(cold & evaluated).double()
            cold_metrics = {
                f"cold_{k}": v * weight for k, v in metrics.items() if k != "count" and not k.startswith("ft_")
            }
            metrics = {k: v * (1 - weight) if k != "count" else v for k, v in metrics.items()}
            metrics |= cold_metrics | {"cold_count": weight}
        return metrics

    def scores(self, user_emb: Tensor, model: GlobalModel, client_ids: np.ndarray | None = None) -> Tensor:
        """Every item's score for each user: ``[users, items]`` (with their personal weights, if any)."""
        emb, bias = model.params["item_emb"], model.params["item_bias"]
        if self.kind not in NCF_KINDS:
            return user_emb @ emb.T + bias
        users = len(user_emb)
        weights = {n: v.expand(users, *v.shape) for n, v in model.params.items() if n not in self.row_sparse}
        if self.personal_names:
            assert client_ids is not None
            rows = torch.from_numpy(self.positions(client_ids))
            weights |= {n: v[rows] for n, v in self._personal_state().items()}
        parts = []
        for start in range(0, emb.shape[0], NCF_ITEM_CHUNK):
            block = emb[start : start + NCF_ITEM_CHUNK]
            items = block.expand(users, *block.shape)
            item_bias = bias[start : start + NCF_ITEM_CHUNK].expand(users, -1)
            parts.append(ncf_scores(self.kind, weights, user_emb, items, item_bias))
        return torch.cat(parts, 1)

    def _metrics(self, client_ids: np.ndarray, scores: Tensor) -> dict[str, Tensor]:
        """HR/NDCG of the held-out item against the 99 negatives and against every unseen item."""
        users = torch.from_numpy(client_ids - 1)
        test = torch.from_numpy(self.split.test_items)[users]
        candidates = torch.cat([test.unsqueeze(1), torch.from_numpy(self.split.eval_negatives)[users]], 1)
        loo_rank = rank_of_first(scores.gather(1, candidates))
        full_rank = rank_of(torch.where(self._seen_mask(client_ids, scores.shape[1]), -torch.inf, scores), test)
        return {
            "hr@10": hit(loo_rank, 10),
            "ndcg@10": ndcg(loo_rank, 10),
            "recall@20": hit(full_rank, 20),
            "ndcg@20": ndcg(full_rank, 20),
            "count": torch.ones(len(client_ids), dtype=torch.float64),
        }

    def _reconstruct(self, client_ids: np.ndarray, user_emb: Tensor, model: GlobalModel) -> Tensor:
        """Each held-out user fits their own embedding on their own data, the item table frozen."""
        pos = self.positions(client_ids)
        shard = self.train_shards.cohort(pos, client_ids)
        data = CohortData(shard.client_ids, shard.counts, shard.items, shard.ratings)
        spec = replace(self.spec, local=self.spec.local.plain(RECONSTRUCTION_EPOCHS))
        result = train_ranking_cohort(data, user_emb, model, spec, FINETUNE_ROUND + 1, self.positive_keys, True)
        fitted = torch.empty_like(user_emb)
        fitted[torch.from_numpy(np.searchsorted(client_ids, result.updates.client_ids))] = result.user_emb
        return fitted

    def _finetuned_scores(self, client_ids: np.ndarray, user_emb: Tensor, model: GlobalModel) -> Tensor:
        """Scores after each client fine-tunes a personal copy of the model on its own data (never uploaded).

        The personal copy differs from the global table only in the rows the client trained, so the scores
        are the global ones with those items' entries recomputed.
        """
        pos = self.positions(client_ids)
        shard = self.train_shards.cohort(pos, client_ids)
        data = CohortData(shard.client_ids, shard.counts, shard.items, shard.ratings)
        spec = replace(self.spec, local=self.spec.local.plain(self.finetune_epochs))  # a personal copy: no term
        result = train_ranking_cohort(data, user_emb, model, spec, FINETUNE_ROUND, self.positive_keys)
        slot = np.searchsorted(client_ids, result.updates.client_ids)  # client_ids are sorted
        personal_users = torch.empty_like(user_emb)
        personal_users[torch.from_numpy(slot)] = result.user_emb
        emb, bias = model.params["item_emb"], model.params["item_bias"]
        scores = personal_users @ emb.T + bias
        rows = result.updates.rows
        owner = torch.from_numpy(slot)[rows.owner]
        personal_rows = emb[rows.index] + rows.values["item_emb"]
        scores[owner, rows.index] = (
            (personal_users[owner] * personal_rows).sum(-1) + bias[rows.index] + rows.values["item_bias"]
        )
        return scores

    def _seen_mask(self, client_ids: np.ndarray, num_items: int) -> Tensor:
        train = self.split.train
        keep = np.isin(train.users, client_ids - 1)
        rows = np.searchsorted(client_ids - 1, train.users[keep])
        mask = torch.zeros(len(client_ids), num_items, dtype=torch.bool)
        mask[torch.from_numpy(rows), torch.from_numpy(train.items[keep])] = True
        return mask

    def private_state(self) -> dict[str, Tensor]:
        personal = {f"personal.{k}": v for k, v in getattr(self, "_personal", {}).items()}
        own = objective_state(self.spec.local.objective)  # SCAFFOLD's client controls
        return {"client_ids": torch.from_numpy(self.client_ids), "user_emb": self.user_emb, **personal, **own}

    def load_private_state(self, state: dict[str, Tensor]) -> None:
        """Resume the clients' own embeddings (and the weights they keep personal) from ``private_state()``."""
        check_same_clients(state, self.client_ids)
        self.user_emb = state["user_emb"].clone()
        personal = {k[len("personal.") :]: v.clone() for k, v in state.items() if k.startswith("personal.")}
        if personal:
            self._personal = personal
        load_objective_state(self.spec.local.objective, state)


class RankingMetrics:
    """Means over users of each client's HR, NDCG and recall (and their fine-tuned versions, if any)."""

    def combine(self, sums: list[MetricSums]) -> dict[str, float]:
        """The round's ranking figures, means over the users evaluated."""
        shared = set.intersection(*(set(s.sums) for s in sums))
        names = [k for k in sums[0].sums if k in shared and not k.endswith("count")]
        totals = {k: sum(s.total(k) for s in sums) for k in [*names, "count", "cold_count"] if k in shared}
        count, cold = totals["count"] - totals.get("cold_count", 0.0), totals.get("cold_count", 0.0)
        return {
            k: totals[k] / (cold if k.startswith("cold_") else count)
            for k in names
            if (cold if k.startswith("cold_") else count)
        }

    def implausible(self, sums: MetricSums) -> tuple[str | None, np.ndarray]:
        """Sums no evaluation makes: a client is one user (count 0 or 1), and every metric is a mean of
        per-user values in [0, 1] (``cold_*`` over the held-out users), so a client's sum is at most its count."""
        cold = {k for k in sums.sums if k.startswith("cold_")}
        problem = missing(sums, set(sums.sums) | {"count"} | ({"cold_count"} if cold else set()))
        if problem is not None:
            return problem, np.zeros(len(sums.client_ids), dtype=bool)
        count = sums.sums["count"]
        bad = not_a_count(count) | (count > 1)  # a client is one user
        for name, value in sums.sums.items():
            if name == "count":
                continue
            bad |= exceeds(value, sums.sums["cold_count"] if name in cold - {"cold_count"} else count)
        return None, as_mask(bad)
