"""The run configuration: typed sections (pydantic), tagged by ``kind`` where a kind chooses the keys.

``load_config`` reads a YAML file plus ``--set`` overrides; ``RunConfig`` is the validated result; every
error a user can make ends in one ``ConfigError`` line naming the key and the fix.
"""

from fedrec.config.base import Seconds, Section
from fedrec.config.devices import DevicesConfig, LognormalDevices, TraceDevices, UniformDevices
from fedrec.config.federation import (
    AdagradServerStep,
    AdaptiveServerStep,
    FedAvgClients,
    FedBuffPolicy,
    FederationConfig,
    FedProxClients,
    MomentumServerStep,
    PlainServerStep,
    ScaffoldClients,
    SyncPolicy,
)
from fedrec.config.loading import build_config, dump_config, load_config, parse_override, valid_keys
from fedrec.config.privacy import LocalDP, NoDP, PrivacyConfig, SecureAggregation, UserDP
from fedrec.config.schema import RunConfig
from fedrec.config.sections import (
    CentralizedConfig,
    DataConfig,
    DistributedConfig,
    LocalTrainConfig,
    ModelConfig,
    RankingConfig,
    SplitConfig,
    TrainingConfig,
)

__all__ = [
    "AdagradServerStep", "AdaptiveServerStep", "CentralizedConfig", "DataConfig", "DevicesConfig",
    "DistributedConfig", "FedAvgClients", "FedBuffPolicy", "FedProxClients", "FederationConfig", "LocalDP",
    "LocalTrainConfig", "LognormalDevices", "ModelConfig", "MomentumServerStep", "NoDP", "PlainServerStep",
    "PrivacyConfig", "RankingConfig", "RunConfig", "ScaffoldClients", "Section", "Seconds", "SecureAggregation",
    "SplitConfig", "SyncPolicy", "TraceDevices", "TrainingConfig", "UniformDevices", "UserDP", "build_config",
    "dump_config", "load_config", "parse_override", "valid_keys",
]  # fmt: skip
