"""The user-space process cache and the messages that feed it."""
