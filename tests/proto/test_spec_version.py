import re
import string
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import proto
from proto.version import PROTOCOL_VERSION, compatible

SPEC = Path(proto.__file__).with_name("PROTOCOL.md")


def test_document_version_equals_code_version():
    found = re.findall(r"^Protocol version: (\S+)\s*$", SPEC.read_text(), flags=re.M)
    assert found == [PROTOCOL_VERSION]


@pytest.mark.parametrize("version", [PROTOCOL_VERSION, "1.0", "1.1", "1.99", "01.3"])
def test_same_major_is_compatible(version):
    assert compatible(version)


@pytest.mark.parametrize("version", ["0.9", "2.0", "10.0", "11.0"])
def test_other_major_is_refused(version):
    assert not compatible(version)


@pytest.mark.parametrize("version", ["", "1", "1.", ".0", "x.y", "1.x", "v1.0", " 1.0", "1.0 ", "1.0.0", "-1.0", "1,0"])
def test_garbage_is_refused(version):
    assert not compatible(version)


@given(st.text(string.printable))
def test_compatible_is_exactly_major_one(version):
    assert compatible(version) == bool(re.fullmatch(r"0*1\.[0-9]+", version))


@pytest.mark.parametrize("version", ["\u0661.\u0660", "\uff11.\uff10"])  # Arabic-Indic and full-width "1.0"
def test_non_ascii_digits_are_refused(version):
    assert not compatible(version)
