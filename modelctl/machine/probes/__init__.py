"""Stand-alone scripts run in the *target* Python (stdlib only; modelctl need not be there)."""
