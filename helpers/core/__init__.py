"""Leaf utilities every stage uses: paths, profiles (named plan overrides), offline mode, tables, versions."""
