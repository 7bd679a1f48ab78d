"""What the station keeps of its decisions: part records, the inspection database, shifts."""
