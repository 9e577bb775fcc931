"""/report: a real `aurora gateway` serves the latest `aurora report` from the studio's data folder, and nothing
else from it."""

from __future__ import annotations

import shutil

import pytest

from services import cli
from tests.audio_gateway.support import gateway_process
from tests.report.logs import play
from tests.support.processes import free_addresses
from tests.support.record_writer import RecordWriter

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """One gateway for the module, and its data folder. No canvas is needed: the report is read from the data
    folder, not from the studio."""
    data = tmp_path_factory.mktemp("data")
    with gateway_process(free_addresses(), synced=False, env={"AURORA_DATA": str(data)}) as gw:
        yield gw, data


@pytest.fixture
def gateway(studio):
    return studio[0]


@pytest.fixture
def data(studio):
    """The gateway's data folder, with no report in it."""
    folder = studio[1]
    shutil.rmtree(folder / "report", ignore_errors=True)
    for stray in folder.iterdir():
        stray.unlink()
    return folder


def test_before_any_report_the_page_says_how_to_write_one(gateway, data):
    response = gateway.get("/report/")
    assert response.status_code == 404 and "aurora report" in response.text
    assert gateway.get("/report/report.json").status_code == 404


def test_the_latest_report_is_served_with_its_pictures_and_a_strict_policy(gateway, data, record_db, record_url,
                                                                           monkeypatch):
    play(RecordWriter(record_db), decisions=30)
    monkeypatch.setenv("REDIS_URL", record_url)
    monkeypatch.setenv("AURORA_DATA", str(data))
    assert cli.main(["report", "--permutations", "100"]) == 0  # to <data>/report, where the gateway looks

    redirect = gateway.get("/report")
    assert redirect.status_code in (307, 308) and redirect.headers["location"] == "/report/"
    page = gateway.get("/report/")
    assert page.status_code == 200 and "Aurora study report" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "script" not in page.headers["content-security-policy"]
    assert gateway.get("/report/report.json").json()["record"]["events"] > 0
    assert gateway.get("/report/report.md").text.startswith("# Aurora study report")
    picture = gateway.get("/report/plots/emotions.png")
    assert picture.status_code == 200 and picture.content.startswith(PNG)
    assert picture.headers["content-type"] == "image/png"


@pytest.mark.parametrize("path", ["/report/report.part", "/report/plots/..%2F..%2Fx.png",
                                  "/report/other/emotions.png", "/report/plots/.hidden.png", "/report/works/none.png"])
def test_nothing_but_the_reports_files_is_served(gateway, data, path):
    (data / "report" / "plots").mkdir(parents=True)
    (data / "report" / "plots" / ".hidden.png").write_bytes(PNG)
    (data / "report" / "report.part").write_text("{}")
    (data / "x.png").write_bytes(PNG)
    assert gateway.get(path).status_code == 404
