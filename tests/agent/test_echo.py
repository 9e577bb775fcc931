"""The echo measure: the longest run of words a text shares with its prompt."""

from services.agent.echo import longest_shared_run, words_of


def test_the_longest_shared_run_is_found_in_lowercase_across_punctuation():
    prompt = 'Write one op per line. Ops:\n  title "<text>": give the current work a title.'
    echo = longest_shared_run("Give the CURRENT work, a title!", prompt)
    assert echo == (6, "give the current work a title")
    assert longest_shared_run("nothing here matches", prompt) == (0, "")


def test_numbers_alone_are_not_words_so_a_canvas_frame_is_no_run_to_share():
    canvas = "   0123456789\n 4 ..........\n 5 ..........\n 6 ..........\n 7 ..........\n 8 .........."
    assert words_of(canvas) == []
    assert longest_shared_run("the a 4 5 6 7 8 line", canvas).words == 0
    assert words_of("it's C#4, work 12 b7") == ["it's", "c", "work", "b7"]
