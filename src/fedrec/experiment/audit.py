"""``fedrec audit``: the rated-item inference attack against one round of uploads, under each protection.

A cohort of clients trains one round on the run's model (its checkpoint, or the initial model), and the
attack reads what the server would receive: the plain sparse upload, an upload padded with pseudo-items,
a local-DP upload, and a masked vector under secure aggregation. The result is written to ``audit.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fedrec.checkpoint_check import CheckpointCheck
from fedrec.config import RunConfig, load_config
from fedrec.errors import FedrecError
from fedrec.experiment.build import build_task
from fedrec.experiment.task_specs.rating import load_split
from fedrec.payloads import ClientUpdates, GlobalModel
from fedrec.privacy.audit import AttackResult, attack, masked_scores, row_scores
from fedrec.privacy.secagg.encoding import SecureEncoding
from fedrec.privacy.uploads import PrivateUploads
from fedrec.run_folder import SERVER_CHECKPOINT
from fedrec.tasks.rating.task import RatingTask


@dataclass(frozen=True)
class AuditSettings:
    clients: int = 100
    pseudo_items: float = 1.0
    local_noise: float = 1.0
    clip_norm: float = 0.5
    seed: int = 0


def run_audit(config: RunConfig, settings: AuditSettings, model: GlobalModel | None = None) -> dict[str, AttackResult]:
    """Attack the uploads of one round under the run's privacy settings (or of a given ``model``): for each attack, how
    well it guesses which items each user rated. Raises ``ConfigError`` for a task whose uploads name no items."""
    if config.task != "rating":
        raise FedrecError(
            f"the audit attacks the recommender's uploads (task rating); this run's task is {config.task}"
        )
    split = load_split(config)
    users = split.train.num_users
    if settings.clients > users:
        raise FedrecError(f"--clients {settings.clients} is more than the {users} users of {config.data.name}")
    rng = np.random.default_rng([settings.seed, 0xA0D])
    ids = np.sort(rng.choice(np.arange(1, users + 1), size=min(settings.clients, users), replace=False))

    def uploads(pseudo: float = 0.0) -> RatingTask:  # each protection's clients start from the same state
        task = build_task(_padded(config, pseudo), split, ids)
        assert isinstance(task, RatingTask)
        return task

    plain_task = uploads()
    model = model or plain_task.initial_model()
    num_items = model.params["item_emb"].shape[0]
    data = plain_task.train_shards.cohort(np.arange(len(ids)), ids)
    rated = dict(zip(ids.tolist(), np.split(data.items, np.cumsum(data.counts)[:-1]), strict=True))

    def truth(updates: ClientUpdates) -> list[np.ndarray]:  # in the order the upload lists its clients
        return [rated[c] for c in updates.client_ids.tolist()]

    results = {}
    plain = plain_task.train(ids, model, 1)
    results["plain"] = attack(row_scores(plain, num_items), truth(plain), plain.nbytes / len(ids))
    padded = uploads(settings.pseudo_items).train(ids, model, 1)
    name = f"pseudo-items x{settings.pseudo_items:g}"
    results[name] = attack(row_scores(padded, num_items), truth(padded), padded.nbytes / len(ids))
    noisy = PrivateUploads(uploads(), settings.clip_norm, settings.local_noise, settings.seed).train(ids, model, 1)
    name = f"local DP z={settings.local_noise:g}"
    results[name] = attack(row_scores(noisy, num_items), truth(noisy), noisy.nbytes / len(ids))
    masked = masked_scores(plain, model)
    results["secure aggregation"] = attack(masked, truth(plain), SecureEncoding().dim(model) * 8.0)
    return results


def _padded(config: RunConfig, pseudo_items: float) -> RunConfig:
    privacy = config.privacy.model_copy(update={"pseudo_items": pseudo_items})
    return config.model_copy(update={"privacy": privacy})


def _same_model_and_data(trained: RunConfig, audited: RunConfig) -> None:
    """``--set`` may change how clients train for the audit, not the model or data the checkpoint holds."""
    for section in ("task", "data", "model", "seed"):
        if getattr(trained, section) != getattr(audited, section):
            raise FedrecError(
                f"with --run, --set cannot change {section}: the checkpoint holds the run's own; "
                "to audit another setup's initial model, use --config FILE"
            )


def audit_run(
    run_dir: Path | None, config_path: Path | None, overrides: list[str], settings: AuditSettings
) -> tuple[dict[str, AttackResult], Path | None]:
    """Audit a finished run's model (``run_dir``), or a config's initial model; saves ``audit.json``."""
    model = None
    if run_dir is not None:
        if not (run_dir / "config.yaml").is_file():
            raise FedrecError(
                f"{run_dir} is not a fedrec run folder (no config.yaml); pass the folder `fedrec run` printed"
            )
        config = load_config(run_dir / "config.yaml", overrides)
        _same_model_and_data(load_config(run_dir / "config.yaml"), config)
        saved = CheckpointCheck(run_dir / SERVER_CHECKPOINT, fix="train the run again, or restore its folder").load()
        model = GlobalModel({k: v for k, v in saved.items() if k != "round"}, RatingTask.row_sparse)
    else:
        config = load_config(config_path, overrides)
    results = run_audit(config, settings, model)
    if run_dir is not None:
        body = {"settings": asdict(settings), "results": {k: asdict(v) for k, v in results.items()}}
        (run_dir / "audit.json").write_text(json.dumps(body, indent=2) + "\n")
    return results, run_dir
