"""The server's round logic, driven through the real in-process transport with a tiny numeric task."""

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from fedrec.algorithms.fedavg import FedAvg
from fedrec.algorithms.validation import UpdateCheck
from fedrec.payloads import ClientUpdates, GlobalModel, MetricSums
from fedrec.runtime.client_host import ClientHost
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.protocols import RoundRecord, Withdrawal
from fedrec.runtime.sampling import ClientSampler
from fedrec.runtime.server import Server
from fedrec.runtime.steps import ServerPlan
from fedrec.runtime.worker import handles
from fedrec.transport.inprocess import InProcessTransport


class MeanTask:
    """Client c holds ``counts[c]`` copies of the number ``values[c]``; its update moves w onto that number."""

    def __init__(self, values: dict[int, float], counts: dict[int, int]) -> None:
        self.values, self.counts = values, counts
        self.trained: list[list[int]] = []

    def num_examples(self, client_ids: np.ndarray) -> np.ndarray:
        return np.array([self.counts[c] for c in client_ids.tolist()])

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        self.trained.append(client_ids.tolist())
        target = torch.tensor([self.values[c] for c in client_ids.tolist()])
        return ClientUpdates(
            client_ids,
            torch.tensor(self.num_examples(client_ids), dtype=torch.float32),
            {"w": (target - model.params["w"]).unsqueeze(1)},
        )

    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        target = torch.tensor([self.values[c] for c in client_ids.tolist()], dtype=torch.float64)
        return MetricSums(client_ids, {"sse": (target - model.params["w"].double()) ** 2})


class SseMetrics:
    def combine(self, sums: list[MetricSums]) -> dict[str, float]:
        return {"test_sse": sum(s.total("sse") for s in sums)}

    def implausible(self, sums: MetricSums) -> tuple[str | None, np.ndarray]:
        return (None if "sse" in sums.sums else "no sse"), np.zeros(len(sums.client_ids), dtype=bool)


class Records:
    def __init__(self) -> None:
        self.records: list[RoundRecord] = []

    def on_round(self, record: RoundRecord) -> None:
        self.records.append(record)


def _run(rounds: int, eval_every: int, count: int | None, hosts: int = 2) -> tuple[Server, MeanTask, Records]:
    values = {1: 1.0, 2: 2.0, 3: 4.0, 4: 8.0}
    counts = {1: 1, 2: 1, 3: 2, 4: 4}
    task = MeanTask(values, counts)
    records = Records()
    server = Server(
        GlobalModel({"w": torch.zeros(1)}),
        ServerPlan(rounds, eval_every),
        4,
        ClientSampler(0, count=count),
        FedAvg(),
        SseMetrics(),
        observer=records,
    )
    groups = np.array_split(np.arange(1, 5), hosts)
    client_hosts = [ClientHost(g, task) for g in groups]
    transport = InProcessTransport(server, client_hosts)
    for host in client_hosts:
        transport.send(host.join())
    transport.run()
    assert server.finished and all(h.finished for h in client_hosts)
    return server, task, records


def test_one_round_of_fedavg_gives_the_example_weighted_mean() -> None:
    server, task, records = _run(rounds=1, eval_every=1, count=None)
    expected = (1 * 1 + 1 * 2 + 2 * 4 + 4 * 8) / 8
    assert server.model.params["w"].item() == pytest.approx(expected)
    assert sorted(sum(task.trained, [])) == [1, 2, 3, 4]
    assert [r.round for r in records.records] == [1]
    assert records.records[0].metrics["test_sse"] == pytest.approx(sum((v - expected) ** 2 for v in (1, 2, 4, 8)))


def test_rounds_sample_clients_and_evaluate_on_schedule() -> None:
    server, task, records = _run(rounds=5, eval_every=2, count=2, hosts=3)
    per_round: dict[int, int] = {}
    for group in task.trained:
        per_round[len(per_round)] = len(group)
    assert sum(len(g) for g in task.trained) == 5 * 2
    assert [r.round for r in records.records] == [2, 4, 5]
    assert all(r.num_participants == 2 for r in records.records)
    assert server.round == 5


