from collections.abc import Iterator

import pytest

from fedrec.runtime.client_host import ClientHost
from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.runtime.rounds.secure import SecureRounds
from fedrec.runtime.secure_host import SecureClientHost
from fedrec.runtime.server import Server
from fedrec.runtime.worker import ProtocolError, Worker, handles


class Echo(Worker):
    @handles(MessageKind.TRAIN, emits=[MessageKind.UPDATE])
    def on_train(self, message: Message) -> Iterator[Message]:
        yield Message(MessageKind.UPDATE, message.receiver, SERVER, message.round)

    @handles(MessageKind.EVALUATE, emits=[MessageKind.METRICS])
    def on_evaluate(self, message: Message) -> Iterator[Message]:
        yield Message(MessageKind.UPDATE, message.receiver, SERVER, message.round)  # not declared


def test_handlers_are_registered_with_what_they_emit() -> None:
    assert Echo.protocol() == {
        MessageKind.TRAIN: frozenset({MessageKind.UPDATE}),
        MessageKind.EVALUATE: frozenset({MessageKind.METRICS}),
    }
    replies = Echo().handle(Message(MessageKind.TRAIN, SERVER, 5, 2))
    assert [(r.kind, r.sender, r.round) for r in replies] == [(MessageKind.UPDATE, 5, 2)]


def test_undeclared_emission_and_unknown_kind_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="does not declare"):
        Echo().handle(Message(MessageKind.EVALUATE, SERVER, 5, 1))
    with pytest.raises(ProtocolError, match="no handler for FINISH"):
        Echo().handle(Message(MessageKind.FINISH, SERVER, 5, 1))


@pytest.mark.parametrize("host", [ClientHost, SecureClientHost])
def test_server_and_client_protocols_fit_together(host: type[ClientHost]) -> None:
    """The server's own kinds plus, for a secure run, those its round policy speaks (``SecureRounds``)."""
    server, client = Server.protocol(), host.protocol()
    to_itself = {MessageKind.DEADLINE, MessageKind.UPDATE}  # UPDATE: the rest of a batch, in its turn
    sent_by_server = set().union(*server.values()) - to_itself
    received_by_server = set(server)
    if host is SecureClientHost:  # secure aggregation's stages come with its round policy
        sent_by_server |= SecureRounds.emits
        received_by_server |= SecureRounds.receives
    sent_by_client = set().union(*client.values()) | {MessageKind.JOIN, MessageKind.LEAVE}
    assert to_itself <= set(server)
    assert sent_by_server <= set(client), "every kind the server sends has a client handler"
    assert sent_by_client <= received_by_server, "every kind a client sends has a server handler"
    assert not SecureRounds.receives & set(server), "the server core knows nothing of secure aggregation"
    if host is ClientHost:
        assert client[MessageKind.TRAIN] == {MessageKind.UPDATE, MessageKind.OFFLINE}
    else:  # the update never leaves in the clear
        assert MessageKind.UPDATE not in set().union(*client.values())
