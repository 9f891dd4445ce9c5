"""Workers: a mailbox and handlers registered by decorator.

Each handler declares the message kinds it may emit, so the protocol of every worker class can be printed
(``Worker.protocol()``) and checked: a handler that emits an undeclared kind raises ``ProtocolError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from fedrec.runtime.message import Message, MessageKind

HandlerFn = Callable[[Any, Message], Iterable[Message]]
F = TypeVar("F", bound=HandlerFn)


class ProtocolError(RuntimeError):
    """A worker received a kind it has no handler for, or emitted a kind it did not declare."""


@dataclass(frozen=True)
class HandlerSpec:
    kind: MessageKind
    emits: frozenset[MessageKind]
    method_name: str


def handles(*kinds: MessageKind, emits: Iterable[MessageKind] = ()) -> Callable[[F], F]:
    """Mark a method as the handler of ``kinds`` that may emit ``emits``."""

    def mark(fn: F) -> F:
        fn.__fedrec_handler__ = (kinds, frozenset(emits))  # type: ignore[attr-defined]
        return fn

    return mark


class Worker:
    """Base of the server and the client hosts. Subclasses only add handlers and their own state."""

    handlers: ClassVar[dict[MessageKind, HandlerSpec]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[MessageKind, HandlerSpec] = {}
        for base in reversed(cls.__mro__):
            for name, attr in vars(base).items():
                mark = getattr(attr, "__fedrec_handler__", None)
                if mark is not None:
                    kinds, emits = mark
                    found |= {kind: HandlerSpec(kind, emits, name) for kind in kinds}
        cls.handlers = found

    @classmethod
    def protocol(cls) -> dict[MessageKind, frozenset[MessageKind]]:
        """What this worker receives, and for each kind what it may send in reply."""
        return {kind: spec.emits for kind, spec in cls.handlers.items()}

    def parts_emit(self) -> frozenset[MessageKind]:
        """Kinds the parts a worker is given may send through any of its handlers (a round policy's own)."""
        return frozenset()

    def handle(self, message: Message) -> list[Message]:
        """Run the handler of ``message``'s kind; its replies. Raises ``ProtocolError`` for a kind without a handler,
        or a reply of a kind the handler (or the worker's parts) did not declare."""
        spec = self.handlers.get(message.kind)
        if spec is None:
            raise ProtocolError(f"{type(self).__name__} has no handler for {message.kind.name}")
        replies = list(getattr(self, spec.method_name)(message))
        allowed = spec.emits | self.parts_emit()
        for reply in replies:
            if reply.kind not in allowed:
                raise ProtocolError(
                    f"{type(self).__name__}.{spec.method_name} emitted {reply.kind.name}, "
                    f"which it does not declare (declared: {sorted(k.name for k in spec.emits)})"
                )
        return replies
