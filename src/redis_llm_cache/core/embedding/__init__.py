"""The embedder protocol, the vector check, and the embedding store."""
