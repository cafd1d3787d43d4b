"""Interactive API docs served entirely from the installed swagger-ui-bundle: no CDN."""

from flask import Blueprint, Response, abort, send_from_directory
from swagger_ui_bundle import swagger_ui_path

blp = Blueprint("docs", __name__, url_prefix="/api/v1/docs")

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>CarePact API</title>
  <link rel="stylesheet" href="/api/v1/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/v1/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/api/v1/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="/api/v1/docs/init.js"></script>
</body>
</html>
"""

_INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    validatorUrl: null
  });
};
"""

_ASSETS = {
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
}


@blp.get("")
@blp.get("/")
def page():
    return Response(_PAGE, mimetype="text/html")


@blp.get("/init.js")
def init_script():
    return Response(_INIT, mimetype="text/javascript")


@blp.get("/assets/<name>")
def asset(name: str):
    if name not in _ASSETS:
        abort(404)
    return send_from_directory(str(swagger_ui_path), name, max_age=86400)
