"""The claim parses a batch's payloads in one go, and one by one when that would be wrong."""

from __future__ import annotations

import json

import pytest

from paybridge.runtime.queue import _json_objects


def test_payloads_parse_together_as_they_would_one_by_one() -> None:
    texts = [json.dumps({"n": n, "s": 'a,"]b'}) for n in range(5)]
    assert _json_objects(texts) == [json.loads(t) for t in texts]
    assert _json_objects([]) == []


@pytest.mark.parametrize(
    "texts",
    [
        ['{"a": 1}, {"b": 2}', '{"c": 3}'],  # two objects in one text: counted apart
        ['{"a": 1}', "[1, 2]"],  # not an object: parsed alone
        ['{"a": 1}', '"x"'],
    ],
)
def test_texts_that_are_not_one_object_each_are_parsed_alone(texts: list[str]) -> None:
    try:
        expected: object = [json.loads(t) for t in texts]
    except ValueError as exc:
        with pytest.raises(type(exc)):
            _json_objects(texts)
        return
    assert _json_objects(texts) == expected
