"""The sections every run has whatever its kinds: data, split, model, local training, the baselines, the cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from fedrec.config.base import Seconds, Section


class DataConfig(Section):
    """Which dataset (by catalogue name) and how each user's ratings are held out."""

    name: str = Field("ml-100k", description="the dataset; the task declares which it reads (TaskSpec.datasets)")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of each user's ratings held out as test")
    normalize_features: bool = Field(False, description="graphs: scale each node's features to sum to one")


class SplitConfig(Section):
    """How a classification dataset is divided among clients (recommendation data: one client per user)."""

    kind: Literal["iid", "dirichlet", "shards", "natural", "random", "louvain"] = "dirichlet"
    clients: PositiveInt = 100
    alpha: PositiveFloat = 0.5
    classes_per_client: PositiveInt = 2
    attribute: Literal["workclass", "native-country"] = "workclass"
    min_size: PositiveInt = 10
    node_masks: Literal["public", "random"] = Field(
        "public", description="graphs: Planetoid's public masks, or random ones over all nodes as FS-G draws them"
    )
    val_share: float = Field(0.1, gt=0.0, lt=1.0, description="random node masks: share of nodes for validation")
    test_share: float = Field(0.1, gt=0.0, lt=1.0, description="random node masks: share of nodes for test")

    @model_validator(mode="after")
    def _room_to_train(self) -> SplitConfig:
        if self.val_share + self.test_share >= 1.0:
            raise ValueError("val_share + test_share must leave nodes to train on (sum below 1)")
        return self


class ModelConfig(Section):
    """The model: MF or NCF (``kind``, ranking only for NCF) with ``dim`` factors drawn from N(0, ``init_std``^2), or a
    classifier with ``hidden`` widths."""

    kind: Literal["biased_mf", "gmf", "mlp", "neumf"] = "biased_mf"  # NCF kinds are for task: ranking
    dim: PositiveInt = 32
    init_std: PositiveFloat = 0.01
    hidden: tuple[PositiveInt, ...] = Field((32, 16), min_length=1, description="widths: NCF's tower, classifiers")
    classifier: Literal["logreg", "mlp", "cnn", "gcn", "sage", "gat"] = "logreg"  # classification tasks


class TrainingConfig(Section):
    """An optimizer and its settings: ``lr`` per step, ``momentum`` (SGD), ``weight_decay`` on every parameter, ``l2``
    on what each example uses, minibatches of ``batch_size`` examples."""

    optimizer: Literal["sgd", "adam"] = "adam"
    lr: PositiveFloat = 0.02
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0.0, description="the optimizer's decay of every parameter, each step")
    l2: float = Field(0.08, ge=0.0, description="penalty on the biases and embeddings each example uses")
    batch_size: PositiveInt = 32


class LocalTrainConfig(TrainingConfig):
    """How each client trains on its own data in a round."""

    epochs: PositiveInt = 1
    finetune_epochs: int = Field(
        0, ge=0, description="personalization: each client fine-tunes a personal copy this long before it evaluates"
    )


class CentralizedConfig(TrainingConfig):
    """The baseline that pools every client's training data (``mode: centralized``): same model and split."""

    epochs: PositiveInt = 15
    batch_size: PositiveInt = 256
    lr: PositiveFloat = 0.002
    l2: float = Field(0.1, ge=0.0, description="penalty on the biases and embeddings each example uses")


class DistributedConfig(Section):
    """The client-server cluster over gRPC (``fedrec server`` / ``client`` / ``cluster``)."""

    min_clients: PositiveInt | None = Field(None, description="clients that must join before round 1 (default all)")
    max_message_mb: PositiveInt = 256
    compression: bool = False
    status_every_s: Seconds = Field(30.0, description="a server that hears nothing says what it waits for")
    reply_timeout_s: Seconds | None = Field(
        600.0, description="a client silent this long after TRAIN or EVALUATE is dropped from that step (null: wait)"
    )
    rejoin_wait_s: Seconds = Field(
        600.0, description="when every client has left, wait this long for them to come back, then stop (resumable)"
    )


class RankingConfig(Section):
    """Implicit feedback: every interaction is a positive; negatives are drawn on the client."""

    loss: Literal["bpr", "bce"] = "bpr"
    num_negatives: PositiveInt = 1
    eval_negatives: PositiveInt = 99
    cold_start_users: float = Field(0.0, ge=0.0, lt=1.0, description="share of users held out of training")
    personal: tuple[str, ...] = Field((), description="NCF weights each client keeps, e.g. [mlp_h, gmf_h]")
