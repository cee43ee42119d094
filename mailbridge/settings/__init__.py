"""The typed settings: TOML plus the environment overrides of the public contract."""
