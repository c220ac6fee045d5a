"""Vector indexes, one per strategy (``search``, ``vectorset``, ``client``), their
factory, and the check for foreign search indexes over our keys."""
