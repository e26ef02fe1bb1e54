"""One module per dataset loader; each registers itself with @register_dataset."""
