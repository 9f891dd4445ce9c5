"""Round policies in virtual time, with devices whose speeds are set by hand and the real transport."""

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.payloads import GlobalModel
from fedrec.runtime.client_host import ClientHost
from fedrec.runtime.devices import DeviceProfiles, Heterogeneity, draw_profiles
from fedrec.runtime.rounds.base import RoundPolicy
from fedrec.runtime.rounds.fedbuff import BufferedAsync
from fedrec.runtime.rounds.sync import SyncRounds
from fedrec.runtime.sampling import ClientSampler
from fedrec.runtime.server import Server
from fedrec.runtime.steps import ServerPlan
from fedrec.transport.inprocess import InProcessTransport
from tests.runtime.test_server import MeanTask, Records, SseMetrics


def devices(
    seconds: dict[int, float], counts: dict[int, int], offline: dict[int, tuple[float, float, float]] | None = None
) -> DeviceProfiles:
    """Client c needs ``seconds[c]`` to train (transfers are instant); ``offline[c]``: (online, offline, phase)."""
    ids = np.array(sorted(seconds))
    n, fast = len(ids), np.full(len(ids), 1e15)
    schedule = np.array([offline.get(c, (1.0, 0.0, 0.0)) if offline else (1.0, 0.0, 0.0) for c in ids])
    speed = np.array([counts[c] / seconds[c] for c in ids])
    return DeviceProfiles(ids, speed, fast, fast, schedule[:, 0], schedule[:, 1], schedule[:, 2]) if n else None  # type: ignore[return-value]


def simulate(
    policy: RoundPolicy, seconds: dict[int, float], rounds: int, count: int | None = None, online: bool = False,
    offline: dict[int, tuple[float, float, float]] | None = None, values: dict[int, float] | None = None,
) -> tuple[Server, MeanTask, Records, InProcessTransport]:  # fmt: skip
    values = values or {c: float(2 ** (c - 1)) for c in seconds}
    counts = {c: (1, 1, 2, 4)[(c - 1) % 4] for c in seconds}
    task, records = MeanTask(values, counts), Records()
    profiles = devices(seconds, counts, offline)
    server = Server(
        GlobalModel({"w": torch.zeros(1, dtype=torch.float64)}),
        ServerPlan(rounds, eval_every=1000),
        len(seconds),
        ClientSampler(0, count=count),
        FedAvg(),
        SseMetrics(),
        observer=records,
        policy=policy,
        online=profiles.online if online else None,
    )
    host = ClientHost(np.array(sorted(seconds)), task, profiles)
    transport = InProcessTransport(server, [host])
    transport.send(host.join())
    transport.run()
    assert server.finished
    return server, task, records, transport


def test_waiting_for_all_takes_the_slowest_clients_time() -> None:
    server, task, _, _ = simulate(SyncRounds(), {1: 1.0, 2: 2.0, 3: 3.0, 4: 40.0}, rounds=2)
    assert server.now == pytest.approx(80.0)
    assert server.model.params["w"].item() == pytest.approx((1 * 1 + 1 * 2 + 2 * 4 + 4 * 8) / 8)


def test_over_selection_keeps_the_first_answers() -> None:
    # two needed, four invited: clients 1 and 2 answer first; 3 and 4 are late
    server, _, _, _ = simulate(SyncRounds(over_selection=1.0), {1: 1.0, 2: 2.0, 3: 3.0, 4: 40.0}, rounds=1, count=2)
    assert server.model.params["w"].item() == pytest.approx(1.5)
    assert server.now == pytest.approx(2.0)
    assert server.stats.as_dict()["late"] == 2 and server.stats.aggregated == 2


def test_a_deadline_never_aggregates_fewer_than_its_quorum() -> None:
    # the deadline passes at 5 s with two answers; the quorum is three, so the round waits for client 3
    server, _, _, _ = simulate(SyncRounds(deadline_s=5.0, quorum=0.75), {1: 1.0, 2: 2.0, 3: 10.0, 4: 20.0}, rounds=1)
    assert server.now == pytest.approx(10.0)
    assert server.model.params["w"].item() == pytest.approx((1 + 2 + 2 * 4) / 4)
    assert server.stats.aggregated == 3


def test_a_deadline_closes_the_round_once_the_quorum_is_in() -> None:
    server, _, _, _ = simulate(SyncRounds(deadline_s=5.0, quorum=0.5), {1: 1.0, 2: 2.0, 3: 10.0, 4: 20.0}, rounds=1)
    assert server.now == pytest.approx(5.0) and server.stats.aggregated == 2


