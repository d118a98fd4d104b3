"""The HTTP layer: the blueprint of HTTP functions (parse → service → render), responses in the API's
shape, and the checks of query parameters."""
