"""The capacity sweep: its spec, the level loop, the stability rules and searches, progress."""
