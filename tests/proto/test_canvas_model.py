import pytest
from hypothesis import given, strategies as st

from proto.canvas import CanvasModel
from proto.ops.parser import Op
from proto.ops.table import AGENT_LOCAL_OPS, BLANK, BRUSHES, COLOURS, DIRECTIONS
from tests.proto.strategies import op_lists

W, H = 9, 7


def canvas(x=None, y=None, width=W, height=H, **tools):
    model = CanvasModel(width, height)
    if x is not None:
        model.cursor = (x, y)
    for name, value in tools.items():
        model.apply(Op(name, (value,)))
    return model


def painted(model):
    return {(x, y) for y, row in enumerate(model.rows()) for x, c in enumerate(row) if c != BLANK}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("start", [(0, 0), (W - 1, H - 1), (4, 3), (1, 5)])
def test_walls_stop_the_cursor(direction, start):
    dx, dy = DIRECTIONS[direction]
    reach = [(W - 1 - start[0]) if dx > 0 else start[0] if dx < 0 else 99,
             (H - 1 - start[1]) if dy > 0 else start[1] if dy < 0 else 99]
    n = min(reach)
    model = canvas(*start)
    [(kind, data)] = model.apply(Op("move", (direction, 32)))
    expected = [start[0] + n * dx, start[1] + n * dy]
    assert kind == "move" and data["cursor"] == expected and list(model.cursor) == expected
    model.apply(Op("move", (direction, 32)))
    assert list(model.cursor) == expected  # against the wall it stays; it never wraps
    assert painted(model) == set()


@pytest.mark.parametrize("brush", BRUSHES)
@pytest.mark.parametrize("at", [(0, 0), (W - 1, 0), (4, 3), (W - 1, H - 1), (1, H - 1)])
def test_pen_down_paints_the_brush_clipped_at_walls(brush, at):
    model = canvas(*at, color="red", brush=brush)
    [(kind, data)] = model.apply(Op("pen", ("down",)))
    inside = {(at[0] + dx, at[1] + dy) for dx, dy in BRUSHES[brush]}
    inside = {(x, y) for x, y in inside if 0 <= x < W and 0 <= y < H}
    assert kind == "stroke" and {tuple(c) for c in data["cells"]} == inside == painted(model)
    assert {model.rows()[y][x] for x, y in inside} == {COLOURS["red"].code}


def test_move_with_pen_down_paints_each_step():
    model = canvas(2, 2, color="blue", pen="down")
    [(kind, data)] = model.apply(Op("move", ("right", 3)))
    assert kind == "stroke" and data["cells"] == [[3, 2], [4, 2], [5, 2]] and data["cursor"] == [5, 2]
    assert model.rows()[2] == "..bbbb..."
    model.apply(Op("pen", ("up",)))
    model.apply(Op("move", ("down-right", 2)))
    assert painted(model) == {(x, 2) for x in range(2, 6)}


@pytest.mark.parametrize("colour", COLOURS)
def test_cells_hold_colour_codes(colour):
    model = canvas(0, 0, color=colour, pen="down")
    assert model.rows()[0][0] == COLOURS[colour].code and model.to_dict()["cells"][0][0] == COLOURS[colour].code


def test_done_ends_the_work_and_keeps_the_tools():
    model = canvas(1, 1, color="teal", brush="cross", pen="down")
    for op in (Op("tempo", (150,)), Op("title", ("Tide",)), Op("move", ("right", 2))):
        model.apply(op)
    before = list(model.rows())
    events = model.apply(Op("done"))
    assert [kind for kind, _ in events] == ["done", "new"]
    assert events[0][1] == {"op": "done", "work": 1, "title": "Tide", "cells": before}
    assert events[1][1] == {"work": 2, "width": W, "height": H}
    state = model.state()
    assert painted(model) == set() and state["cursor"] == [W // 2, H // 2]
    assert (state["pen"], state["title"], state["work"]) == ("up", None, 2)
    assert (state["color"], state["brush"], state["tempo"]) == ("teal", "cross", 150)


@given(op_lists, st.integers(1, 20), st.integers(1, 12))
def test_to_dict_from_dict_round_trip(op_list, width, height):
    model = CanvasModel(width, height)
    for op in op_list:
        model.apply(op)
    copy = CanvasModel.from_dict(model.to_dict())
    assert copy.to_dict() == model.to_dict() and copy.view() == model.view()
    for op in op_list[:5]:  # and the copy goes on exactly like the original
        assert copy.apply(op) == model.apply(op)
    assert copy.to_dict() == model.to_dict()


@given(op_lists, st.integers(1, 20), st.integers(1, 12))
def test_replaying_event_ops_rebuilds_the_canvas(op_list, width, height):
    model, replica = CanvasModel(width, height), CanvasModel(width, height)
    for op in op_list:
        events = model.apply(op)
        if op.name in AGENT_LOCAL_OPS:  # kept by the agent: no event, nothing to replay
            assert events == []
            continue
        with_op = [data["op"] for _, data in events if "op" in data]
        assert with_op == [op.text]
        replica.apply_text(with_op[0])
    assert replica.to_dict() == model.to_dict()


def test_apply_text_refuses_what_is_no_op():
    with pytest.raises(ValueError):
        CanvasModel().apply_text("move sideways")


@given(op_lists, st.integers(1, 40), st.integers(1, 20))
def test_view(op_list, width, height):
    model = CanvasModel(width, height)
    for op in op_list:
        model.apply(op)
    lines = model.view().splitlines()
    assert len(lines) == height + 1
    assert lines[0] == "   " + "".join(str(x % 10) for x in range(width))
    x, y = model.cursor
    for row, line in enumerate(lines[1:]):
        assert len(line) == 3 + width and int(line[:2]) == row
        cells = line[3:]
        assert cells == (model.rows()[row][:x] + "@" + model.rows()[row][x + 1:] if row == y else model.rows()[row])
    assert model.view(coords=False, cursor=False).splitlines() == model.rows()


def test_notes_carry_colour_brush_position_and_midi():
    model = canvas(3, 4, color="pink", brush="circle", tempo=120)
    [(kind, data)] = model.apply(Op("note", ("Bb3", "eighth", 70)))
    assert kind == "note" and data == {
        "op": "note Bb3 eighth 70", "pitch": "Bb3", "midi": 58, "duration": "eighth", "beats": 0.5,
        "velocity": 70, "tempo": 120, "color": "pink", "brush": "circle", "x": 3, "y": 4,
    }


@pytest.mark.parametrize("damage", [
    lambda d: d.update(cells=d["cells"][:-1]),
    lambda d: d["cells"].__setitem__(0, "Z" * d["width"]),
    lambda d: d["state"].update(cursor=[99, 0]),
    lambda d: d["state"].update(color="ultraviolet"),
])
def test_from_dict_refuses_a_canvas_that_cannot_be(damage):
    data = CanvasModel().to_dict()
    damage(data)
    with pytest.raises(ValueError):
        CanvasModel.from_dict(data)
