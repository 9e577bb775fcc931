"""How much of a generated text repeats the prompt it was generated from: the longest run of words they share.

A model that copies its prompt (the manual's lines as a statement, the question as a title) is not saying
anything of its own; the studio measures it rather than hiding or filtering it. Each text an agent
publishes or keeps (titles, statements, `remember` notes, dreams) is reported beside its longest shared run
(an `echo` message, PROTOCOL.md section 4), and `aurora report` counts those of five words or more.

Words are runs of letters, digits and apostrophes with at least one letter, compared in lowercase:
punctuation and quotes do not break a copy, and numbers alone are not words, so that the canvas's row and
column numbers (`4`, `5`, `6` down its side) are not a run that a text of numbers could share by chance.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_WORD = re.compile(r"[a-z0-9']*[a-z][a-z0-9']*")


class Echo(NamedTuple):
    words: int  # the length of the longest run, in words (0: no word in common)
    run: str  # that run, as the prompt has it (lowercase, single spaces)


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def longest_shared_run(text: str, prompt: str) -> Echo:
    """The longest run of consecutive words of `text` that also occurs, consecutively, in `prompt`.

    Dynamic programming over the two word lists, keeping one row: a text is at most a few dozen words and
    a prompt a few hundred, so this costs well under a millisecond beside a generation of seconds."""
    a, b = words_of(text), words_of(prompt)
    best, end = 0, 0
    previous = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        current = [0] * (len(b) + 1)
        word = a[i - 1]
        for j in range(1, len(b) + 1):
            if word == b[j - 1]:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, end = current[j], i
        previous = current
    return Echo(best, " ".join(a[end - best:end]))
