"""One module per unlearning method; each registers itself with @register_method."""
