"""Entry points, and the only place where core and providers are wired together."""
