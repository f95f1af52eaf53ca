"""The run record: its model (frozen dataclasses, versioned JSON), the run folder store, host metadata."""