class SilentHost(ClientHost):
    """A device that received the model and never answered (crashed, out of battery, gone)."""

    @handles(MessageKind.TRAIN, emits=[MessageKind.UPDATE])
    def on_train(self, message: Message) -> Iterator[Message]:
        return iter(())

    @handles(MessageKind.EVALUATE, emits=[MessageKind.METRICS])
    def on_evaluate(self, message: Message) -> Iterator[Message]:
        return iter(())


class NanTask(MeanTask):
    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        update = super().train(client_ids, model, round_index)
        return ClientUpdates(
            update.client_ids, update.num_examples, {"w": torch.full_like(update.dense["w"], float("nan"))}
        )


def _two_hosts(second: ClientHost, plan: ServerPlan) -> tuple[Server, InProcessTransport, Records]:
    task = MeanTask({1: 1.0, 2: 2.0, 3: 4.0, 4: 8.0}, {1: 1, 2: 1, 3: 2, 4: 4})
    records = Records()
    server = Server(
        GlobalModel({"w": torch.zeros(1)}),
        plan,
        4,
        ClientSampler(0),
        FedAvg(),
        SseMetrics(),
        observer=records,
        check=UpdateCheck(),
    )
    hosts = [ClientHost(np.array([1, 2]), task), second]
    transport = InProcessTransport(server, hosts)
    for host in hosts:
        transport.send(host.join())
    return server, transport, records


def test_deadline_closes_a_round_with_a_quorum() -> None:
    silent = SilentHost(np.array([3, 4]), MeanTask({3: 4.0, 4: 8.0}, {3: 2, 4: 4}))
    server, transport, records = _two_hosts(silent, ServerPlan(1, deadline_s=5.0, quorum=0.5))
    transport.run()
    assert server.finished and server.model.params["w"].item() == pytest.approx(1.5)
    assert records.records[0].num_participants == 2 and transport.now >= 10.0  # two deadlines: train, evaluate


def test_clients_that_leave_are_dropped_from_the_round() -> None:
    silent = SilentHost(np.array([3, 4]), MeanTask({3: 4.0, 4: 8.0}, {3: 2, 4: 4}))
    server, transport, _ = _two_hosts(silent, ServerPlan(2))
    transport.send(Message(MessageKind.LEAVE, (3, 4), SERVER, 0, None, 1.0))
    transport.run()
    assert server.finished and sorted(server.clients) == [1, 2]
    assert server.model.params["w"].item() == pytest.approx(1.5)


def test_a_poisoned_update_is_rejected_and_the_model_unharmed() -> None:
    rogue = ClientHost(np.array([3, 4]), NanTask({3: 4.0, 4: 8.0}, {3: 2, 4: 4}))
    server, transport, _ = _two_hosts(rogue, ServerPlan(1))
    transport.run()
    assert server.finished and server.rejections.updates == {"non_finite": 2}
    assert server.model.params["w"].item() == pytest.approx(1.5)


class OneDiverged(MeanTask):
    """Client 4's training diverges: its update and its metrics hold NaN; client 3 in the same batch is fine."""

    def train(self, client_ids: np.ndarray, model: GlobalModel, round_index: int) -> ClientUpdates:
        update = super().train(client_ids, model, round_index)
        w = update.dense["w"].clone()
        w[client_ids == 4] = float("nan")
        return ClientUpdates(update.client_ids, update.num_examples, {"w": w})

    def evaluate(self, client_ids: np.ndarray, model: GlobalModel) -> MetricSums:
        sums = super().evaluate(client_ids, model)
        sse = sums.sums["sse"].clone()
        sse[torch.from_numpy(client_ids == 4)] = float("nan")
        return MetricSums(sums.client_ids, {"sse": sse})


def test_one_diverged_client_loses_only_its_own_update_and_metrics() -> None:
    host = ClientHost(np.array([3, 4]), OneDiverged({3: 4.0, 4: 8.0}, {3: 2, 4: 4}))
    server, transport, records = _two_hosts(host, ServerPlan(2))
    transport.run()
    expected = (1 * 1 + 1 * 2 + 2 * 4) / 4  # clients 1-3; client 4 refused in both rounds
    assert server.model.params["w"].item() == pytest.approx(expected)
    assert server.rejections.updates == {"non_finite": 2} and server.rejections.metrics == {"bad_metrics": 2}
    assert [r.num_participants for r in records.records] == [3, 3]
    assert records.records[-1].metrics["test_sse"] == pytest.approx(sum((v - expected) ** 2 for v in (1, 2, 4)))


