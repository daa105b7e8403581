"""Running the service: `compliance serve`."""

from __future__ import annotations

import gc
import json
import os

import uvicorn
from fastapi import FastAPI

from compliance.service.app import Settings, create_app

SETTINGS_ENV = "COMPLIANCE_SERVICE_SETTINGS"  # how worker processes receive the settings


def run(
    host: str, port: int, db: str | None, max_body: int, rate: float, log_level: str = "warning", workers: int = 1
) -> None:
    settings = Settings(db=db, max_body=max_body, rate=rate)
    if workers > 1:
        # Several processes: each keeps its own hook sessions and rate buckets; the database
        # stays the one truth (row locks / BEGIN IMMEDIATE serialise writers across processes).
        os.environ[SETTINGS_ENV] = json.dumps(settings.__dict__)
        uvicorn.run("compliance.service.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=False)  # fmt: skip
        return
    uvicorn.run(_frozen(create_app(settings)), host=host, port=port, log_level=log_level, access_log=False)


def app_from_env() -> FastAPI:
    return _frozen(create_app(Settings(**json.loads(os.environ[SETTINGS_ENV]))))


def _frozen(app: FastAPI) -> FastAPI:
    # The rule book, the compiled rulesets and the app are loaded for good: move them out of
    # the collector's sight, so a full collection under load does not walk them every time.
    gc.collect()
    gc.freeze()
    return app
