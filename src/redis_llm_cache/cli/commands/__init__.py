"""The commands that read or write a cache: one module per concern."""
