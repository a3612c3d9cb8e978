"""The config: the one loader (schema, short forms, combinations refused) and its validation messages."""
