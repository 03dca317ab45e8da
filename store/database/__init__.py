"""Where the data lives: the Store, both engines, the schema, the change feed, backups."""
