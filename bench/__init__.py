"""usersync's benchmark: a generated directory in a real slapd, ldapsearch as the baseline, and
usersync's full and incremental syncs into SQLite and PostgreSQL. ``python -m bench --help``."""
