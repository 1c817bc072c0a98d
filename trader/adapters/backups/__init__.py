"""Database backups: SQLite through the online backup API, PostgreSQL through pg_dump.

Every backup is one archive plus a JSON manifest beside it (sha256 of the archive, the schema
revision, and a row count and content checksum per table, taken from the same snapshot as the
archive), so a restore can be verified row for row.
"""
