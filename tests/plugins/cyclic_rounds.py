"""An extension written outside the package: cyclic client participation, a round policy.

Cho, Sharma, Joshi et al., "On the Convergence of Federated Averaging with Cyclic Client Participation", ICML
2023: the clients form ``groups`` fixed groups (by id), and round r invites only group r mod ``groups``, as a
population whose devices are available at different times of day would. Every other behaviour (closing a round,
late updates, participation weights) is the synchronous policy's, which it extends. Registered as
``federation.policy: {kind: cyclic, options: {groups: K}}``; loaded with ``plugins: [cyclic_rounds]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fedrec.registry import POLICIES
from fedrec.runtime.message import Message
from fedrec.runtime.rounds.base import PolicyContext, RoundControl, pass_round, ready_candidates
from fedrec.runtime.rounds.participation import ParticipationWeights
from fedrec.runtime.rounds.sync import SyncRounds
from fedrec.runtime.steps import Replies


class CyclicOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: int = Field(2, ge=1, description="how many groups take turns")


@dataclass
class CyclicRounds(SyncRounds):
    groups: int = 2

    def on_ready(self, control: RoundControl, now: float) -> Iterator[Message]:
        candidates = yield from ready_candidates(control, now)
        if candidates is None:
            return
        turn = (control.round + 1) % self.groups  # the group whose turn round ``round + 1`` is
        invited = candidates[candidates % self.groups == turn]
        if len(invited) == 0:
            yield from pass_round(self, control, now)
            return
        self.needed = len(invited)
        self.step = Replies(set(invited.tolist()), quorum=len(invited))
        yield control.invite(invited, now)


@dataclass(frozen=True)
class CyclicSpec:
    options: Any = CyclicOptions

    def build(self, options: Any, context: PolicyContext, participation: ParticipationWeights) -> CyclicRounds:
        return CyclicRounds(participation=participation, groups=options.groups)


POLICIES.register("cyclic", CyclicSpec())
