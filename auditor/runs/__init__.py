"""Run records: one normalized record whatever the source format; readers only translate."""
