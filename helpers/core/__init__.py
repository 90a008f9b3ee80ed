"""Leaf utilities every stage uses: paths, profiles (the one source of defaults), offline mode, tables, versions."""
