"""One module per built-in model; each registers itself with @register_model."""