def test_an_unavailable_client_is_never_invited_or_waited_for() -> None:
    # client 4 is offline from t=0 to t=1000 (phase puts it at the start of its offline period)
    offline = {4: (10.0, 1000.0, 10.0)}
    server, task, _, _ = simulate(
        SyncRounds(), {1: 1.0, 2: 2.0, 3: 3.0, 4: 0.5}, rounds=3, online=True, offline=offline
    )
    assert all(4 not in group for group in task.trained)
    assert server.now == pytest.approx(9.0)  # three rounds of 3 s: nobody waited for client 4


def test_a_client_that_drops_mid_round_is_not_waited_for() -> None:
    # client 4 is online for its first 5 s only, but needs 40 s: it drops at 5 s and the round closes at 5 s
    offline = {4: (5.0, 1000.0, 0.0)}
    server, _, _, _ = simulate(SyncRounds(), {1: 1.0, 2: 2.0, 3: 3.0, 4: 40.0}, rounds=1, online=True, offline=offline)
    assert server.now == pytest.approx(5.0)
    assert server.stats.offline == 1 and server.stats.aggregated == 3


def test_fedbuff_discounts_a_stale_update_by_hand() -> None:
    # concurrency 2, buffer 1. t=1: client 1 (trained on w=0, target 1) -> w=1 (v1); client 1 again -> t=2,
    # w=1 (v2). t=2.5: client 2, sent at v0, target 2, delta 2, staleness 2 -> w = 1 + 2 / sqrt(3) (v3).
    policy = BufferedAsync(concurrency=2, buffer_size=1, max_staleness=5)
    server, _, _, _ = simulate(policy, {1: 1.0, 2: 2.5}, rounds=3, values={1: 1.0, 2: 2.0})
    assert server.model.params["w"].item() == pytest.approx(1 + 2 / 3**0.5)
    assert server.stats.staleness_max == 2 and server.now == pytest.approx(2.5)


def test_fedbuff_drops_updates_staler_than_allowed() -> None:
    policy = BufferedAsync(concurrency=2, buffer_size=1, max_staleness=1)
    server, _, _, _ = simulate(policy, {1: 1.0, 2: 2.5}, rounds=3, values={1: 1.0, 2: 2.0})
    assert server.model.params["w"].item() == pytest.approx(1.0)
    assert server.stats.late == 1 and server.now == pytest.approx(3.0)


def test_fedbuff_aggregates_exactly_its_buffer() -> None:
    seconds = {c: 1.0 + (c * 7919 % 13) / 3 for c in range(1, 41)}
    server, _, records, _ = simulate(BufferedAsync(concurrency=12, buffer_size=5), seconds, rounds=20)
    assert server.round == 20 and server.stats.aggregated == 100
    assert server.stats.invited <= 100 + 12


def _event_log(seed: int) -> list[tuple[int, float, float]]:
    ids = np.arange(1, 31)
    counts = {c: (1, 1, 2, 4)[(c - 1) % 4] for c in ids.tolist()}
    profiles = draw_profiles(
        ids, Heterogeneity(examples_per_s=1.0, speed_spread=10.0, availability=0.7, mean_online_s=20.0), seed
    )
    task = MeanTask({c: float(c) for c in ids.tolist()}, counts)
    log: list[tuple[int, float, float]] = []

    class Log:
        def on_round(self, record) -> None:  # type: ignore[no-untyped-def]
            log.append((record.round, round(record.virtual_time_s, 9), round(server.model.params["w"].item(), 12)))

    server = Server(GlobalModel({"w": torch.zeros(1, dtype=torch.float64)}), ServerPlan(15, eval_every=1), 30,
                    ClientSampler(seed, count=8), FedAvg(), SseMetrics(), observer=Log(),
                    policy=BufferedAsync(concurrency=8, buffer_size=3), online=profiles.online)  # fmt: skip
    host = ClientHost(ids, task, profiles)
    transport = InProcessTransport(server, [host])
    transport.send(host.join())
    transport.run()
    return log


def test_a_heterogeneous_simulation_replays_its_events_exactly() -> None:
    first, again, other = _event_log(3), _event_log(3), _event_log(4)
    assert len(first) == 15 and first == again
    assert first != other


def test_participation_weights_by_hand() -> None:
    from fedrec.payloads import ClientUpdates
    from fedrec.runtime.rounds.participation import ParticipationWeights

    weights = ParticipationWeights(cap=5)

    def update(*ids: int) -> ClientUpdates:
        return ClientUpdates(np.array(ids), torch.ones(len(ids)), {"w": torch.zeros(len(ids), 1)})

    assert weights.apply(update(1, 2), version=2).num_examples.tolist() == [2.0, 2.0]  # first time: since start
    assert weights.apply(update(1, 3), version=3).num_examples.tolist() == [1.0, 3.0]
    assert weights.apply(update(2), version=10).num_examples.tolist() == [5.0]  # 8 versions, capped at 5
    assert ParticipationWeights().apply(update(4), version=9).num_examples.tolist() == [1.0]  # cap 0: off
