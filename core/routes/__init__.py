"""Starlette routes, one module per endpoint group; handlers pick the groups their function serves."""
