from fedrec.runtime.message import SERVER, Message, MessageKind
from fedrec.transport.inprocess import VirtualTimeQueue


def _msg(time: float, tag: int) -> Message:
    return Message(MessageKind.UPDATE, (tag,), SERVER, 1, payload=tag, time=time)


def test_queue_delivers_by_time_then_by_send_order() -> None:
    queue = VirtualTimeQueue()
    for time, tag in [(2.0, 1), (1.0, 2), (2.0, 3), (0.5, 4), (1.0, 5)]:
        queue.push(_msg(time, tag))
    delivered = [queue.pop().payload for _ in range(len(queue))]
    assert delivered == [4, 2, 5, 1, 3]


def test_messages_order_by_time_and_seq() -> None:
    a, b, c = _msg(1.0, 0).stamped(1.0, 7), _msg(1.0, 0).stamped(1.0, 8), _msg(0.9, 0).stamped(0.9, 9)
    assert sorted([b, a, c]) == [c, a, b]
    assert a.order_key == (1.0, 7)


def test_receivers_and_senders_are_tuples() -> None:
    broadcast = Message(MessageKind.TRAIN, SERVER, (3, 4), 1)
    assert broadcast.receivers() == (3, 4)
    assert broadcast.senders() == (SERVER,)
