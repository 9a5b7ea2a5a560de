"""OpenAPI: describe a capability's REST exposures (``export``) and start a capability from an API
(``import_``)."""

from naftiko_runtime.openapi.export import export_openapi, export_openapi_many
from naftiko_runtime.openapi.import_ import import_openapi

__all__ = ["export_openapi", "export_openapi_many", "import_openapi"]
