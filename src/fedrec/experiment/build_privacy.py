"""The privacy pieces of a run, from its ``privacy`` section: ledger, aggregator, what leaves a device."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from fedrec.algorithms.dp_fedavg import DPFedAvg
from fedrec.algorithms.server_opt import ServerStep
from fedrec.config import LocalDP, NoDP, RunConfig, UserDP
from fedrec.privacy.accountant import PrivacyLedger, calibrate_noise, default_delta, delta_warning, local_dp_report
from fedrec.privacy.secagg.encoding import SecureEncoding
from fedrec.privacy.uploads import PrivateUploads, Trainer
from fedrec.runtime.client_host import ClientHost
from fedrec.runtime.devices import DeviceProfiles
from fedrec.runtime.rounds.secure import SecureRounds
from fedrec.runtime.sampling import ClientSampler
from fedrec.runtime.secure_host import SecureClientHost

log = logging.getLogger("fedrec.privacy")


def sampler(config: RunConfig) -> ClientSampler:
    """Who trains each round: all clients, a fixed count, or a fraction; Poisson sampling under user-level DP."""
    f = config.federation
    return ClientSampler(config.seed, f.clients_per_round, f.client_fraction, poisson=config.privacy.dp.kind == "user")


def delta(config: RunConfig, num_clients: int) -> float:
    """The run's delta: the configured one (with a warning if it is at least 1/N), or ``default_delta(N)``."""
    dp = config.privacy.dp
    chosen = dp.delta if isinstance(dp, UserDP | LocalDP) else None
    if chosen is None:
        return default_delta(num_clients)
    warning = delta_warning(chosen, num_clients)
    if warning is not None:
        log.warning(warning)
    return chosen


def ledger(config: RunConfig, num_clients: int) -> PrivacyLedger | None:
    """What user-level DP spends, with the noise multiplier calibrated to ``target_epsilon`` if that is set."""
    p = config.privacy.dp
    if not isinstance(p, UserDP):
        return None
    rate = sampler(config).rate(num_clients)
    d = delta(config, num_clients)
    if p.noise_multiplier is not None:
        z = p.noise_multiplier
    else:
        assert p.target_epsilon is not None
        z = calibrate_noise(p.target_epsilon, d, rate, config.federation.rounds, p.accountant)
    return PrivacyLedger(z, rate, d, p.clip_norm, p.accountant, p.epsilon_budget)


def dp_aggregator(config: RunConfig, spent: PrivacyLedger, num_clients: int, server_opt: ServerStep) -> DPFedAvg:
    """DP-FedAvg over the expected cohort ``q N``, noised as ``spent`` (the ledger) accounts, then the server
    optimizer."""
    expected = spent.sampling_rate * num_clients
    return DPFedAvg(spent.clip_norm, spent.noise_multiplier, expected, server_opt, config.seed)


def uploads(config: RunConfig, task: Trainer, secure: bool = False) -> Trainer:
    """The trainer a client host calls: the task itself, or the task behind clipping and local noise
    (``secure``: noise from the OS, as on a real device)."""
    p = config.privacy.dp
    if isinstance(p, NoDP):
        return task
    noise = p.noise_multiplier if isinstance(p, LocalDP) else None
    return PrivateUploads(task, p.clip_norm, noise, config.seed, secure)


def secure_encoding(
    config: RunConfig, spent: PrivacyLedger | None, num_clients: int, secure: bool = False
) -> SecureEncoding:
    """How updates become ring vectors: FedAvg's weighted sums, or under DP clipped deltas with noise shares
    (``secure``: drawn from the OS, as on a real device)."""
    if spent is None:
        return SecureEncoding(weighted=True, seed=config.seed)
    z_c, fewest = spent.noise_multiplier * spent.clip_norm, min_survivors(config, num_clients)
    return SecureEncoding(False, z_c, fewest, config.seed, secure)


def min_survivors(config: RunConfig, num_clients: int) -> int:
    """Under DP, the fewest clients whose sum secure aggregation unmasks: their noise shares add up to the
    noise the accountant assumed. Without DP, any majority of the cohort."""
    secure = config.privacy.secure_aggregation
    if config.privacy.dp.kind != "user" or secure is None:
        return 1
    return max(2, int(np.ceil(secure.threshold * expected_cohort(config, num_clients))))


def secure_policy(config: RunConfig, spent: PrivacyLedger | None, num_clients: int) -> SecureRounds | None:
    """Secure aggregation's rounds, when the run asks for them."""
    secure = config.privacy.secure_aggregation
    if secure is None:
        return None
    codec = secure_encoding(config, spent, num_clients)
    fewest = min_survivors(config, num_clients)
    return SecureRounds(codec, secure.threshold, fewest, config.federation.deadline_s)


def client_host(
    config: RunConfig,
    client_ids: np.ndarray,
    task: Trainer,
    num_clients: int,
    devices: DeviceProfiles | None = None,
    secure: bool = False,
) -> ClientHost:
    """The worker that hosts ``client_ids`` (of ``num_clients`` in the run): plain, or answering with secure
    aggregation's stages. ``secure``: a real device, whose noise comes from the OS."""
    trainer = uploads(config, task, secure)
    chosen = config.privacy.secure_aggregation
    if chosen is None:
        return ClientHost(client_ids, trainer, devices)
    codec = secure_encoding(config, ledger(config, num_clients), num_clients, secure)
    return SecureClientHost(client_ids, trainer, codec, devices, chosen.dropout, config.seed)


def privacy_block(
    config: RunConfig, spent: PrivacyLedger | None, rounds_done: int, num_clients: int
) -> dict[str, Any] | None:
    """The ``privacy`` block of ``summary.json``."""
    p = config.privacy
    if not p.active:
        return None
    dp = p.dp
    block: dict[str, Any] = {"mechanism": {"user": "user-level DP-FedAvg", "local": "local DP"}.get(dp.kind, "none")}
    if spent is not None:
        block |= spent.report(rounds_done)
    elif isinstance(dp, LocalDP):
        d = delta(config, num_clients)
        block |= local_dp_report(dp.noise_multiplier, d, dp.clip_norm, rounds_done, dp.accountant)
    block |= {"secure_aggregation": p.secure_aggregation is not None, "pseudo_items": p.pseudo_items}
    return block


def expected_cohort(config: RunConfig, num_clients: int) -> int:
    """The mean number of clients a round invites: ``ceil(q N)``."""
    return int(np.ceil(sampler(config).rate(num_clients) * num_clients))
