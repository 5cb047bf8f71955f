"""Built-in security checks: one module per area; every module here is loaded by the registry."""
