"""The one gateway to the database: engine, models and the named queries of each table family."""
