"""Redis-facing parts: clients, error mapping and the embedded server launcher."""
