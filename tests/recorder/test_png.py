import pytest

from proto.ops.table import COLOURS
from services.recorder.png import BLANK_RGB, canvas_png
from tests.recorder.pngread import chunks, read_png


def hex_rgb(name):
    h = COLOURS[name].rgb
    return tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))


def test_each_cell_is_a_square_of_its_colour():
    cells = ["r.k", "wbn"]
    width, height, pixels = read_png(canvas_png(cells, scale=4))
    assert (width, height) == (12, 8)
    expected = {"r": hex_rgb("red"), ".": BLANK_RGB, "k": hex_rgb("black"), "w": hex_rgb("white"),
                "b": hex_rgb("blue"), "n": hex_rgb("navy")}
    for y in range(height):
        for x in range(width):
            assert pixels[y][x] == expected[cells[y // 4][x // 4]], (x, y)
    assert hex_rgb("red") == (0xE0, 0x31, 0x2B) and BLANK_RGB != hex_rgb("white")


def test_every_colour_of_the_table_and_the_default_scale():
    names = list(COLOURS)
    cells = ["".join(COLOURS[n].code for n in names)]
    width, height, pixels = read_png(canvas_png(cells))
    assert (width, height) == (8 * len(names), 8)
    assert [pixels[7][8 * i + 7] for i in range(len(names))] == [hex_rgb(n) for n in names]


def test_the_chunks_are_ihdr_idat_iend_with_good_crcs():
    data = canvas_png(["." * 128] * 64)
    assert [kind for kind, _ in chunks(data)] == [b"IHDR", b"IDAT", b"IEND"]
    assert len(data) < 10_000  # a blank 1024x512 image compresses to little


@pytest.mark.parametrize("cells", [[], [""], ["rr", "r"], ["rZ"]])
def test_what_is_no_canvas_is_refused(cells):
    with pytest.raises(ValueError):
        canvas_png(cells)
