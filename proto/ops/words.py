"""The English words that `feel` takes: one fixed list, the same on every machine.

Source: the frequency dictionary that ships in the PyPI package `symspellpy` (pinned in pyproject.toml),
`symspellpy/frequency_dictionary_en_82_765.txt`: 82,765 entries, each a word and its count. Its author
(Wolf Garbe, SymSpell) made it by intersecting two lists: the words of SCOWL (Spell Checker Oriented Word
Lists, Kevin Atkinson; free to use, copy, modify and distribute) and the unigrams of the Google Books Ngram
corpus (CC BY 3.0), keeping those seen often enough in books. So every entry is a word a spelling dictionary
knows and that people actually write: no typos, no run-together strings, no 400,000-entry tail of
archaisms and chemical names. symspellpy itself is MIT-licensed, maintained (6.10.1 is its latest release),
has no required dependency, and is never imported here: we only read its data file.

Why not the others looked at:
* `english-words` (MIT; web2 and GCIDE): 230k+ entries with no frequency to cut by, full of obsolete and
  technical words (and GCIDE is GPL), which is the junk a model would wander into.
* `wordfreq` (code Apache-2.0, data CC BY-SA 4.0): frequency-ranked but not dictionary-checked (names,
  web tokens, fragments), a 57 MB wheel with five dependencies, last released in 2023.
* `pyspellchecker` (MIT): a frequency list from film subtitles whose data licence is unclear, padded with
  rare dictionary words at a floor count.
* NLTK's `words` corpus is not on PyPI: NLTK downloads its corpora from its own server at run time.

What is kept: the 50,000 most frequent entries (`SIZE`; by the file's count, ties by spelling) among those
that are 1 to 24 lowercase letters a-z (`MAX_LEN`, the table's `feel` limit; the 65 entries with an
apostrophe, `don't`, and the one longer than 24 letters are not). Every kept word was seen at least 129,535
times in the books. Why not all 82,768 letter-only entries: the grammar carries every word (see
proto.ops.grammar), and llguidance's compiled grammar grows with it: about 1 KB per word while it compiles,
most of it freed but kept by the C allocator, so an agent process held 101 MB more with the whole list
(61 MB with 50,000), which broke `aurora bench agent`'s memory target; the tail past 50,000 is mostly
technical and rare words (`permittivity`, `allopatric`, `echidna`). The cut keeps 99.7% of the words of the
NRC emotion lexicon that the whole list has (98.7% of that lexicon; services/report/emotions.py),
feeling words such as `wistful`, `melancholic`, `pensive` and `forlorn` among them (ranks 42,046, 44,757,
40,632 and 39,260). The list includes some proper names and
abbreviations that SCOWL has, lowercased (`nevada`, `pm`): they are words of the language, and the report
tells emotion words from the rest anyway.

The same words on every machine: the data file's SHA-256 is checked against `SOURCE_SHA256` (the digest
pip records for it in symspellpy 6.10.1's RECORD) the first time the list is read, and a different file
(another version installed) raises a `WordListError` that says what to reinstall, rather than letting the
grammar and the parser quietly speak another language. `digest()` is a digest of the kept words.

The list is read once per process, on first use (about 0.1 s), not at import: the CLI imports the parser.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import re
from pathlib import Path

PACKAGE = "symspellpy"
PACKAGE_VERSION = "6.10.1"
DATA_FILE = "frequency_dictionary_en_82_765.txt"
# urlsafe base64 of the file's SHA-256, without padding, as in the wheel's RECORD.
SOURCE_SHA256 = "aOncgcfnO9cxC1flFuyuoNi2OH_3E0SlfAQXRlCkB6c"
MAX_LEN = 24
SIZE = 50_000  # the most frequent letter-only entries kept
WORDS_DIGEST = "546d390528b3"  # digest() of the kept words (tests/proto/test_grammar.py checks it)

_WORD = re.compile(r"[a-z]{1,%d}" % MAX_LEN)


class WordListError(RuntimeError):
    """The word list's package is missing or is not the pinned version."""


def _data_path() -> Path:
    # find_spec locates the package without importing it (symspellpy's own import is not needed).
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WordListError(f"the package {PACKAGE} is not installed: pip install {PACKAGE}=={PACKAGE_VERSION}")
    return Path(next(iter(spec.submodule_search_locations))) / DATA_FILE


@functools.cache
def _load() -> tuple[str, ...]:
    path = _data_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WordListError(f"cannot read {path}: {exc}; pip install --force-reinstall "
                            f"{PACKAGE}=={PACKAGE_VERSION}") from None
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if digest != SOURCE_SHA256:
        raise WordListError(f"{path} is not the word list of {PACKAGE} {PACKAGE_VERSION} (sha256 {digest}); "
                            f"pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}")
    counts: dict[str, int] = {}
    for line in data.decode("utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and _WORD.fullmatch(parts[0]) and parts[1].isdigit():
            counts[parts[0]] = max(counts.get(parts[0], 0), int(parts[1]))
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    assert len(ranked) == 82_768 and len(ranked) > SIZE, len(ranked)
    return tuple(sorted(ranked[:SIZE]))


def words() -> tuple[str, ...]:
    """Every word `feel` takes, sorted."""
    return _load()


@functools.cache
def word_set() -> frozenset[str]:
    return frozenset(_load())


def is_word(word: str) -> bool:
    """`word` (exactly as given: lowercase a-z) is in the list."""
    return word in word_set()


@functools.cache
def digest() -> str:
    """A short digest of the kept words, for caches keyed on the language."""
    return hashlib.sha256("\n".join(_load()).encode()).hexdigest()[:12]
