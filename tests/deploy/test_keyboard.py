"""Operator commands typed on the terminal (``humimic deploy --manual``)."""

from __future__ import annotations

import io

import pytest

from humimic.deploy.keyboard import KeyboardOperatorInput, parse_line
from humimic.deploy.ports import OperatorEvent as E


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("s\n", (E.START, "")),
        ("start wave_squat\n", (E.START, "wave_squat")),
        ("  S  \n", (E.START, "")),
        ("x\n", (E.STOP, "keyboard")),
        ("damp\n", (E.DAMP, "keyboard")),
        ("e\n", (E.ESTOP, "keyboard")),
        ("estop hand slipped\n", (E.ESTOP, "hand slipped")),
        ("r\n", (E.RESET, "keyboard")),
        ("\n", None),
        ("go\n", None),
    ],
)
def test_lines_map_to_events(line, expected) -> None:
    assert parse_line(line) == expected


def test_reader_thread_queues_events_in_order_and_counts_unknown_lines() -> None:
    typed = io.StringIO("s\nfoo\ns wave_squat\n\ne\nr\n")
    kb = KeyboardOperatorInput(typed)
    kb.join(timeout_s=5.0)
    assert kb.poll() == [
        (E.START, ""),
        (E.START, "wave_squat"),
        (E.ESTOP, "keyboard"),
        (E.RESET, "keyboard"),
    ]
    assert kb.unknown_lines == 1
    assert kb.poll() == []  # drained
