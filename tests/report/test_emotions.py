"""The emotion lexicon of the report (services/report/emotions.py): the bundled NRC lexicon, its override by a
path or an environment variable, and the dictionary check that `feel` words share with the grammar."""

from __future__ import annotations

import json

import pytest

from proto.ops import words
from services.report import emotions
from services.report.emotions import ENV, LexiconError, categories, is_dictionary_word, is_emotion, lexicon_info


@pytest.fixture(autouse=True)
def bundled(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def test_the_bundled_lexicon_says_what_it_is_and_what_its_licence_limits():
    info = lexicon_info()
    assert info["name"].startswith("NRC Word-Emotion Association Lexicon")
    assert "nrclex 4.1.0" in info["source"] and info["file"] == "nrc_en.json"
    assert "research" in info["licence"] and "commercial" in info["licence"]
    assert ENV in info["notes"] and "Mohammad" in info["notes"]
    assert info["categories"] == sorted(emotions.NRC_CATEGORIES)
    assert info["words"] == 6468 and len(info["sha256"]) == 64


@pytest.mark.parametrize("word, expected", [
    ("afraid", ["fear", "negative"]),
    ("angry", ["anger", "disgust", "negative"]),
    ("Lonely", ["anger", "disgust", "fear", "negative", "sadness"]),  # any case
    (" joy ", ["joy", "positive"]),
    ("calm", ["positive"]),  # a sentiment alone makes an emotion word
])
def test_categories(word, expected):
    assert categories(word) == expected and is_emotion(word)


@pytest.mark.parametrize("word", ["table", "yourmyselfbecomingmoret", "", "café", "wistful"])
def test_not_emotion_words(word):
    assert categories(word) == [] and not is_emotion(word)


def test_every_category_is_one_of_the_lexicon_and_the_list_is_sorted():
    lexicon, _ = emotions._lexicon(None)
    for word, cats in lexicon.items():
        assert cats and list(cats) == sorted(set(cats)) and set(cats) <= set(emotions.NRC_CATEGORIES), word


def test_most_lexicon_words_are_words_feel_takes():
    lexicon, _ = emotions._lexicon(None)
    known = sum(is_dictionary_word(w) for w in lexicon)
    assert known / len(lexicon) > 0.95


@pytest.mark.parametrize("word, expected", [
    ("wistful", True), ("Calm", True), ("  tender ", True), ("yourmyselfbecomingmoret", False),
    ("iremirimimimimimimimimim", False), ("café", False), ("calm2", False), ("", False), ("two words", False),
])
def test_is_dictionary_word(word, expected):
    assert is_dictionary_word(word) is expected
    assert is_dictionary_word(word) == words.is_word(word.strip().lower())


def test_a_json_lexicon_by_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"Glad": ["Joy", "positive"], "grey": ["sadness"], "nothing": []}))
    monkeypatch.setenv(ENV, str(path))
    assert categories("glad") == ["joy", "positive"] and categories("GREY") == ["sadness"]
    assert not is_emotion("nothing") and not is_emotion("afraid")  # the bundled lexicon is not consulted
    info = lexicon_info()
    assert info["file"] == path.name and info["words"] == 2 and info["categories"] == [
        "joy", "positive", "sadness"]
    assert ENV in info["source"] and "owner" in info["licence"]


def test_an_nrc_word_level_file_by_path(tmp_path):
    path = tmp_path / "NRC-Emotion-Lexicon-Wordlevel.txt"
    path.write_text("abandon\tanger\t0\nabandon\tfear\t1\nabandon\tnegative\t1\nzest\tjoy\t1\nzero\tjoy\t0\n\n")
    assert categories("abandon", path) == ["fear", "negative"] and categories("zest", path) == ["joy"]
    assert not is_emotion("zero", path) and lexicon_info(path)["words"] == 2
    assert categories("abandon") != categories("abandon", path)  # the default is still the bundled one


@pytest.mark.parametrize("content", ["word only\n", "a\tb\tmaybe\n", "{not json", "{}", '{"a": "joy"}'])
def test_a_bad_lexicon_file_says_so(tmp_path, content):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(LexiconError, match="bad.txt"):
        categories("a", path)


def test_a_missing_lexicon_file_says_which(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "absent.json"))
    with pytest.raises(LexiconError, match=f"absent.json.*{ENV}"):
        lexicon_info()
