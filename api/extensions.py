"""The shared extension objects, created once and imported everywhere."""

from http import HTTPStatus

import flask_smorest
from apispec.ext.marshmallow import MarshmallowPlugin
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest.pagination import Page
from flask_smorest.utils import prepare_response
from webargs.flaskparser import FlaskParser

from api.errors import PROBLEM_JSON, ValidationFailed, register_error_handlers
from api.json_body import StrictArgumentsParser
from api.schemas.problem import ProblemSchema


class Api(flask_smorest.Api):
    """flask-smorest's Api, with problem+json errors for everything."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        register_error_handlers(self._app)

    def _register_responses(self):
        """Document every error response as application/problem+json, as it is sent."""
        for status in HTTPStatus:
            response = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                content_type = PROBLEM_JSON
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


class QueryPage(Page):
    """Pages over a mongoengine QuerySet (counted by the server) or a plain list."""

    @property
    def item_count(self):
        if isinstance(self.collection, list | tuple):
            return len(self.collection)
        return self.collection.count()


# Far past the end of any list; an unbounded page number overflows the database's 8-byte
# skip (a 500 the fuzzer found).
MAX_PAGE = 1_000_000


class PaginationParser(FlaskParser):
    def parse(self, *args, **kwargs):
        params = super().parse(*args, **kwargs)
        if params.page > MAX_PAGE:
            raise ValidationFailed({"page": [f"Must be at most {MAX_PAGE}."]})
        return params


class Blueprint(flask_smorest.Blueprint):
    """Every paginated list returns `X-Pagination` with total, page counts and links."""

    PAGINATION_HEADER_NAME = "X-Pagination"
    ARGUMENTS_PARSER = StrictArgumentsParser()
    PAGINATION_ARGUMENTS_PARSER = PaginationParser()

    def paginate(self, pager=QueryPage, **kwargs):
        return super().paginate(pager, **kwargs)

    def arguments(self, schema, *, location="json", **kwargs):
        """A JSON body can also be refused whole: too large (413) or not JSON (415).

        A schema class is instantiated here, once: webargs would build (and deep-copy the
        fields of) a new instance on every request."""
        if isinstance(schema, type):
            schema = schema()
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse

        def decorator(func):
            func = parse(func)
            func = self.alt_response(413, description="The body is over the size limit.")(func)
            return self.alt_response(415, description="The body is not application/json.")(func)

        return decorator

    def alt_response(self, status_code, response=None, **kwargs):
        """An error documented by its description alone still carries the problem body."""
        if response is None and int(status_code) >= 400 and "schema" not in kwargs:
            kwargs.update(schema=ProblemSchema, content_type=PROBLEM_JSON)
        return super().alt_response(status_code, response, **kwargs)


def schema_name(schema) -> str:
    """Component names for the OpenAPI document; a partial (PATCH) schema gets its own."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial:
        name += "Patch"
    return name


def spec_kwargs() -> dict:
    return {"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)}


api = Api()
jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
