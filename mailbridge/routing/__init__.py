"""Who must hear about an event: the routing tree over plain data (pure)."""
