"""OpenAPI documentation: ``/openapi.json`` and the ``/docs`` page.

quart-schema builds the schema from the ``validate_*`` and
``document_response`` decorators on each route, so the docs cannot drift
from what the code accepts and returns. The ``/docs`` page is Swagger UI
from ``static/swagger-ui/`` (quart-schema's own page loads it from a CDN,
which fails offline and under the service's Content-Security-Policy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import quart_schema
from quart import Blueprint, render_template
from quart_schema import Info, QuartSchema, hide

if TYPE_CHECKING:
    from quart import Quart
    from quart_schema import DataSource
    from quart_schema.typing import Model

bp = Blueprint("docs", __name__)


@bp.get("/docs")
@hide
async def swagger_ui() -> str:
    """Swagger UI for ``/openapi.json``."""
    return await render_template("docs.html")


class OpenAPIProvider(quart_schema.OpenAPIProvider):
    """Documents every validated request body as required, which it is."""

    def build_request_body(
        self, model: type[Model], source: DataSource
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Build the request body object, marked ``required``."""
        body, components = super().build_request_body(model, source)
        body["required"] = True
        return body, components


def init_app(app: Quart) -> None:
    """Serve the schema at ``/openapi.json`` and Swagger UI at ``/docs``."""
    info = Info(
        title=app.config["SERVICE_NAME"],
        version=app.config["SERVICE_VERSION"],
        description=app.config["SERVICE_DESCRIPTION"],
    )
    QuartSchema(
        app,
        info=info,
        openapi_path="/openapi.json",
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=OpenAPIProvider,
    )
    app.register_blueprint(bp)
