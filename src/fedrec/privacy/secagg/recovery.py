"""The server's reconstruction of the secrets behind a round's revealed shares, each checked before it is used.

A revealed share is a bare Shamir share: nothing in it says whether its sender revealed what it holds. Every
secret has a public check instead (a self-mask seed its commitment, a mask key its public key), so the server
first interpolates as fast as it can (one set of t + 1 revealers serves every owner) and, when the value
fails its check, decodes the owner's shares robustly (``decoding.recover``): the revealers whose shares lie
off the checked polynomial are set aside (``bad``) for every later secret of the round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fedrec.privacy.secagg import crypto, decoding
from fedrec.privacy.secagg.messages import REVEAL_PAIR_SEED, RevealedShares
from fedrec.privacy.secagg.protocol import SecAggError

Check = Callable[[int], bool]


@dataclass
class Recovery:
    revealed: RevealedShares
    x_of: dict[int, int]  # client id -> its Shamir point (position in the roster + 1)
    threshold: int
    bad: set[int] = field(default_factory=set)  # revealers found to have revealed a wrong share

    def __post_init__(self) -> None:
        r = self.revealed
        self.row: dict[tuple[int, int, int], int] = {}
        self.holders: dict[tuple[int, int], list[int]] = {}
        for i, (s, o, k) in enumerate(zip(r.sender.tolist(), r.owner.tolist(), r.secret.tolist(), strict=True)):
            self.row[(s, o, k)] = i
            self.holders.setdefault((o, k), []).append(s)
        self._rebase()

    def secret(self, owner: int, kind: int, check: Check, what: str) -> bytes:
        """The 32-byte secret ``kind`` of ``owner`` that ``check`` accepts (``check`` accepts only values that
        fit); ``what`` names it in errors. Wrong shares on the way mark their revealers bad. ``SecAggError``
        when no t right shares are to be found."""
        quick = self._quick(owner, kind)
        if quick is not None and check(quick):
            return quick.to_bytes(crypto.KEY_BYTES, "big")
        holders = sorted(c for c in self.holders.get((owner, kind), []) if c not in self.bad)
        if len(holders) < self.threshold:
            raise SecAggError(f"only {len(holders)} shares of client {owner}'s {what}, threshold {self.threshold}")
        ys = [self._value(c, owner, kind) for c in holders]
        found = decoding.recover([self.x_of[c] for c in holders], ys, self.threshold, check)
        if found is None:
            raise SecAggError(
                f"the shares of client {owner}'s {what} are inconsistent: no {self.threshold} of the {len(holders)} "
                "give the value it committed to"
            )
        value, wrong = found
        if wrong:
            self.bad |= {holders[i] for i in wrong}
            self._rebase()
        return value.to_bytes(crypto.KEY_BYTES, "big")

    def pair_seed(self, revealer: int, owner: int) -> bytes | None:
        """The mask seed of the pair (revealer, owner) as the revealer revealed it, if it did."""
        row = self.row.get((revealer, owner, REVEAL_PAIR_SEED))
        return None if row is None else self.revealed.share[row, -crypto.KEY_BYTES :].tobytes()

    def _quick(self, who: int, kind: int) -> int | None:
        """The polynomial at 0 through t shares of ``who``'s secret from revealers not found bad (the base set
        whole or without ``who``, weights derived in O(t); else the first t holders); None if too few."""
        base, row = self.base, self.row
        if self.base_weights and all((c, who, kind) in row for c in base if c != who):
            chosen = [c for c in base if c != who]
            weights = (
                crypto.lagrange_without(self.base_weights, self.base_xs, base.index(who))
                if who in base
                else self.base_weights
            )
        else:
            chosen = sorted(c for c in self.holders.get((who, kind), []) if c not in self.bad)[: self.threshold]
            if len(chosen) < self.threshold:
                return None
            weights = crypto.lagrange_at_zero([self.x_of[c] for c in chosen])
        values = (self._value(c, who, kind) for c in chosen)
        return sum(w * y for w, y in zip(weights, values, strict=True)) % crypto.PRIME

    def _value(self, revealer: int, owner: int, kind: int) -> int:
        return int.from_bytes(self.revealed.share[self.row[(revealer, owner, kind)]].tobytes(), "big")

    def _rebase(self) -> None:
        senders = sorted(set(self.revealed.sender.tolist()) - self.bad)
        self.base = senders[: self.threshold + 1]
        self.base_xs = [self.x_of[c] for c in self.base]
        self.base_weights = crypto.lagrange_at_zero(self.base_xs) if len(self.base) > self.threshold else []


def fits(value: int) -> bytes | None:
    """``value`` as the 32-byte secret it should be, or None when it is wider (then some share was wrong)."""
    return value.to_bytes(crypto.KEY_BYTES, "big") if value < 1 << (8 * crypto.KEY_BYTES) else None
