"""Storage: SQLModel tables, the database engine, the batched event writer, migrations."""
