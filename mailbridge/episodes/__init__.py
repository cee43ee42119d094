"""Episodes: the pure state machine and the glue that applies a reading to the store."""
