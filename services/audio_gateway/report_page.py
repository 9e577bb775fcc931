"""/report: the latest study written by `aurora report` (services/report), as it lies in its folder.

The gateway reads the folder and never writes it: `aurora report` (by hand, or on a schedule) makes a new
report, and the next request sees it. Only the report's own files are served: report.html, .md and .json,
and the PNGs under plots/ and works/.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

router = APIRouter()

# The report shows the models' own titles and statements: it runs no script and loads nothing from elsewhere.
REPORT_POLICY = {"content-security-policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                 "x-content-type-options": "nosniff"}
FILES = {"report.html": "text/html; charset=utf-8", "report.md": "text/markdown; charset=utf-8",
         "report.json": "application/json"}
FOLDERS = ("plots", "works")
# What the OpenAPI document says each route may answer (a client may rely on the 404s, and on each file's type).
NOT_FOUND = {404: {"description": "no report yet, or no such file in it"}}

NO_REPORT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>No report yet</title></head>
<body><h1>No report yet</h1><p>Write one with <code>aurora report</code> (it reads the record; the studio may keep
running), then reload this page.</p></body></html>"""


def _folder(request: Request) -> Path:
    return request.app.state.gateway.settings.report_dir


@router.get("/report", include_in_schema=False)
async def report_redirect() -> RedirectResponse:
    return RedirectResponse("/report/")  # the report's pictures are named relative to its folder


@router.get("/report/", summary="The latest study report (HTML)", response_class=HTMLResponse,
            responses={404: {"description": "no report yet", "content": {"text/html": {}}}})
async def report(request: Request):
    path = _folder(request) / "report.html"
    if not path.is_file():
        return HTMLResponse(NO_REPORT, status_code=404, headers=REPORT_POLICY)
    return FileResponse(path, media_type=FILES["report.html"], headers=REPORT_POLICY)


@router.get("/report/{name}", summary="The latest report as Markdown or JSON", response_class=FileResponse,
            responses={200: {"content": {"text/markdown": {}, "application/json": {}}}, **NOT_FOUND})
async def report_file(request: Request, name: str):
    if name not in FILES:
        raise HTTPException(404, "no such file in the report")
    path = _folder(request) / name
    if not path.is_file():
        raise HTTPException(404, "no report yet: write one with `aurora report`")
    return FileResponse(path, media_type=FILES[name], headers=REPORT_POLICY)


@router.get("/report/{folder}/{name}", summary="A plot or a work's picture of the latest report",
            response_class=FileResponse, responses={200: {"content": {"image/png": {}}}, **NOT_FOUND})
async def report_picture(request: Request, folder: str, name: str):
    # Starlette has decoded the path: a name with a separator or a leading dot never names a report file.
    if folder not in FOLDERS or not name.endswith(".png") or "/" in name or "\\" in name or name.startswith("."):
        raise HTTPException(404, "no such file in the report")
    path = _folder(request) / folder / name
    if not path.is_file():
        raise HTTPException(404, "no such file in the report")
    return FileResponse(path, media_type="image/png", headers=REPORT_POLICY)