def test_a_withdrawal_takes_the_client_out_of_the_round_without_waiting() -> None:
    class Withdraws(ClientHost):
        @handles(MessageKind.TRAIN, emits=[MessageKind.WITHDRAW])
        def on_train(self, message: Message) -> Iterator[Message]:
            ids = self._mine(message)
            yield Message(MessageKind.WITHDRAW, tuple(ids.tolist()), SERVER, message.round,
                          Withdrawal(ids, "too_large"), message.time)  # fmt: skip

    server, transport, _ = _two_hosts(Withdraws(np.array([3, 4]), MeanTask({3: 4.0, 4: 8.0}, {3: 2, 4: 4})),
                                      ServerPlan(1))  # fmt: skip
    transport.run()
    assert server.finished and server.model.params["w"].item() == pytest.approx(1.5)
    assert server.rejections.as_dict()["rejected_updates"] == {"total": 2, "by_reason": {"too_large": 2}}


def test_clients_without_training_data_are_not_sampled_but_evaluate() -> None:
    task = MeanTask({1: 1.0, 2: 2.0, 3: 4.0}, {1: 1, 2: 0, 3: 1})
    records = Records()
    server = Server(GlobalModel({"w": torch.zeros(1)}), ServerPlan(2), 3, ClientSampler(0), FedAvg(), SseMetrics(),
                    observer=records, check=UpdateCheck())  # fmt: skip
    host = ClientHost(np.array([1, 2, 3]), task)
    transport = InProcessTransport(server, [host])
    transport.send(host.join())
    transport.run()
    assert server.finished and server.rejections.total_updates == 0
    assert all(2 not in group for group in task.trained)
    assert server.model.params["w"].item() == pytest.approx(2.5)
    assert records.records[-1].num_participants == 2


def test_a_run_stopped_early_evaluates_its_final_model() -> None:
    task = MeanTask({1: 1.0, 2: 2.0, 3: 4.0, 4: 8.0}, {1: 1, 2: 1, 3: 2, 4: 4})
    records = Records()
    spent = lambda version: "privacy budget spent" if version > 2 else None  # noqa: E731
    server = Server(GlobalModel({"w": torch.zeros(1)}), ServerPlan(5, eval_every=5), 4, ClientSampler(0, count=2),
                    FedAvg(), SseMetrics(), observer=records, budget=spent)  # fmt: skip
    host = ClientHost(np.arange(1, 5), task)
    transport = InProcessTransport(server, [host])
    transport.send(host.join())
    transport.run()
    assert server.finished and server.round == 2 and server.stopped == "privacy budget spent"
    assert [r.round for r in records.records] == [2] and server.metrics_round == 2  # not planned: evaluated at the end
    w = server.model.params["w"].item()
    assert server.last_metrics["test_sse"] == pytest.approx(sum((v - w) ** 2 for v in (1, 2, 4, 8)))


def test_a_run_whose_clients_all_leave_says_so() -> None:
    silent = SilentHost(np.array([3, 4]), MeanTask({3: 4.0, 4: 8.0}, {3: 2, 4: 4}))
    server, transport, _ = _two_hosts(silent, ServerPlan(3))
    transport.send(Message(MessageKind.LEAVE, (1, 2, 3, 4), SERVER, 0, None, 1.0))
    transport.run()
    assert server.finished and server.round == 1 and server.aggregated_rounds == 1  # clients 1 and 2 answered
    assert server.stopped == "every client left after round 1 of 3"


def test_a_run_that_aggregates_nothing_counts_no_aggregated_round() -> None:
    task = NanTask({1: 1.0, 2: 2.0, 3: 4.0, 4: 8.0}, {1: 1, 2: 1, 3: 2, 4: 4})
    server = Server(GlobalModel({"w": torch.zeros(1)}), ServerPlan(2), 4, ClientSampler(0), FedAvg(), SseMetrics(),
                    check=UpdateCheck())  # fmt: skip
    host = ClientHost(np.arange(1, 5), task)
    transport = InProcessTransport(server, [host])
    transport.send(host.join())
    transport.run()
    assert server.finished and server.round == 2 and server.aggregated_rounds == 0
    assert server.rejections.updates == {"non_finite": 8} and server.model.params["w"].item() == 0.0
