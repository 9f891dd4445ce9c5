"""The checked-in ``wire_pb2.py`` is what ``scripts/gen_proto.sh`` makes of ``wire.proto``: every message and
field the .proto declares, with its number, type and repetition, is in the generated module's descriptor."""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf.descriptor import FieldDescriptor

from fedrec.transport.proto import wire_pb2

PROTO = Path(wire_pb2.__file__).with_name("wire.proto")


def declared() -> dict[str, dict[str, tuple[str, int, bool]]]:
    """message -> field -> (type, number, repeated), parsed from wire.proto."""
    messages: dict[str, dict[str, tuple[str, int, bool]]] = {}
    for name, body in re.findall(r"message (\w+) \{(.*?)\n\}", PROTO.read_text(), re.S):
        fields = re.findall(r"^\s*(repeated )?([\w<>, ]+?) (\w+) = (\d+);", body, re.M)
        messages[name] = {f: (kind, int(number), bool(rep)) for rep, kind, f, number in fields}
    return messages


def generated_type(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        entry = field.message_type
        if entry.GetOptions().map_entry:
            key, value = (generated_type(entry.fields_by_name[k]) for k in ("key", "value"))
            return f"map<{key}, {value}>"
        return entry.name
    names = {FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BYTES: "bytes",
             FieldDescriptor.TYPE_UINT32: "uint32", FieldDescriptor.TYPE_INT64: "int64",
             FieldDescriptor.TYPE_DOUBLE: "double"}  # fmt: skip
    return names[field.type]


def test_the_generated_module_matches_wire_proto() -> None:
    proto = declared()
    assert set(proto) == set(wire_pb2.DESCRIPTOR.message_types_by_name) == {"Tensor", "Envelope"}
    for name, fields in proto.items():
        descriptor = wire_pb2.DESCRIPTOR.message_types_by_name[name]
        assert set(descriptor.fields_by_name) == set(fields), name
        for field_name, (kind, number, repeated) in fields.items():
            field = descriptor.fields_by_name[field_name]
            is_map = kind.startswith("map<")
            assert (generated_type(field), field.number) == (kind, number), f"{name}.{field_name}"
            assert is_map or field.is_repeated == repeated, f"{name}.{field_name}"
