"""The web page at `/` (plain HTML + JS in `app/web/`, no build step) and the shipped samples it starts from.

`GET /` the page; `/web/...` its script and style; `GET /v1/samples` the samples per model (URLs under
`/samples/...`, files of `V2V_SAMPLES_DIR`, default the repository's `samples/`). None of these needs a key: they
hold nothing of any caller's; the page sends the key the user pasted (kept in the browser's localStorage) with its
API calls.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from app.samples import FILE_FIELDS, load_samples

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
router = APIRouter(tags=["web"])


class SampleList(BaseModel):
    samples: dict[str, dict[str, str | list[str]]] = Field(
        description="Per served model: `video`, and `references` + `reference_labels` where it takes them (URLs), "
        "plus a `description`.")


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/v1/samples", summary="The shipped sample inputs, per served model", response_model=SampleList)
def samples(request: Request) -> SampleList:
    """One short sample input per served model (what `v2v submit --model NAME --sample` uploads), as URLs."""
    folder: Path = request.app.state.settings.SAMPLES_DIR
    served = request.app.state.manifest.models
    out: dict[str, dict[str, str | list[str]]] = {}
    for model, entry in load_samples(folder).items():
        if model not in served:
            continue
        item: dict[str, str | list[str]] = {"description": str(entry.get("description", ""))}
        for field in FILE_FIELDS:
            value = entry.get(field)
            if isinstance(value, str):
                item[field] = f"/samples/{value}"
            elif isinstance(value, list):
                item[field] = [f"/samples/{v}" for v in value]
        out[model] = item
    return SampleList(samples=out)


def install_web(app: FastAPI, samples_dir: Path) -> None:
    app.include_router(router)
    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")
    app.mount("/samples", StaticFiles(directory=samples_dir, check_dir=False), name="samples")
