"""``/docs`` without a CDN: Swagger UI 5 (it renders OpenAPI 3.1) from the ``fastapi-offline`` wheel.

FastAPI's own ``/docs`` page loads its script and style sheet from jsDelivr, so it is blank on a
machine without internet access -- where services like ours often run. Here the same page
(``fastapi.openapi.docs.get_swagger_ui_html``) points at the assets of an installed package,
served by the service itself under ``/docs/assets``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"


def swagger_assets_dir() -> Path:
    """The folder of ``swagger-ui-bundle.js`` and ``swagger-ui.css`` inside the installed package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install_swagger_ui(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets from the service. The app must be made with ``docs_url=None``."""
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_assets_dir()), name="swagger-ui-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")  # behind a proxy that strips a prefix
        return get_swagger_ui_html(openapi_url=root + (app.openapi_url or "/openapi.json"),
                                   title=f"{app.title} - API",
                                   swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                                   oauth2_redirect_url=root + OAUTH2_REDIRECT_PATH)

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
