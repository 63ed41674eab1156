// The /docs page: Swagger UI over this service's OpenAPI schema, from the
// packaged assets in static/swagger-ui/ (a script file, never inline, so the
// page passes the service's Content-Security-Policy).
"use strict";

const root = document.getElementById("swagger-ui");
window.SwaggerUIBundle({
  url: root.dataset.openapi,
  domNode: root,
  deepLinking: true,
});
