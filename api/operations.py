"""Each operation's handler, wrapped once for its route rather than on every request.

Connexion 3.3's FlaskOperation builds its decorator chain (parameters, response, and the URI parser with
its parameter table) anew for each call, inspecting the handler's signature each time. The chain depends
only on the operation, so it is built on an operation's first request and reused.
"""

from connexion.apps.flask import FlaskOperation
from connexion.decorators import FlaskDecorator
from connexion.frameworks.flask import Flask as FlaskFramework


class PreparedOperation:
    """A Flask view that runs a Connexion operation's handler through a decorator chain built once."""

    def __init__(self, operation: FlaskOperation):
        self.operation_id = operation.operation_id
        self._decorator = FlaskDecorator(pythonic_params=operation.pythonic_params, jsonifier=operation.jsonifier)
        self._handler = self._decorator.decorate(operation._fn)  # noqa: SLF001 - the handler Connexion resolved
        self._uri_parser = None

    def __call__(self, *args, **kwargs):
        if self._uri_parser is None:  # the operation routed here, known only within a request
            self._uri_parser = self._decorator.uri_parser
        return self._handler(FlaskFramework.get_request(uri_parser=self._uri_parser))


class PreparedViews(dict):
    """Flask's table of views, where each Connexion operation is kept as its PreparedOperation.

    Connexion registers its operations when it builds its middleware stack (on the first request or at
    start-up), after create_app: the table wraps them as they arrive.
    """

    def __setitem__(self, endpoint, view) -> None:
        super().__setitem__(endpoint, PreparedOperation(view) if isinstance(view, FlaskOperation) else view)


def prepare_operations(flask_app) -> None:
    """Have every Connexion operation the Flask app gets run as a PreparedOperation."""
    flask_app.view_functions = PreparedViews(flask_app.view_functions)
