import re
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import proto
from proto.canvas import CanvasModel
from proto.events import OP_KINDS, apply_event
from proto.topics import TOPICS
from tests.proto.strategies import op_lists

SPEC = Path(proto.__file__).with_name("PROTOCOL.md")


def event(agent, kind, **data):
    return {"seq": 1, "agent": agent, "kind": kind, "data": data}


def published(model: CanvasModel, agent: str, op) -> list[dict]:
    """The event bodies the canvas would publish for `op`, as apply_event reads them."""
    return [event(agent, kind, **data) for kind, data in model.apply(op)]


def test_op_kinds_are_the_kinds_whose_data_carries_an_op_in_the_protocol():
    section = SPEC.read_text().split("## 5.")[1].split("## 6.")[0]
    rows = re.findall(r"^\| `[^`]+` \| `(\w+)` \| (.*) \|$", section, flags=re.M)
    assert rows, "the section 5 table was not found"
    with_op = {kind for kind, data in rows if data.startswith("`op` str")}
    assert with_op == OP_KINDS
    assert OP_KINDS | {"new"} <= {kind for kind, _ in rows} & set(TOPICS)


@given(op_lists, st.integers(1, 20), st.integers(1, 12))
def test_applying_the_published_events_rebuilds_the_canvas(op_list, width, height):
    model = CanvasModel(width, height)
    canvases: dict[str, CanvasModel] = {}
    apply_event(canvases, event("ada", "new", work=1, width=width, height=height))
    for op in op_list:
        for body in published(model, "ada", op):
            apply_event(canvases, body)
    assert canvases["ada"].to_dict() == model.to_dict()
    assert canvases["ada"].digest() == model.digest()


def test_new_creates_a_canvas_of_the_size_or_starts_the_work():
    canvases: dict[str, CanvasModel] = {}
    apply_event(canvases, event("ada", "new", work=3, width=7, height=5))
    ada = canvases["ada"]
    assert (ada.width, ada.height, ada.work) == (7, 5, 3)
    ada.apply_text("pen down")
    apply_event(canvases, event("ada", "new", work=3, width=7, height=5))  # the work it has: nothing changes
    assert canvases["ada"] is ada and ada.rows()[2][3] != "."
    apply_event(canvases, event("ada", "new", work=4, width=7, height=5))
    assert canvases["ada"] is ada and ada.work == 4 and set("".join(ada.rows())) == {"."}


def test_kinds_that_change_no_canvas_and_unknown_kinds_are_ignored():
    canvases = {"ada": CanvasModel(5, 5)}
    before = canvases["ada"].digest()
    for body in (event("ada", "joined", model=None), event("ada", "status", activity="thinking", until=None,
                                                              reason=None),
                 event("ada", "statement", work=1, text="about blue"),
                 event("ada", "rejected", op="pen down", reason="a future kind"),
                 event("zed", "left", reason="bye")):
        apply_event(canvases, body)
    assert list(canvases) == ["ada"] and canvases["ada"].digest() == before


@pytest.mark.parametrize("body", [
    event("ada", "stroke", cells=[], color="red", cursor=[0, 0]),  # no op
    event("ada", "move", op="move sideways 2", cursor=[0, 0]),  # not an op
    event("bo", "move", op="move up 1", cursor=[0, 0]),  # no canvas for bo
    event("bo", "new", work=1, width=0, height=5),  # a size that cannot be
    event("bo", "new", work=1),
])
def test_an_event_that_cannot_be_applied_raises_value_error_and_changes_nothing(body):
    canvases = {"ada": CanvasModel(5, 5)}
    before = canvases["ada"].digest()
    with pytest.raises(ValueError):
        apply_event(canvases, body)
    assert list(canvases) == ["ada"] and canvases["ada"].digest() == before


def test_digest_is_the_state_not_the_object():
    a, b = CanvasModel(6, 4), CanvasModel(6, 4)
    assert a.digest() == b.digest() and re.fullmatch(r"[0-9a-f]{64}", a.digest())
    for op in ("color red", "pen down", "move right 2"):
        a.apply_text(op)
    assert a.digest() != b.digest()
    assert CanvasModel.from_dict(a.to_dict()).digest() == a.digest()
    for op in ("color red", "pen down", "move right 2"):
        b.apply_text(op)
    assert a.digest() == b.digest()
    b.apply_text("tempo 120")  # state beyond the cells counts too
    assert a.digest() != b.digest()


def test_a_feeling_recorded_before_feelings_had_to_be_dictionary_words_still_applies():
    canvases: dict = {}
    apply_event(canvases, {"agent": "ada", "kind": "new", "data": {"work": 1, "width": 4, "height": 2}})
    apply_event(canvases, {"agent": "ada", "kind": "feel", "data": {"op": "feel xqzvvb", "feel": "xqzvvb"}})
    assert canvases["ada"].feel == "xqzvvb" and canvases["ada"].ops == 1
    for bad in ({"op": "feel"}, {"feel": "Not A Word"}, {"feel": "x" * 25}, {"feel": 3}):
        with pytest.raises(ValueError):
            apply_event(canvases, {"agent": "ada", "kind": "feel", "data": bad})
    assert canvases["ada"].feel == "xqzvvb" and canvases["ada"].ops == 1
