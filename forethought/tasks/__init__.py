"""Task packs: datasets with their parsers, exact checkers, metrics and search tasks."""
